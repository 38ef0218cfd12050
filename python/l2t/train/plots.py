"""Loss and throughput plots of a run, drawn from its ``metrics.jsonl`` (PNG, no display)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def plot_metrics(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Writes ``loss.png`` and ``throughput.png`` into the run directory; returns their paths.

    The x axis is training tokens, so runs of different batch sizes compare directly.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on training machines
    import matplotlib.pyplot as plt

    run = Path(run_dir)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    written = []
    for keys, label, name in (
        (("loss", "val_loss"), "loss", "loss.png"),
        (("tokens_per_s",), "tokens/s", "throughput.png"),
    ):
        fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
        for key in keys:
            points = [(r["tokens"] / 1e6, r[key]) for r in records if key in r]
            if points:
                ax.plot(*zip(*points, strict=True), label=key.replace("_", " "))
        ax.legend()
        ax.set_xlabel("training tokens (M)")
        ax.set_ylabel(label)
        ax.set_title(f"{run.name}: {label}")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(run / name)
        plt.close(fig)
        written.append(run / name)
    return written
