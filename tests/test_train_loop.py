"""The trainer on CPU: it learns, it resumes to the same loss curve, it refuses mixed runs."""

from __future__ import annotations

import itertools
import json

import pytest

pytest.importorskip("torch", reason="torch is not installed (make install-test adds it)")

import l2t
from conftest import FIXTURES, make_corpus, write_jsonl
from l2t.train.presets import preset
from l2t.train.trainer import (
    TrainConfig,
    flops_per_token,
    latest_checkpoint,
    lr_factor,
    train,
)

# Rows of 128-256 tokens keep these CPU runs fast; most examples do not fit in them, which is
# what the warning says and what these tests do not measure.
pytestmark = pytest.mark.filterwarnings("ignore::l2t.DroppedExamplesWarning")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_jsonl(tmp_path_factory.mktemp("data") / "docs.jsonl", make_corpus(300)))


def config(run_dir, corpus: str, **kw) -> TrainConfig:
    values = {
        "run_dir": str(run_dir),
        "data": corpus,
        "tokenizer": str(FIXTURES / "bpe-pydoc-2k.json"),
        "seq_len": 256,
        "batch_size": 4,
        "max_steps": 8,
        "warmup_steps": 2,
        "lr": 3e-3,
        "log_every": 1,
        "checkpoint_every": 4,
        "data_options": {"batch_docs": 32},
        **kw,
    }
    return TrainConfig.from_dict(values)


def test_training_steps_reduce_the_loss(tmp_path, corpus):
    run = config(tmp_path / "run", corpus, max_steps=40, warmup_steps=5, val_data=corpus)
    run.val_every, run.val_batches, run.peak_flops = 10, 4, 1e12
    metrics = train(run)
    val = [m["val_loss"] for m in metrics if "val_loss" in m]
    assert len(val) == 4 and val[-1] < val[0]
    metrics = [m for m in metrics if "loss" in m]
    losses = [m["loss"] for m in metrics]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < losses[0] - 1.0  # from ~ln(vocab) down
    assert all(m["tokens_per_s"] > 0 and m["grad_norm"] > 0 for m in metrics)
    per_token = flops_per_token(preset("tiny", l2t.Tokenizer(run.tokenizer).vocab_size), 256)
    assert all(m["mfu"] == pytest.approx(m["tokens_per_s"] * per_token / 1e12) for m in metrics)
    for png in ("loss.png", "throughput.png"):
        assert (tmp_path / "run" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("grad_accum", [1, 2])
def test_resumed_run_has_the_uninterrupted_loss_curve(tmp_path, corpus, grad_accum):
    whole = train(config(tmp_path / "whole", corpus, grad_accum=grad_accum))
    first = train(config(tmp_path / "cut", corpus, grad_accum=grad_accum, stop_after=4))
    assert [m["step"] for m in first] == [1, 2, 3, 4]
    assert latest_checkpoint(tmp_path / "cut").name == "step-00000004"
    rest = train(config(tmp_path / "cut", corpus, grad_accum=grad_accum))
    assert [m["step"] for m in rest] == [5, 6, 7, 8]
    assert [m["loss"] for m in first + rest] == [m["loss"] for m in whole]
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == list(range(1, 9))


def test_a_run_directory_refuses_other_settings(tmp_path, corpus):
    train(config(tmp_path / "run", corpus, max_steps=2))
    with pytest.raises(l2t.ConfigError, match="lr"):
        train(config(tmp_path / "run", corpus, max_steps=2, lr=1e-4))
    with pytest.raises(l2t.ConfigError, match="unknown training options"):
        TrainConfig.from_dict({"run_dir": "x", "data": "y", "tokenizer": "z", "lr_max": 1})


def test_schedule_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(run_dir="x", data="y", tokenizer="z", max_steps=100, warmup_steps=10)
    factors = [lr_factor(s, cfg) for s in range(101)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))
    assert factors[100] == pytest.approx(cfg.min_lr_ratio)


def test_cli_trains_then_exports_a_model_transformers_loads(tmp_path, corpus):
    import subprocess
    import sys

    import torch
    import transformers

    cfg = config(tmp_path / "run", corpus, max_steps=2)
    path = tmp_path / "train.json"
    values = {k: v for k, v in vars(cfg).items() if k != "max_steps"}
    path.write_text(json.dumps(values))
    cli = [sys.executable, "-m", "l2t.cli"]
    subprocess.run([*cli, "train", "--config", path, "--set", "max_steps=2"], check=True)
    subprocess.run([*cli, "export", tmp_path / "run", tmp_path / "hf"], check=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    ids = torch.tensor([tokenizer("The cat sat on the mat.")["input_ids"]])
    state = torch.load(latest_checkpoint(tmp_path / "run") / "state.pt", weights_only=False)
    from l2t.train.model import CausalLM, ModelConfig

    ours = CausalLM(ModelConfig(**state["model_config"]))
    ours.load_state_dict(state["model"])
    ours.tie_weights()
    with torch.no_grad():
        expected = ours(ids, isolate=False)
        got = model(ids).logits
    assert torch.allclose(got, expected, atol=1e-4)


def test_flops_per_token_follows_the_6n_rule_plus_attention():
    cfg = preset("500m", 32768)
    weights = cfg.num_parameters(embeddings=False) + 32768 * cfg.hidden_size
    attention = 12 * 24 * 24 * 42 * 2048 / 2
    assert flops_per_token(cfg, 2048) == 6 * weights + attention
    assert 2.9e9 < flops_per_token(cfg, 2048) < 3.1e9  # ~6 x 0.45B, plus 10% attention
