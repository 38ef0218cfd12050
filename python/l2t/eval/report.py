"""BLiMP results: per paradigm, field and phenomenon; JSON and Markdown; models side by side.

Every aggregate is a mean over paradigms (each paradigm counts once, whatever its number of
pairs), as lm-evaluation-harness reports its ``blimp`` group: the mean of its 67 subtasks'
accuracies. With BLiMP's 1,000 pairs per paradigm (or any ``limit`` up to that) this is also
the pooled accuracy over pairs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

from l2t._l2t import ConfigError, InputError

FORMAT = "l2t-blimp-report/1"
REPORT_JSON = "blimp.json"
REPORT_MD = "blimp.md"
PAIRS_JSONL = "blimp-pairs.jsonl"


@dataclass(frozen=True)
class ParadigmResult:
    """One paradigm's outcome.

    Attributes:
        name: the paradigm (UID).
        field: its field (normalised, see :mod:`l2t.eval.data`).
        phenomenon: its phenomenon (normalised).
        pairs: pairs scored.
        correct: pairs whose good sentence scored at least as high as the bad one.

    """

    name: str
    field: str
    phenomenon: str
    pairs: int
    correct: int

    @property
    def accuracy(self) -> float:
        """``correct / pairs``."""
        return self.correct / self.pairs if self.pairs else 0.0


@dataclass(frozen=True)
class PairScore:
    """The two log-probabilities of one pair (``correct`` is ``good >= bad``)."""

    paradigm: str
    pair_id: str
    good: float
    bad: float

    @property
    def correct(self) -> bool:
        """Whether the good sentence wins; a tie goes to it, as the harness's argmax does."""
        return not self.bad > self.good


def _mean_by(results: Iterable[ParadigmResult], key: str) -> dict[str, float]:
    groups: dict[str, list[float]] = {}
    for r in results:
        groups.setdefault(getattr(r, key), []).append(r.accuracy)
    return {k: fmean(v) for k, v in sorted(groups.items())}


@dataclass
class BlimpReport:
    """BLiMP accuracy of one model.

    Attributes:
        model: what was scored (a path or a description).
        results: per-paradigm outcomes, by name.
        meta: how it was scored (data, limit, device, dtype, speed, conditioning, versions).
        scores: the per-pair log-probabilities (not part of :meth:`to_dict`; see :meth:`save`).

    """

    model: str
    results: dict[str, ParadigmResult]
    meta: dict[str, Any] = field(default_factory=dict)
    scores: list[PairScore] = field(default_factory=list, repr=False)

    @classmethod
    def from_scores(
        cls,
        model: str,
        scores: Sequence[PairScore],
        labels: Mapping[str, tuple[str, str]],
        meta: dict[str, Any] | None = None,
    ) -> BlimpReport:
        """A report from per-pair scores and each paradigm's (field, phenomenon)."""
        counts: dict[str, list[int]] = {name: [0, 0] for name in labels}
        for s in scores:
            counts[s.paradigm][0] += 1
            counts[s.paradigm][1] += s.correct
        results = {
            name: ParadigmResult(name, *labels[name], pairs=n, correct=c)
            for name, (n, c) in sorted(counts.items())
            if n
        }
        return cls(model, results, dict(meta or {}), list(scores))

    # -- aggregates ----------------------------------------------------------------------------

    @property
    def paradigms(self) -> dict[str, float]:
        """Accuracy per paradigm."""
        return {name: r.accuracy for name, r in sorted(self.results.items())}

    @property
    def fields(self) -> dict[str, float]:
        """Mean accuracy of the paradigms of each field."""
        return _mean_by(self.results.values(), "field")

    @property
    def phenomena(self) -> dict[str, float]:
        """Mean accuracy of the paradigms of each phenomenon (``linguistics_term``)."""
        return _mean_by(self.results.values(), "phenomenon")

    @property
    def overall(self) -> float:
        """Mean accuracy over the paradigms scored (the harness's ``blimp`` number)."""
        return fmean(r.accuracy for r in self.results.values()) if self.results else 0.0

    @property
    def pairs(self) -> int:
        """Pairs scored."""
        return sum(r.pairs for r in self.results.values())

    # -- serialisation -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (aggregates included; per-pair scores not)."""
        return {
            "format": FORMAT,
            "model": self.model,
            "overall": self.overall,
            "pairs": self.pairs,
            "fields": self.fields,
            "phenomena": self.phenomena,
            "paradigms": {
                name: {"accuracy": r.accuracy, **asdict(r)} for name, r in self.results.items()
            },
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BlimpReport:
        """A report from :meth:`to_dict`'s output (the aggregates are recomputed)."""
        if data.get("format") != FORMAT:
            raise InputError(f"not an l2t BLiMP report (format {data.get('format')!r})")
        results = {}
        for name, r in data["paradigms"].items():
            results[name] = ParadigmResult(
                name, r["field"], r["phenomenon"], int(r["pairs"]), int(r["correct"])
            )
        return cls(str(data["model"]), results, dict(data.get("meta", {})))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BlimpReport:
        """A report saved by :meth:`save` (its JSON file, or the directory holding it)."""
        p = Path(path)
        if p.is_dir():
            p = p / REPORT_JSON
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"cannot read BLiMP report {p}: {e}") from e
        if not isinstance(data, dict):
            raise InputError(f"{p}: not an l2t BLiMP report")
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{p}: malformed BLiMP report: {e!r}") from e

    def to_markdown(self) -> str:
        """The report as Markdown: the summary, then fields, phenomena and paradigms."""
        lines = [
            f"# BLiMP: {self.model}",
            "",
            f"**Overall: {_pct(self.overall)}** (mean over {len(self.results)} paradigms, "
            f"{self.pairs:,} pairs)",
        ]
        speed = self.meta.get("pairs_per_s")
        if speed:
            lines.append(
                f"\nScored on {self.meta.get('device', '?')} ({self.meta.get('dtype', '?')}) in "
                f"{self.meta.get('seconds', 0):.1f} s: {speed:,.1f} pairs/s."
            )
        lines += ["", "| field | accuracy |", "| --- | ---: |"]
        lines += [f"| {k} | {_pct(v)} |" for k, v in self.fields.items()]
        lines += ["", "| phenomenon | accuracy |", "| --- | ---: |"]
        lines += [f"| {k} | {_pct(v)} |" for k, v in self.phenomena.items()]
        lines += [
            "",
            "| paradigm | field | phenomenon | pairs | accuracy |",
            "| --- | --- | --- | ---: | ---: |",
        ]
        lines += [
            f"| {r.name} | {r.field} | {r.phenomenon} | {r.pairs} | {_pct(r.accuracy)} |"
            for r in self.results.values()
        ]
        return "\n".join(lines) + "\n"

    def save(self, out_dir: str | os.PathLike[str], *, pairs: bool = False) -> list[Path]:
        """Writes ``blimp.json`` and ``blimp.md`` (and ``blimp-pairs.jsonl`` with `pairs`).

        Returns:
            The paths written.

        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / REPORT_JSON, out / REPORT_MD]
        written[0].write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        written[1].write_text(self.to_markdown(), encoding="utf-8")
        if pairs:
            path = out / PAIRS_JSONL
            with path.open("w", encoding="utf-8") as f:
                for s in self.scores:
                    f.write(json.dumps({**asdict(s), "correct": s.correct}) + "\n")
            written.append(path)
        return written


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def compare_table(
    reports: Sequence[BlimpReport | str | os.PathLike[str]],
    names: Sequence[str] | None = None,
    *,
    paradigms: bool = False,
) -> str:
    """A Markdown table of several models side by side (accuracy in %, best in bold).

    Args:
        reports: reports, or paths to their JSON (or to directories holding ``blimp.json``).
        names: column headings (default: each report's model).
        paradigms: add a row per paradigm below the fields and phenomena.

    Returns:
        The table: overall, pairs, then a row per field and per phenomenon (and paradigm).

    """
    loaded = [r if isinstance(r, BlimpReport) else BlimpReport.load(r) for r in reports]
    heads = list(names) if names is not None else [r.model for r in loaded]
    if len(heads) != len(loaded):
        raise ConfigError(f"{len(heads)} names for {len(loaded)} reports")

    def row(label: str, values: list[float | None]) -> str:
        present = [v for v in values if v is not None]
        best = max(present) if len(present) > 1 else None
        cells = []
        for v in values:
            text = "—" if v is None else _pct(v)
            cells.append(f"**{text}**" if v is not None and v == best else text)
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = [
        "| | " + " | ".join(heads) + " |",
        "| --- |" + " ---: |" * len(heads),
        row("**overall**", [r.overall for r in loaded]),
        "| pairs | " + " | ".join(f"{r.pairs:,}" for r in loaded) + " |",
    ]
    sections: list[tuple[str, list[dict[str, float]]]] = [
        ("field", [r.fields for r in loaded]),
        ("phenomenon", [r.phenomena for r in loaded]),
    ]
    if paradigms:
        sections.append(("paradigm", [r.paradigms for r in loaded]))
    for kind, tables in sections:
        keys = sorted({k for t in tables for k in t})
        lines += [row(f"{kind}: {k}", [t.get(k) for t in tables]) for k in keys]
    return "\n".join(lines) + "\n"
