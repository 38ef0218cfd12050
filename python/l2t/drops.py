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


def length_drops(counts: Mapping[str, Any]) -> tuple[int, int]:
    """(examples kept, examples dropped as too long) from engine counters.

    `counts` is an engine ``stats`` dict (its ``tasks`` a list of ``[name, counts]`` pairs) or
    a manifest's counts (``tasks`` a mapping of name to counts).
    """
    tasks = counts.get("tasks", {})
    per_task = tasks.values() if isinstance(tasks, Mapping) else (c for _, c in tasks)
    kept = dropped = 0
    for c in per_task:
        kept += c.get("examples", 0)
        dropped += c.get("too_long", 0)
    return kept, dropped


def warn_if_most_dropped(kept: int, dropped: int, max_length: int, *, stacklevel: int = 2) -> None:
    """Warns (:class:`DroppedExamplesWarning`) when more examples were dropped than kept."""
    if dropped > kept and kept + dropped >= MIN_EXAMPLES_TO_WARN:
        warnings.warn(
            f"{dropped:,} of {kept + dropped:,} examples were longer than max_length="
            f"{max_length} ids and were dropped; raise seq_len, set max_length, or mix in raw "
            "text (raw_ratio) if that is not what you want",
            DroppedExamplesWarning,
            stacklevel=stacklevel + 1,
        )
