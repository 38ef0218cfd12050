"""Examples dropped for length: the one warning that says so, wherever examples are made.

The engine never truncates an example (a cut prompt or answer would teach the wrong thing): one
with more ids than ``max_length`` (at most ``seq_len``) is dropped and counted as ``too_long``.
With a short ``seq_len`` and no raw text that can be most of the output, which without a word
looks like a corpus that yields almost nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

# Below this many candidate examples, a high drop share says little about the corpus.
MIN_EXAMPLES_TO_WARN = 20


class DroppedExamplesWarning(UserWarning):
    """Most examples were longer than the row (``max_length``) and were dropped."""


def _per_task(counts: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Per-task counters by name.

    From an engine ``stats`` dict (``tasks`` a list of ``[name, counts]`` pairs) or a manifest's
    or stream's counts (``tasks`` a mapping of name to counts).
    """
    tasks = counts.get("tasks", {})
    return dict(tasks.items() if isinstance(tasks, Mapping) else tasks)


def length_drops(counts: Mapping[str, Any]) -> tuple[int, int]:
    """(examples kept, examples dropped as too long) from engine counters."""
    tasks = _per_task(counts).values()
    return sum(c.get("examples", 0) for c in tasks), sum(c.get("too_long", 0) for c in tasks)


def most_dropped(kept: int, dropped: int, min_examples: int = MIN_EXAMPLES_TO_WARN) -> bool:
    """The warning's rule: more examples dropped than kept, out of at least `min_examples`."""
    return kept + dropped >= min_examples and 2 * dropped > kept + dropped


def warn_if_most_dropped(
    counts: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    who: str,
    min_examples: int = MIN_EXAMPLES_TO_WARN,
    stacklevel: int = 2,
) -> bool:
    """Warns (:class:`DroppedExamplesWarning`) when more examples were dropped than kept.

    `counts` are engine counters summed over what `who` (``"l2t generate"``, ``"L2TStream"``)
    made, `config` the engine's configuration. Returns whether it warned.
    """
    kept, dropped = length_drops(counts)
    if not most_dropped(kept, dropped, min_examples):
        return False
    tried = kept + dropped
    seq_len, max_length = config["seq_len"], config["max_length"]
    worst = sorted(_per_task(counts).items(), key=lambda kv: -kv[1].get("too_long", 0))[:3]
    warnings.warn(
        f"{who} dropped {dropped:,} of {tried:,} examples ({100 * dropped / tried:.0f}%) because "
        f"they are longer than {min(seq_len, max_length)} tokens (an example must fit in a row: "
        f"seq_len={seq_len}, max_length={max_length}); it made {counts.get('rows', 0):,} rows "
        f"from {counts.get('documents', 0):,} documents. Most dropped: "
        + ", ".join(f"{task} {c.get('too_long', 0)}" for task, c in worst)
        + ". Raise seq_len (and max_length if it is the smaller), or add raw text "
        "(raw_ratio=...) to fill the rows.",
        DroppedExamplesWarning,
        stacklevel=stacklevel + 1,
    )
    return True
