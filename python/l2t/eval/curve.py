"""Acquisition curves: BLiMP across the checkpoints of training runs, against training tokens.

For each run directory, every whole checkpoint (``checkpoints/step-*/state.pt``; train with
``keep_checkpoints=0`` to keep them all) is scored as :func:`l2t.eval.blimp` scores it (BLiMP is
read once, and tokenized once per run, with the run's tokenizer), and the points
(step, tokens seen, overall, per field, per phenomenon) go to ``curve.json``. Two plots are drawn
with the runs overlaid, as the paper's figures compare L2T with raw-text training:
``curve-overall.png`` and ``curve-phenomena.png`` (one panel per phenomenon).

Scoring is resumable: points already in ``out_dir/curve.json`` for the same data, limit and
paradigms are reused, so rerunning after more checkpoints appear scores only the new ones.
With ``source="metrics"`` nothing is scored: the points are the BLiMP records that the
trainer's periodic hook (``blimp_every``) wrote into the run's ``metrics.jsonl``.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from l2t._l2t import ConfigError
from l2t.eval.data import Paradigm, load_blimp
from l2t.eval.minimal_pairs import BlimpSuite
from l2t.eval.models import prepare
from l2t.train.trainer import run_checkpoints

FORMAT = "l2t-blimp-curve/1"
CURVE_JSON = "curve.json"
OVERALL_PNG = "curve-overall.png"
PHENOMENA_PNG = "curve-phenomena.png"


def _labels(run_dirs: Sequence[Path], labels: Sequence[str] | None) -> list[str]:
    """Given labels, else each run's name, with its parent's too where names collide."""
    if labels is not None:
        if len(labels) != len(run_dirs):
            raise ConfigError(f"{len(labels)} labels for {len(run_dirs)} runs")
        return list(labels)
    names = [p.resolve().name for p in run_dirs]
    return [
        f"{p.resolve().parent.name}/{n}" if names.count(n) > 1 else n
        for p, n in zip(run_dirs, names, strict=True)
    ]


def _metrics_points(run_dir: Path) -> list[dict[str, Any]]:
    """The trainer's BLiMP records in ``metrics.jsonl``, as curve points."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no metrics.jsonl")
    points = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.strip() else {}
        if "blimp" in record:
            points.append(
                {
                    "step": record["step"],
                    "tokens": record["tokens"],
                    "overall": record["blimp"],
                    "pairs": record.get("blimp_pairs"),
                    "fields": record.get("blimp_fields", {}),
                    "phenomena": record.get("blimp_phenomena", {}),
                }
            )
    if not points:
        raise ConfigError(f"{path}: no BLiMP records (train with blimp_every and blimp_data)")
    return points


def _cached(out: Path, settings: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    """Points of an earlier run of the same settings, by (run directory, step)."""
    path = out / CURVE_JSON
    if not path.is_file():
        return {}
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}
    if old.get("format") != FORMAT or old.get("settings") != settings:
        return {}
    return {
        (run["run_dir"], point["step"]): point
        for run in old.get("runs", [])
        for point in run.get("points", [])
    }


def acquisition_curve(
    run_dirs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    data: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    labels: Sequence[str] | None = None,
    source: str = "checkpoints",
    **blimp_kwargs: Any,
) -> dict[str, Any]:
    """Scores every checkpoint of each run and plots BLiMP against training tokens.

    Args:
        run_dirs: one or more l2t run directories (e.g. an L2T run and a raw-text baseline).
        data: BLiMP's directory of jsonl files, or ``"hf"``.
        out_dir: where ``curve.json`` and the PNGs go.
        labels: a legend label per run (default: the run directories' names).
        source: ``"checkpoints"`` (score them) or ``"metrics"`` (the trainer's BLiMP records).
        **blimp_kwargs: passed to :func:`l2t.eval.blimp` (``limit``, ``paradigms``,
            ``batch_size``, ``device``, ``bf16``, ``progress``).

    Returns:
        What ``curve.json`` holds: the settings and, per run, its points in step order.

    """
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    runs = [Path(r) for r in run_dirs]
    if not runs:
        raise ConfigError("acquisition_curve needs at least one run directory")
    if source not in ("checkpoints", "metrics"):
        raise ConfigError(f"source must be 'checkpoints' or 'metrics', not {source!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paradigms = blimp_kwargs.get("paradigms")
    settings = {
        "data": str(data),
        "limit": blimp_kwargs.get("limit"),
        "paradigms": [paradigms] if isinstance(paradigms, str) else paradigms,
        "source": source,
    }
    cache = _cached(out, settings)
    scoring = {k: v for k, v in blimp_kwargs.items() if k not in ("limit", "paradigms")}
    # BLiMP is read once, and only when some checkpoint is not in the cache.
    read_blimp = functools.cache(
        lambda: load_blimp(data, paradigms=paradigms, limit=settings["limit"])
    )
    result: dict[str, Any] = {"format": FORMAT, "settings": settings, "runs": []}
    for run, label in zip(runs, _labels(runs, labels), strict=True):
        if source == "metrics":
            points = _metrics_points(run)
        else:
            points = _score_run(run, read_blimp, data, settings["limit"], cache, scoring)
        points.sort(key=lambda p: p["step"])
        result["runs"].append({"label": label, "run_dir": str(run), "points": points})
        # Written after each run, so an interrupted curve keeps what it scored.
        (out / CURVE_JSON).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    plot_curves(result, out)
    return result


def _score_run(
    run: Path,
    read_blimp: Callable[[], list[Paradigm]],
    data: str | os.PathLike[str],
    limit: int | None,
    cache: dict[tuple[str, int], dict[str, Any]],
    scoring: dict[str, Any],
) -> list[dict[str, Any]]:
    """The points of a run's checkpoints: cached ones reused, the others scored."""
    checkpoints = run_checkpoints(run)
    if not checkpoints:
        raise ConfigError(f"{run}: no checkpoints to score")
    suite: BlimpSuite | None = None  # tokenized once: a run's checkpoints share its tokenizer
    points = []
    for checkpoint in checkpoints:
        step = int(checkpoint.name.removeprefix("step-"))
        if (str(run), step) in cache:
            points.append(cache[(str(run), step)])
            continue
        loaded, tok, where = prepare(
            str(checkpoint), device=scoring.get("device"), bf16=scoring.get("bf16")
        )
        if suite is None:
            suite = BlimpSuite(read_blimp(), tok, data=data, limit=limit)
        report = suite.score(loaded, **{**scoring, "device": where})
        points.append(_point(report, step, checkpoint))
    return points


def _point(report: Any, step: int, checkpoint: Path) -> dict[str, Any]:
    """A checkpoint's BLiMP report as a curve point."""
    return {
        "step": report.meta.get("step", step),
        "tokens": report.meta.get("tokens"),
        "overall": report.overall,
        "pairs": report.pairs,
        "fields": report.fields,
        "phenomena": report.phenomena,
        "checkpoint": str(checkpoint),
        "seconds": report.meta.get("seconds"),
    }


def plot_curves(curve: dict[str, Any], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Draws ``curve-overall.png`` and ``curve-phenomena.png`` from a curve; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on training machines
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    runs = curve["runs"]
    most = max((p["tokens"] or 0 for r in runs for p in r["points"]), default=0)
    scale, unit = (1e9, "B") if most >= 1e9 else (1e6, "M")

    def xs(run: dict[str, Any]) -> list[float]:
        return [(p["tokens"] or 0) / scale for p in run["points"]]

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for run in runs:
        ax.plot(
            xs(run), [100 * p["overall"] for p in run["points"]], marker="o", label=run["label"]
        )
    ax.set_xlabel(f"training tokens ({unit})")
    ax.set_ylabel("BLiMP accuracy (%)")
    ax.set_title("BLiMP over training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / OVERALL_PNG)
    plt.close(fig)

    phenomena = sorted({k for r in runs for p in r["points"] for k in p["phenomena"]})
    cols = min(4, max(1, len(phenomena)))
    rows = max(1, -(-len(phenomena) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), dpi=110, squeeze=False)
    for i, name in enumerate(phenomena):
        ax = axes[i // cols][i % cols]
        for run in runs:
            pts = [
                (x, 100 * p["phenomena"][name])
                for x, p in zip(xs(run), run["points"], strict=True)
                if name in p["phenomena"]
            ]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker=".", label=run["label"])
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for j in range(len(phenomena), rows * cols):
        axes[j // cols][j % cols].axis("off")
    handles, names = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, names, loc="lower right", fontsize=8)
    fig.supxlabel(f"training tokens ({unit})", fontsize=9)
    fig.supylabel("accuracy (%)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / PHENOMENA_PNG)
    plt.close(fig)
    return [out / OVERALL_PNG, out / PHENOMENA_PNG]
