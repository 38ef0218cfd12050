"""Named points where a test may kill a run: fault injection for the writing protocol.

The crash-safety tests stop ``l2t generate`` at each step of writing a part and its records
(see :mod:`l2t.output_dir`) and check that a rerun ends byte-identical to an uninterrupted run.
The points: ``intent-written``, ``part-written``, ``part-renamed``, ``progress-saved`` and
``before-manifest``.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

FAULT_ENV = "L2T_KILL_AT"

_hits: Counter[str] = Counter()


def fault_point(name: str) -> None:
    """Kills this process (SIGKILL) at the point `name` when ``L2T_KILL_AT`` names it.

    ``L2T_KILL_AT=part-renamed`` kills at the first time the point is reached,
    ``part-renamed@3`` at the third. Unset (always, outside tests) it costs one lookup.
    """
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    target, _, nth = spec.partition("@")
    if target != name:
        return
    _hits[name] += 1
    if _hits[name] == int(nth or 1):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
