"""A compact trainer for L2T pre-training: one loop, exact resume, JSONL metrics.

The loop reads packed batches from :class:`l2t.data.L2TLoader`, runs the Qwen2-compatible
:class:`~l2t.train.model.CausalLM` under bf16 autocast (on GPUs) with fp32 master weights, and
steps AdamW on a warmup + cosine schedule with gradient clipping and accumulation. The loss is
token-weighted across accumulation steps: the summed loss of all micro-batches divided by their
number of targets, so every target counts the same whatever batch it falls in.

Checkpoints hold the model, optimizer, schedule, every RNG and the data loader's position, and
are written to a temporary directory and renamed, so a run killed at any moment resumes from its
last whole checkpoint and continues with exactly the loss curve of an uninterrupted run.

Under ``torchrun`` the same loop runs data-parallel (:mod:`l2t.train.distributed`: DDP, or
FSDP2 for the 1B preset): every process reads its own share of the data, the loss is weighted
by the targets of the global batch, and process 0 writes the metrics and checkpoints (which
hold every process's data position and RNG).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2t import _l2t
from l2t.data import L2TLoader, L2TStream
from l2t.settings import check_fields, read_settings
from l2t.tokenizer import Tokenizer, tokenizer_json
from l2t.train import distributed
from l2t.train.model import CausalLM, ModelConfig
from l2t.train.plots import plot_metrics
from l2t.train.presets import preset

CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
# The L2TStream options that say how a source is read (not what is made of it): the held-out
# text is read as the training data is.
READ_OPTIONS = ("text_field", "text_split", "input_format", "on_error")


@dataclass
class TrainConfig:
    """Everything a run needs; saved as ``config.json`` in the run directory.

    Data: ``data`` (any l2t source), ``tokenizer``, ``profile``, ``seq_len``, ``raw_ratio``,
    ``data_options`` (more :class:`l2t.data.L2TStream` options), ``num_workers``.
    Model: ``model`` (a preset name) and ``model_overrides``; ``isolate`` (attention within
    each packed example; default: the profile's), ``attention`` (``auto``, ``sdpa`` or
    ``flex``: see :class:`l2t.train.model.CausalLM`).
    Optimisation: ``batch_size`` rows per micro-batch, ``grad_accum`` micro-batches per step,
    ``max_steps``, ``lr``, ``min_lr_ratio`` (the cosine's floor), ``warmup_steps``,
    ``weight_decay`` (not on norms and biases unless ``decay_all``, as the paper's HF Trainer),
    ``betas``, ``eps``, ``grad_clip``.
    Speed: ``bf16`` (autocast on CUDA), ``compile`` (``torch.compile`` the model),
    ``activation_checkpointing``; ``parallel`` under ``torchrun``: ``ddp``, ``fsdp`` or
    ``auto`` (FSDP2 for the 1B preset, DDP otherwise). ``batch_size`` is per process.
    Bookkeeping: ``run_dir``, ``log_every``, ``checkpoint_every``, ``keep_checkpoints``,
    ``stop_after`` (stop at this step without finishing the schedule, as a pre-emption would).
    ``keep_checkpoints`` 0 keeps every checkpoint (what an acquisition curve scores).
    Evaluation: every ``val_every`` steps (0: never) the loss on the first ``val_batches``
    batches of ``val_data`` (held-out text, read as plain next-token text, with the reading
    options in ``data_options``: ``text_field``, ``text_split``, ``input_format``,
    ``on_error``); every ``blimp_every`` steps (0: never) BLiMP accuracy on the first
    ``blimp_limit`` pairs of each paradigm in ``blimp_data`` (:func:`l2t.eval.blimp`).
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
    attention: str = "auto"
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
    parallel: str = "auto"
    device: str = "auto"
    log_every: int = 10
    val_data: Any = None
    val_every: int = 0
    val_batches: int = 20
    blimp_data: str | None = None
    blimp_every: int = 0
    blimp_limit: int | None = 100
    peak_flops: float | None = None
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    stop_after: int | None = None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
        """A config from a JSON (or YAML, with PyYAML installed) file, with overrides."""
        try:
            return cls.from_dict({**read_settings(path), **overrides})
        except _l2t.ConfigError as e:
            if str(e).startswith(str(path)):  # read_settings named the file already
                raise
            raise _l2t.ConfigError(f"{path}: {e}") from None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from a mapping; unknown keys are refused, not ignored."""
        check_fields(cls, values, "training options")
        if "betas" in values:
            values = {**values, "betas": tuple(values["betas"])}
        return cls(**values)


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


def run_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """A run's whole checkpoints, oldest first (temporaries of a killed save are not whole)."""
    root = Path(run_dir) / CHECKPOINTS
    return sorted(p for p in root.glob("step-*") if (p / "state.pt").is_file())


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The newest whole checkpoint of a run, if it has one."""
    steps = run_checkpoints(run_dir)
    return steps[-1] if steps else None


class Trainer:
    """One training run; :meth:`run` trains (or resumes) to ``max_steps``."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.run_dir = Path(cfg.run_dir)
        self.world, self.device = distributed.init(cfg.device)
        self.parallel = distributed.resolve_mode(cfg.parallel, cfg.model)
        self.tokenizer_json = tokenizer_json(cfg.tokenizer)
        vocab = Tokenizer(self.tokenizer_json).vocab_size
        # The same seed on every process: FSDP2 shards each process's own (identical) init.
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.model_config: ModelConfig = preset(cfg.model, vocab, **cfg.model_overrides)
        self.model = CausalLM(self.model_config, attention=cfg.attention).to(self.device)
        self.model.gradient_checkpointing = cfg.activation_checkpointing
        # What the training step calls; self.model stays the bare module for evaluation.
        self.wrapped = distributed.wrap(self.model, self.world, self.parallel, self.device)
        self.forward = torch.compile(self.wrapped) if cfg.compile else self.wrapped
        fused = self.device.type == "cuda"
        # Built after wrapping: FSDP2 replaces the parameters with sharded ones.
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
        self.val_batches: list[dict[str, Any]] | None = None
        if cfg.val_data is not None and cfg.val_every:
            # Held-out text as plain next-token rows: what "general ability kept" is measured on.
            reading = {k: v for k, v in cfg.data_options.items() if k in READ_OPTIONS}
            self.val_stream = self._stream(cfg.val_data, raw_ratio=1.0, **reading)
        if cfg.blimp_every and not cfg.blimp_data:
            raise _l2t.ConfigError("blimp_every needs blimp_data (a directory of BLiMP jsonl)")
        self.blimp_suite: Any = None  # an l2t.eval BlimpSuite, read and tokenized at first use
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
            rank=self.world.rank,
            world_size=self.world.size,
            **options,
        )

    # -- checkpoints ------------------------------------------------------------------------

    def save(self) -> Path:
        """Writes a checkpoint of everything needed to continue (atomically).

        Every process takes part (the model and optimizer state are gathered from all of
        them); process 0 writes.
        """
        root = self.run_dir / CHECKPOINTS
        final = root / f"step-{self.step:08d}"
        model_state, optim_state = distributed.full_state(self.model, self.optimizer)
        data = distributed.all_gather(self.loader.state_dict(), self.world)
        rng = distributed.all_gather(_rng_state(), self.world)
        if self.world.main:
            tmp = root / f".step-{self.step:08d}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            state = {
                "step": self.step,
                "tokens": self.tokens,
                "model": model_state,
                "optimizer": optim_state,
                "scheduler": self.scheduler.state_dict(),
                # One entry per process, in rank order.
                "rng": rng,
                "data": data,
                "world_size": self.world.size,
                "model_config": asdict(self.model_config),
            }
            torch.save(state, tmp / "state.pt")
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
            if self.cfg.keep_checkpoints:
                for old in sorted(root.glob("step-*"))[: -self.cfg.keep_checkpoints]:
                    shutil.rmtree(old, ignore_errors=True)
        distributed.barrier(self.world)
        return final

    def load(self, path: Path) -> None:
        """Continues from a checkpoint written by :meth:`save` (by as many processes)."""
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
        saved_world = state.get("world_size", 1)
        if saved_world != self.world.size:
            raise _l2t.ConfigError(
                f"{path} was saved by {saved_world} processes, not {self.world.size}: each "
                "process resumes its own share of the data, so resume with the same number"
            )
        distributed.load_full_state(self.model, self.optimizer, state["model"], state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"][self.world.rank])
        self.loader.load_state_dict(state["data"][self.world.rank])
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
        """Mean next-token loss over the first ``val_batches`` batches of the validation text.

        Each process reads its own share of those batches; the mean is over all of them.
        """
        assert self.val_stream is not None
        if self.val_batches is None:
            # The same batches at every evaluation: made from the text once, then kept.
            self.val_batches = list(itertools.islice(self.val_stream, self.cfg.val_batches))
        self.model.eval()
        total, targets = 0.0, 0
        for batch in self.val_batches:
            total += float(self._loss_sum(self.model, batch, self.val_stream.isolate))
            targets += _targets(batch)
        self.model.train()
        total = distributed.all_sum(total, self.world, self.device)
        return total / max(distributed.all_sum(targets, self.world, self.device), 1)

    def blimp(self) -> dict[str, Any]:
        """BLiMP on the live model: overall, per field and per phenomenon, for the metrics log.

        Every process scores (an FSDP2 model needs all of them for a forward pass); the pairs
        are the first ``blimp_limit`` of each paradigm, the same at every evaluation: they are
        read and tokenized once.
        """
        if self.blimp_suite is None:
            from l2t.eval import BlimpSuite

            self.blimp_suite = BlimpSuite.load(
                self.tokenizer_json, self.cfg.blimp_data, limit=self.cfg.blimp_limit
            )
        report = self.blimp_suite.score(
            self.model, device=self.device, bf16=self.device.type == "cuda" and self.cfg.bf16
        )
        return {
            "blimp": report.overall,
            "blimp_fields": report.fields,
            "blimp_phenomena": report.phenomena,
            "blimp_pairs": report.pairs,
        }

    # -- the loop -----------------------------------------------------------------------------

    def _prepare_run_dir(self) -> None:
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
        elif self.world.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(mine, indent=1) + "\n")
            versions = {
                "l2t": _l2t.__version__,
                "torch": torch.__version__,
                "git_sha": _git_sha(),
                "device": torch.cuda.get_device_name() if self.device.type == "cuda" else "cpu",
                "processes": self.world.size,
                "parallel": self.parallel if self.world.distributed else None,
                "attention": self.model.attention_backend(self.device),
            }
            (self.run_dir / "versions.json").write_text(json.dumps(versions, indent=1) + "\n")
        distributed.barrier(self.world)

    def _trim_metrics(self) -> None:
        """Drops metrics logged after the checkpoint being resumed (they will be logged again)."""
        path = self.run_dir / METRICS
        if not self.world.main or not path.exists():
            return
        lines = path.read_text().splitlines()
        keep = [line for line in lines if json.loads(line)["step"] <= self.step]
        path.write_text("".join(line + "\n" for line in keep))

    def _train_step(self, micro: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step over `micro`: the global batch's mean loss and the grad norm.

        Each process scales its summed loss by ``world size / global targets``: the processes'
        gradients are averaged, so the step follows the mean over every target of the global
        batch, whatever process or micro-batch it fell in. Both results stay on the device:
        reading them waits for the GPU, so the loop reads them only when it logs.
        """
        local = float(sum(_targets(b) for b in micro))
        if self.world.distributed:
            count = torch.tensor(local)
            if self.device.type == "cuda":  # a pinned copy does not wait for queued kernels
                count = count.pin_memory()
            targets = distributed.all_sum_(count.to(self.device, non_blocking=True), self.world)
            scale: torch.Tensor | float = self.world.size / targets.clamp(min=1)
        else:
            targets, scale = torch.tensor(max(local, 1.0)), 1.0 / max(local, 1.0)
        total = torch.zeros((), device=self.device)
        for i, batch in enumerate(micro):
            with distributed.gradient_sync(self.wrapped, enabled=i == len(micro) - 1):
                loss = self._loss_sum(self.forward, batch, self.stream.isolate)
                (loss * scale).backward()
            total += loss.detach()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        total = distributed.all_sum_(total, self.world)
        return total / targets.to(total.device).clamp(min=1), norm

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
        metrics = (self.run_dir / METRICS).open("a") if self.world.main else None

        def log(record: dict[str, Any]) -> None:
            logged.append(record)
            if metrics is not None:
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()

        try:
            while self.step < stop:
                micro = [next(batches) for _ in range(cfg.grad_accum)]
                lr = self.scheduler.get_last_lr()[0]
                loss, norm = self._train_step(micro)
                self.step += 1
                self.tokens += self.world.size * sum(b["input_ids"].numel() for b in micro)
                if self.step % cfg.log_every == 0 or self.step == stop:
                    # Reading the values waits for the step to finish; then the clock is right.
                    loss_value, norm_value = float(loss), distributed.scalar(norm)
                    elapsed = time.perf_counter() - t0
                    rate = (self.tokens - tokens0) / elapsed if elapsed else 0.0
                    record = {
                        "step": self.step,
                        "loss": loss_value,
                        "lr": lr,
                        "grad_norm": norm_value,
                        "tokens": self.tokens,
                        "tokens_per_s": rate,
                    }
                    if self.peak_flops:
                        # MFU per accelerator: each one's share of the throughput.
                        per_device = rate / self.world.size
                        record["mfu"] = per_device * self.flops_per_token / self.peak_flops
                    if self.device.type == "cuda":
                        record["max_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
                    log(record)
                validate = self.val_stream is not None and self.step % cfg.val_every == 0
                score = bool(cfg.blimp_every) and self.step % cfg.blimp_every == 0
                save = self.step % cfg.checkpoint_every == 0 or self.step == stop
                if not (validate or score or save):
                    continue
                # Evaluation and checkpoints stay off the throughput (and MFU) clock; the
                # queued training step is finished first so that its time stays on it.
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                paused = time.perf_counter()
                evaluations: dict[str, Any] = {}
                if validate:
                    evaluations["val_loss"] = self.evaluate()
                if score:
                    evaluations.update(self.blimp())
                if evaluations:
                    log({"step": self.step, "tokens": self.tokens, **evaluations})
                if save:
                    self.save()
                t0 += time.perf_counter() - paused
        finally:
            if metrics is not None:
                metrics.close()
        if self.world.main:
            plot_metrics(self.run_dir)
        return logged


def train(cfg: TrainConfig) -> list[dict[str, Any]]:
    """Trains (or resumes) the run that `cfg` describes; returns the metrics logged.

    Under ``torchrun`` every process calls this with the same config.
    """
    return Trainer(cfg).run()


def export_checkpoint(
    checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    tokenizer: Any = None,
    *,
    architecture: str = "llama",
) -> Path:
    """Writes a run's checkpoint as a Hugging Face directory (model and tokenizer).

    Args:
        checkpoint: a run directory (its newest checkpoint) or one ``step-*`` directory.
        out_dir: where to write.
        tokenizer: the tokenizer to include (default: the run's, from its ``config.json``).
        architecture: ``"llama"`` or ``"qwen2"`` (:func:`l2t.train.export.export_hf`).

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
    return export_hf(state["model"], cfg, out_dir, tokenizer=tokenizer, architecture=architecture)
