"""The comparison's report: one Markdown table, acquisition plots, and the JSON behind them.

Figures are per arm: the mean over seeds, with the spread (sample standard deviation, and the
minimum and maximum) when there are several. Each L2T arm is also compared with the raw baseline
seed by seed (the runs of one seed share the model's initial weights), which is the difference
the paper reports.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from l2t import _l2t
from l2t.experiment.config import BASELINE, ExperimentConfig

REPORT_JSON = "report.json"
REPORT_MD = "report.md"


@dataclass
class RunResult:
    """What one run of one arm and seed measured."""

    arm: str
    seed: int
    blimp: float
    fields: dict[str, float]
    phenomena: dict[str, float]
    pairs: int
    val_loss: float | None
    tokens: int
    tokens_per_s: float
    wall_s: float
    curve: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(
        cls, arm: str, seed: int, run_dir: Path, final_blimp: Path, *, wall_s: float
    ) -> RunResult:
        """Reads a finished run: its metrics log and its final BLiMP report."""
        records = [
            json.loads(line)
            for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        steps = [r for r in records if "loss" in r]
        curve = [
            {k: r[k] for k in ("step", "tokens", "val_loss", "blimp", "blimp_fields") if k in r}
            for r in records
            if "blimp" in r or "val_loss" in r
        ]
        val = [r["val_loss"] for r in records if "val_loss" in r]
        final = json.loads(final_blimp.read_text(encoding="utf-8"))
        return cls(
            arm=arm,
            seed=seed,
            blimp=final["overall"],
            fields=final["fields"],
            phenomena=final["phenomena"],
            pairs=final["pairs"],
            val_loss=val[-1] if val else None,
            tokens=steps[-1]["tokens"],
            tokens_per_s=steps[-1]["tokens_per_s"],
            wall_s=wall_s,
            curve=curve,
        )


def _summary(values: list[float]) -> dict[str, float]:
    out = {"mean": statistics.fmean(values), "min": min(values), "max": max(values)}
    out["std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out


def _fmt(s: dict[str, float], scale: float = 100.0, digits: int = 1) -> str:
    """``mean ± std`` (just the mean for one seed), in points by default."""
    mean = f"{s['mean'] * scale:.{digits}f}"
    return (
        mean
        if s["std"] == 0 and s["min"] == s["max"]
        else f"{mean} ± {s['std'] * scale:.{digits}f}"
    )


def aggregate(results: list[RunResult]) -> dict[str, Any]:
    """Per arm: mean and spread over seeds; per L2T arm: the paired difference to raw."""
    arms: dict[str, list[RunResult]] = {}
    for r in results:
        arms.setdefault(r.arm, []).append(r)
    summary: dict[str, Any] = {}
    for name, runs in arms.items():
        fields_ = sorted({f for r in runs for f in r.fields})
        phenomena = sorted({p for r in runs for p in r.phenomena})
        vals = [r.val_loss for r in runs if r.val_loss is not None]
        summary[name] = {
            "seeds": [r.seed for r in runs],
            "blimp": _summary([r.blimp for r in runs]),
            "fields": {f: _summary([r.fields[f] for r in runs if f in r.fields]) for f in fields_},
            "phenomena": {
                p: _summary([r.phenomena[p] for r in runs if p in r.phenomena]) for p in phenomena
            },
            "val_loss": _summary(vals) if vals else None,
            "tokens": _summary([float(r.tokens) for r in runs]),
            "tokens_per_s": _summary([r.tokens_per_s for r in runs]),
            "wall_s": _summary([r.wall_s for r in runs]),
        }
    paired: dict[str, Any] = {}
    base = {r.seed: r for r in arms.get(BASELINE, [])}
    for name, runs in arms.items():
        if name == BASELINE:
            continue
        diffs = {r.seed: r.blimp - base[r.seed].blimp for r in runs if r.seed in base}
        if diffs:
            paired[name] = {
                "per_seed": diffs,
                "summary": _summary(list(diffs.values())),
                "wins": sum(d > 0 for d in diffs.values()),
            }
    return {"arms": summary, f"vs_{BASELINE}": paired}


def _markdown(cfg: ExperimentConfig, agg: dict[str, Any], meta: dict[str, Any]) -> str:
    arms = agg["arms"]
    overrides = cfg.train.get("model_overrides")
    fields_ = sorted({f for a in arms.values() for f in a["fields"]})
    lines = [
        f"# L2T vs raw: {', '.join(arms)}",
        "",
        f"Seeds {cfg.seeds}; BLiMP in points (accuracy × 100, mean over paradigms, "
        f"{meta['final_pairs']} pairs per run); ± is the standard deviation over seeds.",
        "",
        "| arm | BLiMP | " + " | ".join(fields_) + " | val loss | tokens | wall s | tokens/s |",
        "|---|---|" + "---|" * len(fields_) + "---|---|---|---|",
    ]
    for name, a in arms.items():
        val = _fmt(a["val_loss"], 1.0, 4) if a["val_loss"] else "n/a"
        cells = [_fmt(a["fields"][f]) if f in a["fields"] else "" for f in fields_]
        lines.append(
            f"| {name} | {_fmt(a['blimp'])} | "
            + " | ".join(cells)
            + f" | {val} | {a['tokens']['mean']:,.0f} | {a['wall_s']['mean']:,.0f} | "
            f"{a['tokens_per_s']['mean']:,.0f} |"
        )
    paired = agg[f"vs_{BASELINE}"]
    if paired:
        lines += ["", f"## Paired difference to `{BASELINE}` (same seed), BLiMP points", ""]
        lines += ["| arm | " + " | ".join(f"seed {s}" for s in cfg.seeds) + " | mean | wins |"]
        lines += ["|---|" + "---|" * (len(cfg.seeds) + 2)]
        for name, p in paired.items():
            cells = [
                f"{p['per_seed'][s] * 100:+.2f}" if s in p["per_seed"] else "" for s in cfg.seeds
            ]
            mean = p["summary"]["mean"] * 100
            lines.append(
                f"| {name} | {' | '.join(cells)} | {mean:+.2f} | {p['wins']}/{len(p['per_seed'])} |"
            )
    phenomena = sorted({p for a in arms.values() for p in a["phenomena"]})
    lines += ["", "## Per phenomenon, BLiMP points", ""]
    lines += ["| phenomenon | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms)]
    for p in phenomena:
        cells = [_fmt(a["phenomena"][p]) if p in a["phenomena"] else "" for a in arms.values()]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Plots",
        "",
        "![BLiMP over training](blimp_curve.png)",
        "",
        "![Held-out loss over training](val_loss_curve.png)",
        "",
        "Per phenomenon, every run: `curves/curve-phenomena.png` (and `curves/curve.json`).",
        "",
        "## Setup",
        "",
        f"- Command: `{meta['command']}`" if meta.get("command") else "- Command: (API call)",
        f"- Model `{cfg.train.get('model', 'tiny')}` {json.dumps(overrides) if overrides else ''}"
        f", profile `{cfg.profile}`, "
        f"curve points every {cfg.eval_every} steps on {cfg.curve_limit or 1000} pairs "
        "per paradigm.",
        f"- Data: {json.dumps(meta['data'])}" if meta.get("data") else f"- Data: {cfg.corpus}",
        f"- Versions: {json.dumps(meta['versions'])}",
        f"- Machine: {meta['machine']}",
        "",
    ]
    return "\n".join(lines)


def _plot(out: Path, results: list[RunResult], key: str, ylabel: str, name: str) -> None:
    """One line per arm (mean over seeds at each step), the seeds' range shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for arm in dict.fromkeys(r.arm for r in results):
        by_tokens: dict[int, list[float]] = {}
        for r in results:
            if r.arm == arm:
                for point in r.curve:
                    if key in point:
                        by_tokens.setdefault(point["tokens"], []).append(point[key])
        if not by_tokens:
            continue
        xs = sorted(by_tokens)
        scale = 100.0 if key == "blimp" else 1.0
        mean = [statistics.fmean(by_tokens[x]) * scale for x in xs]
        ax.plot(xs, mean, marker="o", markersize=3, label=arm)
        if any(len(by_tokens[x]) > 1 for x in xs):
            lo = [min(by_tokens[x]) * scale for x in xs]
            hi = [max(by_tokens[x]) * scale for x in xs]
            ax.fill_between(xs, lo, hi, alpha=0.2)
    ax.set_xlabel("training tokens")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / name, dpi=120)
    plt.close(fig)


def _machine(torch: Any) -> str:
    """The accelerator's name, or the CPU model and core count."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()}, {os.cpu_count()} CPU cores"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, no GPU"


def write_report(
    out: Path,
    cfg: ExperimentConfig,
    results: list[RunResult],
    *,
    data_info: dict[str, Any] | None = None,
    command: str | None = None,
) -> Path:
    """Writes ``report.json``, ``report.md`` and the plots into `out`; returns the Markdown."""
    import torch

    agg = aggregate(results)
    meta = {
        "command": command,
        "data": data_info or None,
        "final_pairs": results[0].pairs if results else 0,
        "versions": {"l2t": _l2t.__version__, "torch": torch.__version__},
        "machine": _machine(torch),
    }
    report = {
        "config": cfg.to_dict(),
        **meta,
        **agg,
        "runs": [asdict(r) for r in results],
    }
    (out / REPORT_JSON).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    _plot(out, results, "blimp", "BLiMP accuracy (points)", "blimp_curve.png")
    _plot(out, results, "val_loss", "held-out loss (nats/token)", "val_loss_curve.png")
    path = out / REPORT_MD
    path.write_text(_markdown(cfg, agg, meta), encoding="utf-8")
    return path
