"""A one-line progress display for long jobs: documents, MB/s, tokens/s and ETA.

It draws on standard error only when that is a terminal (log files and CI stay clean) and at most
a few times a second, so it costs nothing measurable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Counts documents, input bytes and output tokens; draws when on a terminal.

    Args:
        total_bytes: the input size for the ETA (0 or unknown: no ETA).
        enabled: draw at all; ``None`` means "when standard error is a terminal".
        stream: where to draw (standard error by default).

    """

    def __init__(
        self, total_bytes: int = 0, *, enabled: bool | None = None, stream: TextIO | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total_bytes = total_bytes
        self.documents = 0
        self.text_bytes = 0
        self.tokens = 0
        self.start = time.perf_counter()
        self._drawn = 0.0

    def update(self, documents: int, text_bytes: int, tokens: int, input_done: int = 0) -> None:
        """Adds a batch's counts; `input_done` is how many input bytes are consumed so far."""
        self.documents += documents
        self.text_bytes += text_bytes
        self.tokens += tokens
        now = time.perf_counter()
        if self.enabled and now - self._drawn >= 0.25:
            self._drawn = now
            self._draw(now, input_done)

    def line(self, now: float | None = None, input_done: int = 0) -> str:
        """The current status line."""
        elapsed = max((now or time.perf_counter()) - self.start, 1e-9)
        text = (
            f"{self.documents:,} docs | {self.text_bytes / 1e6:,.1f} MB "
            f"{self.text_bytes / 1e6 / elapsed:.2f} MB/s | "
            f"{self.tokens / 1e6:,.1f}M tokens {self.tokens / 1e6 / elapsed:.2f}M/s | "
            f"{_duration(elapsed)}"
        )
        if self.total_bytes and 0 < input_done < self.total_bytes:
            remaining = elapsed * (self.total_bytes - input_done) / input_done
            text += f" ETA {_duration(remaining)} ({input_done / self.total_bytes:.0%})"
        return text

    def _draw(self, now: float, input_done: int) -> None:
        self.stream.write("\r" + self.line(now, input_done) + "\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        """Ends the line if anything was drawn."""
        if self.enabled and self._drawn:
            self.stream.write("\r" + self.line() + "\x1b[K\n")
            self.stream.flush()
