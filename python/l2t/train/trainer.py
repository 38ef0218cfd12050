"""A compact trainer for L2T pre-training: one loop, exact resume, JSONL metrics.

The loop reads packed batches from :class:`l2t.data.L2TLoader`, runs the Qwen2-compatible
:class:`~l2t.train.model.CausalLM` under bf16 autocast (on GPUs) with fp32 master weights, and
steps AdamW on a warmup + cosine schedule with gradient clipping and accumulation. The loss is
token-weighted across accumulation steps: the summed loss of all micro-batches divided by their
number of targets, so every target counts the same whatever batch it falls in.

Checkpoints hold the model, optimizer, schedule, every RNG and the data loader's position, and
are written to a temporary directory and renamed, so a run killed at any moment resumes from its
last whole checkpoint and continues with exactly the loss curve of an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2t import _l2t
from l2t.data import L2TLoader, L2TStream
from l2t.tokenizer import Tokenizer, tokenizer_json
from l2t.train.model import CausalLM, ModelConfig
from l2t.train.plots import plot_metrics
from l2t.train.presets import preset

CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"


@dataclass
class TrainConfig:
    """Everything a run needs; saved as ``config.json`` in the run directory.

    Data: ``data`` (any l2t source), ``tokenizer``, ``profile``, ``seq_len``, ``raw_ratio``,
    ``data_options`` (more :class:`l2t.data.L2TStream` options), ``num_workers``.
    Model: ``model`` (a preset name) and ``model_overrides``.
    Optimisation: ``batch_size`` rows per micro-batch, ``grad_accum`` micro-batches per step,
    ``max_steps``, ``lr``, ``min_lr_ratio`` (the cosine's floor), ``warmup_steps``,
    ``weight_decay`` (not on norms and biases unless ``decay_all``, as the paper's HF Trainer),
    ``betas``, ``eps``, ``grad_clip``.
    Speed: ``bf16`` (autocast on CUDA), ``compile`` (``torch.compile`` the model),
    ``activation_checkpointing``.
    Bookkeeping: ``run_dir``, ``log_every``, ``checkpoint_every``, ``keep_checkpoints``,
    ``stop_after`` (stop at this step without finishing the schedule, as a pre-emption would).
    Evaluation: every ``val_every`` steps (0: never) the loss on the first ``val_batches``
    batches of ``val_data`` (held-out text, read as plain next-token text).
    ``peak_flops``: the accelerator's peak FLOP/s for MFU (default: known GPUs' bf16 dense peak).
    """

    run_dir: str
    data: Any
    tokenizer: str
    profile: str = "default"
    seed: int = 0
    seq_len: int = 2048
    raw_ratio: float = 0.0
    data_options: dict[str, Any] = field(default_factory=dict)
    num_workers: int = 0
    model: str = "tiny"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    isolate: bool | None = None
    batch_size: int = 8
    grad_accum: int = 1
    max_steps: int = 1000
    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    decay_all: bool = False
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float = 1.0
    bf16: bool = True
    compile: bool = False
    activation_checkpointing: bool = False
    device: str = "auto"
    log_every: int = 10
    val_data: Any = None
    val_every: int = 0
    val_batches: int = 20
    peak_flops: float | None = None
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    stop_after: int | None = None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
        """A config from a JSON (or YAML, with PyYAML installed) file, with overrides."""
        text = Path(path).read_text(encoding="utf-8")
        if str(path).endswith((".yaml", ".yml")):
            import yaml  # optional dependency

            values = yaml.safe_load(text)
        else:
            values = json.loads(text)
        return cls.from_dict({**values, **overrides})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from a mapping; unknown keys are refused, not ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise _l2t.ConfigError(f"unknown training options {unknown}; known: {sorted(known)}")
        if "betas" in values:
            values = {**values, "betas": tuple(values["betas"])}
        return cls(**values)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# Dense bf16 peak FLOP/s of the GPUs MFU is reported for without a ``peak_flops`` setting.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}


def _peak_flops(device: torch.device, configured: float | None) -> float | None:
    if configured is not None or device.type != "cuda":
        return configured
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token, for MFU.

    6 per weight of the matrices (forward and backward, the LM head included even when tied)
    plus the attention scores and values: 12 per layer, head width and context position, halved
    for the causal mask (PaLM's accounting).
    """
    matrices = cfg.num_parameters(embeddings=False) + cfg.vocab_size * cfg.hidden_size
    assert cfg.head_dim is not None
    attention = 12 * cfg.num_layers * cfg.num_heads * cfg.head_dim * seq_len / 2
    return 6 * matrices + attention


def _param_groups(model: CausalLM, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Weight decay on matrices only (not norms, biases), unless ``decay_all``."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        (decay if cfg.decay_all or p.dim() >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to 1, then cosine down to ``min_lr_ratio`` at ``max_steps``."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine


def _rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
            check=False,
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def _targets(batch: dict[str, Any]) -> int:
    """How many next-token targets a batch has (labels after the first position, not -100)."""
    return int((batch["labels"][:, 1:] != -100).sum())


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The newest whole checkpoint of a run (temporaries of a killed save are not whole)."""
    root = Path(run_dir) / CHECKPOINTS
    steps = sorted(p for p in root.glob("step-*") if (p / "state.pt").exists())
    return steps[-1] if steps else None


class Trainer:
    """One training run; :meth:`run` trains (or resumes) to ``max_steps``."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.run_dir = Path(cfg.run_dir)
        self.device = _device(cfg.device)
        self.tokenizer_json = tokenizer_json(cfg.tokenizer)
        vocab = Tokenizer(self.tokenizer_json).vocab_size
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.model_config: ModelConfig = preset(cfg.model, vocab, **cfg.model_overrides)
        self.model = CausalLM(self.model_config).to(self.device)
        self.model.gradient_checkpointing = cfg.activation_checkpointing
        self.forward = torch.compile(self.model) if cfg.compile else self.model
        fused = self.device.type == "cuda"
        self.optimizer = torch.optim.AdamW(
            _param_groups(self.model, cfg), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, fused=fused
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, cfg)
        )
        self.stream = self._stream(
            cfg.data, epochs=None, isolate=cfg.isolate, raw_ratio=cfg.raw_ratio, **cfg.data_options
        )
        self.loader = L2TLoader(self.stream, num_workers=cfg.num_workers)
        self.val_stream = None
        if cfg.val_data is not None and cfg.val_every:
            # Held-out text as plain next-token rows: what "general ability kept" is measured on.
            self.val_stream = self._stream(cfg.val_data, raw_ratio=1.0)
        self.flops_per_token = flops_per_token(self.model_config, cfg.seq_len)
        self.peak_flops = _peak_flops(self.device, cfg.peak_flops)
        self.step = 0
        self.tokens = 0

    def _stream(self, data: Any, **options: Any) -> L2TStream:
        """A stream of `data` with the run's tokenizer, profile, row length, seed and batch."""
        cfg = self.cfg
        return L2TStream(
            data,
            self.tokenizer_json,
            profile=cfg.profile,
            seq_len=cfg.seq_len,
            seed=cfg.seed,
            batch_size=cfg.batch_size,
            **options,
        )

    # -- checkpoints ------------------------------------------------------------------------

    def save(self) -> Path:
        """Writes a checkpoint of everything needed to continue (atomically)."""
        root = self.run_dir / CHECKPOINTS
        final = root / f"step-{self.step:08d}"
        tmp = root / f".step-{self.step:08d}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        state = {
            "step": self.step,
            "tokens": self.tokens,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": _rng_state(),
            "data": self.loader.state_dict(),
            "model_config": asdict(self.model_config),
        }
        torch.save(state, tmp / "state.pt")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in sorted(root.glob("step-*"))[: -self.cfg.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def load(self, path: Path) -> None:
        """Continues from a checkpoint written by :meth:`save`."""
        state = torch.load(path / "state.pt", map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.model.tie_weights()
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        self.loader.load_state_dict(state["data"])
        self.step, self.tokens = state["step"], state["tokens"]

    def _loss_sum(self, module: Any, batch: dict[str, Any], isolate: bool) -> torch.Tensor:
        """The summed next-token loss of a batch, on this device, under the run's autocast."""
        inputs = [
            batch[k].to(self.device, non_blocking=True)
            for k in ("input_ids", "position_ids", "doc_ids", "labels")
        ]
        autocast = self.device.type == "cuda" and self.cfg.bf16
        with torch.autocast(self.device.type, torch.bfloat16, enabled=autocast):
            loss, _ = module(*inputs, isolate=isolate, reduction="sum")
        return loss

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean next-token loss over the first ``val_batches`` batches of the validation text."""
        assert self.val_stream is not None
        self.model.eval()
        total, targets = 0.0, 0
        for i, batch in enumerate(self.val_stream):
            if i == self.cfg.val_batches:
                break
            total += float(self._loss_sum(self.model, batch, self.val_stream.isolate))
            targets += _targets(batch)
        self.model.train()
        return total / max(targets, 1)

    # -- the loop -----------------------------------------------------------------------------

    def _prepare_run_dir(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        saved = self.run_dir / "config.json"
        mine = json.loads(json.dumps(asdict(self.cfg), default=str))
        mine.pop("stop_after")  # stopping early is not part of what the run is
        if saved.exists():
            old = json.loads(saved.read_text())
            old.pop("stop_after", None)
            if old != mine:
                changed = sorted(k for k in mine if mine[k] != old.get(k))
                raise _l2t.ConfigError(
                    f"{self.run_dir} holds a run with other settings ({changed})"
                )
        else:
            saved.write_text(json.dumps(mine, indent=1) + "\n")
            versions = {
                "l2t": _l2t.__version__,
                "torch": torch.__version__,
                "git_sha": _git_sha(),
                "device": torch.cuda.get_device_name() if self.device.type == "cuda" else "cpu",
            }
            (self.run_dir / "versions.json").write_text(json.dumps(versions, indent=1) + "\n")

    def _trim_metrics(self) -> None:
        """Drops metrics logged after the checkpoint being resumed (they will be logged again)."""
        path = self.run_dir / METRICS
        if not path.exists():
            return
        lines = path.read_text().splitlines()
        keep = [line for line in lines if json.loads(line)["step"] <= self.step]
        path.write_text("".join(line + "\n" for line in keep))

    def run(self) -> list[dict[str, Any]]:
        """Trains to ``max_steps`` (or ``stop_after``); returns the metrics it logged."""
        cfg = self.cfg
        self._prepare_run_dir()
        checkpoint = latest_checkpoint(self.run_dir)
        if checkpoint is not None:
            self.load(checkpoint)
        self._trim_metrics()
        batches = iter(self.loader)
        logged: list[dict[str, Any]] = []
        stop = min(cfg.max_steps, cfg.stop_after or cfg.max_steps)
        self.model.train()
        t0, tokens0 = time.perf_counter(), self.tokens
        with (self.run_dir / METRICS).open("a") as metrics:
            while self.step < stop:
                micro = [next(batches) for _ in range(cfg.grad_accum)]
                targets = sum(_targets(b) for b in micro)
                total = 0.0
                for batch in micro:
                    loss = self._loss_sum(self.forward, batch, self.stream.isolate)
                    (loss / max(targets, 1)).backward()
                    total += float(loss.detach())
                norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                lr = self.scheduler.get_last_lr()[0]
                self.scheduler.step()
                self.step += 1
                self.tokens += sum(b["input_ids"].numel() for b in micro)
                if self.step % cfg.log_every == 0 or self.step == stop:
                    elapsed = time.perf_counter() - t0
                    record = {
                        "step": self.step,
                        "loss": total / max(targets, 1),
                        "lr": lr,
                        "grad_norm": float(norm),
                        "tokens": self.tokens,
                        "tokens_per_s": (self.tokens - tokens0) / elapsed if elapsed else 0.0,
                    }
                    if self.peak_flops:
                        flops = record["tokens_per_s"] * self.flops_per_token
                        record["mfu"] = flops / self.peak_flops
                    if self.device.type == "cuda":
                        record["max_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
                    metrics.write(json.dumps(record) + "\n")
                    metrics.flush()
                    logged.append(record)
                if self.val_stream is not None and self.step % cfg.val_every == 0:
                    record = {"step": self.step, "tokens": self.tokens, "val_loss": self.evaluate()}
                    metrics.write(json.dumps(record) + "\n")
                    metrics.flush()
                    logged.append(record)
                if self.step % cfg.checkpoint_every == 0 or self.step == stop:
                    self.save()
        plot_metrics(self.run_dir)
        return logged


def train(cfg: TrainConfig) -> list[dict[str, Any]]:
    """Trains (or resumes) the run that `cfg` describes; returns the metrics logged."""
    return Trainer(cfg).run()


def export_checkpoint(
    checkpoint: str | os.PathLike[str], out_dir: str | os.PathLike[str], tokenizer: Any = None
) -> Path:
    """Writes a run's checkpoint as a Hugging Face directory (``Qwen2ForCausalLM`` + tokenizer).

    Args:
        checkpoint: a run directory (its newest checkpoint) or one ``step-*`` directory.
        out_dir: where to write.
        tokenizer: the tokenizer to include (default: the run's, from its ``config.json``).

    """
    from l2t.train.export import export_hf

    path = Path(checkpoint)
    if not (path / "state.pt").exists():
        found = latest_checkpoint(path)
        if found is None:
            raise _l2t.ConfigError(f"{path}: neither a checkpoint nor a run with checkpoints")
        path = found
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
    if tokenizer is None:
        run_config = path.parent.parent / "config.json"
        if run_config.exists():
            tokenizer = json.loads(run_config.read_text())["tokenizer"]
    cfg = ModelConfig(**state["model_config"])
    return export_hf(state["model"], cfg, out_dir, tokenizer=tokenizer)
