"""Evaluating language models: BLiMP linguistic competence, its acquisition, held-out perplexity.

>>> from l2t.eval import blimp
>>> report = blimp("runs/l2t", data="blimp/data", limit=100)  # doctest: +SKIP
>>> report.overall, report.fields  # doctest: +SKIP

- :func:`blimp`: BLiMP accuracy as lm-evaluation-harness scores it (``docs/eval.md``), per
  paradigm, field and phenomenon (:class:`BlimpReport`; JSON and Markdown).
- :class:`BlimpSuite`: BLiMP read and tokenized once, to score many checkpoints.
- :func:`acquisition_curve`: BLiMP over the checkpoints of runs, plotted against training tokens.
- :func:`compare_table`: several reports side by side.
- :func:`perplexity`: loss, perplexity and bits per byte on held-out text.
- :func:`load_model`: l2t checkpoints and runs, Hugging Face directories, GGUF files.

The names are imported on first use, so ``l2t`` (and its command line) loads without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers; at run time __getattr__ imports on first use
    from l2t.eval.curve import acquisition_curve as acquisition_curve
    from l2t.eval.heldout import perplexity as perplexity
    from l2t.eval.minimal_pairs import BlimpSuite as BlimpSuite
    from l2t.eval.minimal_pairs import blimp as blimp
    from l2t.eval.models import LoadedModel as LoadedModel
    from l2t.eval.models import load_model as load_model
    from l2t.eval.report import BlimpReport as BlimpReport
    from l2t.eval.report import compare_table as compare_table

_EXPORTS = {
    "blimp": "l2t.eval.minimal_pairs",
    "BlimpSuite": "l2t.eval.minimal_pairs",
    "acquisition_curve": "l2t.eval.curve",
    "LoadedModel": "l2t.eval.models",
    "load_model": "l2t.eval.models",
    "perplexity": "l2t.eval.heldout",
    "BlimpReport": "l2t.eval.report",
    "compare_table": "l2t.eval.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'l2t.eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # the next lookup skips this function
    return value
