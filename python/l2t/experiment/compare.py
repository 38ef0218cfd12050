"""``l2t experiment compare``: train every arm on the same documents and budget, score, report.

For each seed, and for each arm within it (so that an interrupted experiment already holds
paired results), one training run: the same model, seed, schedule and number of tokens (every
packed row is ``seq_len`` long, so equal steps are equal tokens), evaluated every ``eval_every``
steps (held-out loss and BLiMP on a fixed subset: the acquisition curves), then scored on BLiMP
in full. Runs resume where they stopped and finished ones are not trained again, so rerunning
the same command after a crash completes the experiment.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from l2t._l2t import ConfigError
from l2t.experiment.config import Arm, ExperimentConfig
from l2t.experiment.prepare import TRAIN_FILE, VAL_FILE, split_books
from l2t.experiment.report import RunResult, write_report
from l2t.tokenizer import tokenizer_json

if TYPE_CHECKING:  # l2t.eval imports torch: at run time it is imported on use
    from l2t.eval import BlimpSuite

TIMING = "timing.json"
CURVES = "curves"
SPLIT = "split.json"
FINAL_BLIMP = "blimp-final"


def _check_same_experiment(out: Path, cfg: ExperimentConfig) -> None:
    """Refuses to mix another experiment's runs into this directory."""
    saved = out / "experiment.json"
    mine = json.loads(json.dumps(cfg.to_dict()))
    if saved.exists():
        old = json.loads(saved.read_text(encoding="utf-8"))
        if old != mine:
            changed = sorted(k for k in mine if mine[k] != old.get(k))
            raise ConfigError(f"{out} holds an experiment with other settings ({changed})")
    else:
        out.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(mine, indent=1) + "\n", encoding="utf-8")


def _is_book_directory(corpus: str) -> bool:
    path = Path(corpus)
    return path.is_dir() and any(path.glob("*.txt"))


def _check_corpus(cfg: ExperimentConfig) -> None:
    """Refuses options that the kind of corpus would leave unused."""
    if _is_book_directory(cfg.corpus):
        if cfg.val_data is not None:
            raise ConfigError(
                f"{cfg.corpus} is a directory of books, whose held-out books are the validation "
                "text: remove val_data"
            )
    elif cfg.max_train_bytes is not None:
        raise ConfigError(
            f"max_train_bytes cuts a directory of .txt books, and {cfg.corpus} is not one: "
            "give a source of the size you want"
        )


def _data(cfg: ExperimentConfig, out: Path) -> tuple[str, str | None, dict[str, Any]]:
    """The training and validation sources, preparing them from a book directory if need be."""
    if not _is_book_directory(cfg.corpus):
        return cfg.corpus, cfg.val_data, {}
    data = out / "data"
    done = data / SPLIT
    # Written last: its presence means both files are whole. The experiment's settings are
    # checked before this, so a split made for this directory is this experiment's split.
    if not done.exists():
        prepared = split_books(
            Path(cfg.corpus),
            data,
            holdout=cfg.holdout_books,
            doc_chars=cfg.doc_chars,
            max_train_bytes=cfg.max_train_bytes,
        )
        done.write_text(json.dumps(prepared.summary(), indent=1) + "\n", encoding="utf-8")
    info = json.loads(done.read_text(encoding="utf-8"))
    return str(data / TRAIN_FILE), str(data / VAL_FILE), info


def train_config(
    cfg: ExperimentConfig, arm: Arm, seed: int, run_dir: Path, data: str, val: str | None
) -> Any:
    """The :class:`~l2t.train.trainer.TrainConfig` of one arm and seed."""
    from l2t.train.trainer import TrainConfig

    shared = dict(cfg.train)
    data_options = {**shared.pop("data_options", {}), "mixing": arm.mixing}
    return TrainConfig.from_dict(
        {
            **shared,
            "run_dir": str(run_dir),
            "data": data,
            "tokenizer": cfg.tokenizer,
            "profile": cfg.profile,
            "seed": seed,
            "raw_ratio": arm.raw_ratio,
            "data_options": data_options,
            "val_data": val,
            "val_every": cfg.eval_every if val else 0,
            "blimp_data": cfg.blimp_data,
            "blimp_every": cfg.eval_every,
            "blimp_limit": cfg.curve_limit,
            "checkpoint_every": cfg.eval_every,
            "device": cfg.device,
        }
    )


def _run_arm(
    cfg: ExperimentConfig, arm: Arm, train_cfg: Any, final_blimp: Callable[[], BlimpSuite]
) -> RunResult:
    """Trains one run (or finishes or skips it), scores it in full, and reads its results.

    `final_blimp` gives the suite of the final scoring, shared by all runs (they share the
    tokenizer).
    """
    from l2t.train.trainer import train

    run_dir = Path(train_cfg.run_dir)
    timing_path = run_dir / TIMING
    timing = json.loads(timing_path.read_text()) if timing_path.exists() else {"wall_s": 0.0}
    if timing.get("steps") != train_cfg.max_steps:
        start = time.perf_counter()
        train(train_cfg)
        # Summed over invocations: a resumed run's wall time is the time it really took.
        timing["wall_s"] += time.perf_counter() - start
        timing["steps"] = train_cfg.max_steps
        timing_path.write_text(json.dumps(timing) + "\n")
    final_dir = run_dir / FINAL_BLIMP
    if not (final_dir / "blimp.json").exists():
        device = None if cfg.device == "auto" else cfg.device
        report = final_blimp().score(run_dir, device=device)
        report.save(final_dir)
    return RunResult.load(
        arm.name, train_cfg.seed, run_dir, final_dir / "blimp.json", wall_s=timing["wall_s"]
    )


def compare(cfg: ExperimentConfig, *, command: str | None = None) -> Path:
    """Runs (or completes) the experiment and writes its report; returns the report path.

    Args:
        cfg: the experiment.
        command: the command line that ran it, recorded in the report.

    """
    from l2t.eval import BlimpSuite, acquisition_curve

    _check_corpus(cfg)  # before anything is written, so a corrected config can use out_dir
    out = Path(cfg.out_dir)
    _check_same_experiment(out, cfg)
    data, val, data_info = _data(cfg, out)
    # The tokenizer as the trainer reads it (tokenizer.json), so the final scores condition
    # exactly as the curve points that the trainer's BLiMP hook logged.
    final_blimp = functools.cache(
        lambda: BlimpSuite.load(
            tokenizer_json(cfg.tokenizer), cfg.blimp_data, limit=cfg.final_limit
        )
    )
    results, runs, labels = [], [], []
    for seed in cfg.seeds:
        for arm in cfg.arm_list:
            run_dir = out / "runs" / arm.name / f"seed-{seed}"
            train_cfg = train_config(cfg, arm, seed, run_dir, data, val)
            results.append(_run_arm(cfg, arm, train_cfg, final_blimp))
            runs.append(run_dir)
            labels.append(f"{arm.name} (seed {seed})")
    # Per-phenomenon acquisition, one line per run, from the BLiMP records of the training logs.
    acquisition_curve(runs, cfg.blimp_data, out / CURVES, labels=labels, source="metrics")
    return write_report(out, cfg, results, data_info=data_info, command=command)
