"""What a comparison is: the arms, the shared training settings, the evaluation, the seeds.

An arm is a way of making the training stream from the same documents. Everything else (model,
seed, schedule, token budget, evaluation) is shared, so the arms differ in their data alone.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from l2t._l2t import ConfigError
from l2t.settings import check_fields, read_settings

# The paper's scenarios. ``raw_ratio`` is the share of documents read as plain next-token text;
# the rest become L2T examples ("disjoint"), or every document is used both ways ("shared",
# where the ratio plays no part).
ARMS: dict[str, dict[str, Any]] = {
    "raw": {"raw_ratio": 1.0},
    "l2t-disjoint": {"raw_ratio": 0.5, "mixing": "disjoint"},
    "l2t-shared": {"raw_ratio": 0.5, "mixing": "shared"},
    "l2t-mix25": {"raw_ratio": 0.25, "mixing": "disjoint"},
    "l2t-mix75": {"raw_ratio": 0.75, "mixing": "disjoint"},
    "l2t-only": {"raw_ratio": 0.0, "mixing": "disjoint"},
}
BASELINE = "raw"
# Training fields an experiment sets itself, per arm and seed; a recipe may not set them.
_MANAGED = {
    "run_dir", "data", "tokenizer", "profile", "seed", "raw_ratio", "val_data", "val_every",
    "blimp_data", "blimp_every", "blimp_limit", "checkpoint_every", "stop_after",
}  # fmt: skip


@dataclass(frozen=True)
class Arm:
    """One way of making the training stream: a name, a raw share and the mixing."""

    name: str
    raw_ratio: float
    mixing: str = "disjoint"

    @classmethod
    def parse(cls, spec: str | dict[str, Any]) -> Arm:
        """A known arm's name, or a mapping ``{"name", "raw_ratio", "mixing"}``."""
        if isinstance(spec, str):
            if spec not in ARMS:
                raise ConfigError(f"unknown arm {spec!r}; known: {sorted(ARMS)} (or a mapping)")
            return cls(spec, **ARMS[spec])
        unknown = sorted(set(spec) - {"name", "raw_ratio", "mixing"})
        if unknown or "name" not in spec or "raw_ratio" not in spec:
            raise ConfigError(f"an arm mapping has name, raw_ratio and mixing, not {spec}")
        return cls(spec["name"], float(spec["raw_ratio"]), spec.get("mixing", "disjoint"))


@dataclass
class ExperimentConfig:
    """A comparison of arms at the same token budget; saved as ``experiment.json``.

    Attributes:
        out_dir: where runs, reports and plots go (``runs/<arm>/seed-<n>/``, ``report.md``).
        corpus: a directory of plain-text books (cut into documents, some books held out for
            validation) or any l2t source of documents (then ``val_data`` is the held-out text).
        tokenizer: the tokenizer (a ``tokenizer.json`` path, a directory, or a name).
        blimp_data: BLiMP's directory of jsonl files.
        arms: arm names (``raw``, ``l2t-disjoint``, ``l2t-shared``, ``l2t-mix25``, ...) or
            mappings; ``raw`` is the baseline the others are compared with.
        seeds: one training run per arm and seed; with several the report gives mean ± spread
            and the paired difference to ``raw`` per seed.
        profile: the L2T profile (``paper`` reproduces the reference's data).
        train: :class:`l2t.train.trainer.TrainConfig` fields shared by every run (model,
            seq_len, batch_size, max_steps, lr, ...).
        eval_every: steps between evaluations (validation loss and BLiMP on ``curve_limit``
            pairs per paradigm): the points of the acquisition curves.
        curve_limit: BLiMP pairs per paradigm at each curve point (None: all 1000).
        final_limit: BLiMP pairs per paradigm for the final scores (None: all 67,000).
        val_data: held-out text when ``corpus`` is not a book directory.
        holdout_books: books held out for validation (from a book directory).
        doc_chars: characters per document when cutting books (whole paragraphs).
        max_train_bytes: use only this much of the training books' text (None: all).
        device: ``auto``, ``cuda`` or ``cpu``.

    """

    out_dir: str
    corpus: str
    tokenizer: str
    blimp_data: str
    arms: list[Any] = field(default_factory=lambda: ["raw", "l2t-disjoint"])
    seeds: list[int] = field(default_factory=lambda: [0])
    profile: str = "paper"
    train: dict[str, Any] = field(default_factory=dict)
    eval_every: int = 100
    curve_limit: int | None = 100
    final_limit: int | None = None
    val_data: str | None = None
    holdout_books: int = 4
    doc_chars: int = 4000
    max_train_bytes: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        managed = sorted(set(self.train) & _MANAGED)
        if managed:
            raise ConfigError(f"the experiment sets {managed} itself; remove them from 'train'")
        arms = [Arm.parse(a) for a in self.arms]
        names = [a.name for a in arms]
        if len(set(names)) != len(names):
            raise ConfigError(f"arm names must be distinct: {names}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds must be distinct and at least one: {self.seeds}")
        if self.eval_every < 1:
            raise ConfigError(f"eval_every must be >= 1, not {self.eval_every}")

    @property
    def arm_list(self) -> list[Arm]:
        """The arms, parsed."""
        return [Arm.parse(a) for a in self.arms]

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **overrides: Any) -> ExperimentConfig:
        """A config from a JSON (or YAML, with PyYAML) recipe, with field overrides."""
        try:
            return cls.from_dict({**read_settings(path), **overrides})
        except ConfigError as e:
            if str(e).startswith(str(path)):  # read_settings named the file already
                raise
            raise ConfigError(f"{path}: {e}") from None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ExperimentConfig:
        """A config from a mapping; unknown keys are refused, not ignored."""
        check_fields(cls, values, "experiment options")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready data."""
        return asdict(self)
