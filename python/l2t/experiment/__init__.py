"""Reproducing the L2T effect: raw vs L2T pre-training at equal tokens, scored on BLiMP.

>>> from l2t.experiment import ExperimentConfig, compare
>>> cfg = ExperimentConfig.from_file("recipes/novels-compare.json")  # doctest: +SKIP
>>> compare(cfg)  # doctest: +SKIP
"""

from l2t.experiment.compare import compare, train_config
from l2t.experiment.config import ARMS, Arm, ExperimentConfig
from l2t.experiment.prepare import split_books
from l2t.experiment.report import RunResult, aggregate, write_report

__all__ = [
    "ARMS",
    "Arm",
    "ExperimentConfig",
    "RunResult",
    "aggregate",
    "compare",
    "split_books",
    "train_config",
    "write_report",
]
