"""Data-parallel training under torchrun (two CPU processes on gloo): DDP and FSDP2.

What must hold: the processes together take exactly the step one process would take on the
union of their batches (the loss is token-weighted over the global batch), FSDP2 and DDP agree,
and a killed run resumes to the same curve.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (make install-test adds it)")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("this torch build has no gloo process group", allow_module_level=True)

import l2t  # noqa: E402
from conftest import FIXTURES, make_corpus, write_jsonl  # noqa: E402
from l2t.data import L2TStream  # noqa: E402
from l2t.train.trainer import METRICS, TrainConfig, Trainer  # noqa: E402

# Rows of 128-256 tokens keep these CPU runs fast; most examples do not fit in them, which is
# what the warning says and what these tests do not measure.
pytestmark = pytest.mark.filterwarnings("ignore::l2t.DroppedExamplesWarning")

PROCESSES = 2
STEPS = 4


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_jsonl(tmp_path_factory.mktemp("data") / "docs.jsonl", make_corpus(200)))


def settings(run_dir: Path, corpus: str, **kw: object) -> dict:
    return {
        "run_dir": str(run_dir),
        "data": corpus,
        "tokenizer": str(FIXTURES / "bpe-pydoc-2k.json"),
        "seq_len": 128,
        "batch_size": 2,
        "grad_accum": 2,
        "max_steps": STEPS,
        "warmup_steps": 1,
        "lr": 3e-3,
        "log_every": 1,
        "checkpoint_every": 2,
        "device": "cpu",
        "data_options": {"batch_docs": 16},
        **kw,
    }


def torchrun(tmp_path: Path, values: dict) -> list[dict]:
    """Runs ``l2t train`` in PROCESSES processes; returns the loss records of metrics.jsonl."""
    config = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.json"
    config.write_text(json.dumps(values))
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={PROCESSES}", "-m", "l2t.cli", "train", "--config", str(config),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (Path(values["run_dir"]) / METRICS).read_text().splitlines()
    records = list(map(json.loads, lines))
    if values.get("blimp_every"):
        scored = [r["step"] for r in records if "blimp" in r]
        assert scored == list(range(values["blimp_every"], STEPS + 1, values["blimp_every"]))
    return [r for r in records if "loss" in r]


def single_process_reference(values: dict) -> list[float]:
    """The losses of one process stepping on the union of every rank's micro-batches."""
    cfg = TrainConfig.from_dict({**values, "run_dir": values["run_dir"] + "-reference"})
    trainer = Trainer(cfg)  # the same seed: the same initial weights as every rank's
    streams = [
        iter(
            L2TStream(
                cfg.data,
                trainer.tokenizer_json,
                seq_len=cfg.seq_len,
                seed=cfg.seed,
                batch_size=cfg.batch_size,
                epochs=None,
                rank=rank,
                world_size=PROCESSES,
                **cfg.data_options,
            )
        )
        for rank in range(PROCESSES)
    ]
    trainer.model.train()
    losses = []
    for _ in range(STEPS):
        union = [next(s) for s in streams for _ in range(cfg.grad_accum)]
        losses.append(float(trainer._train_step(union)[0]))
    return losses


def test_ddp_and_fsdp_step_as_one_process_on_the_global_batch(tmp_path, corpus):
    ddp = torchrun(tmp_path, settings(tmp_path / "ddp", corpus, parallel="ddp"))
    # BLiMP during a sharded run: every process must take part in the scoring forward passes.
    blimp = {"blimp_data": str(FIXTURES / "blimp-mini"), "blimp_every": 2, "blimp_limit": 3}
    fsdp = torchrun(tmp_path, settings(tmp_path / "fsdp", corpus, parallel="fsdp", **blimp))
    expected = single_process_reference(settings(tmp_path / "one", corpus))
    assert [r["step"] for r in ddp] == list(range(1, STEPS + 1))
    # Every step after the first depends on the previous update, so agreement at step 4 means
    # the gradients (not only the logged losses) were those of the global batch.
    assert [r["loss"] for r in ddp] == pytest.approx(expected, rel=1e-4)
    assert [r["loss"] for r in fsdp] == pytest.approx(expected, rel=1e-4)
    per_step = 2 * 2 * 128 * PROCESSES  # rows x accumulation x length x processes
    assert [r["tokens"] for r in ddp] == [per_step * s for s in range(1, STEPS + 1)]
    versions = json.loads((tmp_path / "fsdp" / "versions.json").read_text())
    assert versions["processes"] == PROCESSES and versions["parallel"] == "fsdp"
    state = torch.load(
        tmp_path / "fsdp" / "checkpoints" / f"step-{STEPS:08d}" / "state.pt", weights_only=False
    )
    # A sharded run saves whole tensors under the bare model's names, one data state per rank.
    assert state["world_size"] == PROCESSES and len(state["data"]) == PROCESSES
    assert state["model"]["model.embed_tokens.weight"].shape[0] == 2048


def test_a_killed_ddp_run_resumes_to_the_same_curve(tmp_path, corpus):
    whole = torchrun(tmp_path, settings(tmp_path / "whole", corpus, parallel="ddp"))
    torchrun(tmp_path, settings(tmp_path / "cut", corpus, parallel="ddp", stop_after=2))
    resumed = torchrun(tmp_path, settings(tmp_path / "cut", corpus, parallel="ddp"))
    assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in whole], rel=1e-6)
    # One process cannot pick up a two-process run: each rank's data position is its own.
    with pytest.raises(l2t.ConfigError, match="saved by 2 processes"):
        Trainer(TrainConfig.from_dict(settings(tmp_path / "cut", corpus, parallel="ddp"))).run()
