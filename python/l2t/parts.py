"""The document stream cut into parts, and the reading of the parts one run makes.

The inputs form one stream of rows (documents), numbered globally in input order. Part ``k``
holds rows ``[k * shard_docs, (k + 1) * shard_docs)``; its output depends only on its own rows and
on the row just before it (the previous-document link). A :class:`PartReader` reads the rows of
the parts a caller wants (``l2t generate`` a shard's parts, a streaming data-loader worker its
own) and the rows just before them, skipping the others without parsing them where the format
allows (Parquet row groups, JSON lines), and cuts them into engine batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from l2t import _l2t
from l2t.sources import Source

# Upper bounds that catch typos before they become an allocation failure or a run that never ends.
LAYOUT_LIMITS = {"shard_docs": 1 << 40, "batch_docs": 1 << 22, "batch_bytes": 1 << 40}


@dataclass(frozen=True)
class Layout:
    """How the document stream is cut; part of a dataset's identity (it changes the bytes).

    Attributes:
        shard_docs: documents per output part (the unit of resume and of shard-by-index).
        batch_docs: documents per engine call (packing and raw-text blocks work within a call).
        batch_bytes: text bytes that close a batch early (bounds memory on long documents).

    """

    shard_docs: int = 65536
    batch_docs: int = 1000
    batch_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        for name, most in LAYOUT_LIMITS.items():
            value = getattr(self, name)
            if type(value) is not int or not 1 <= value <= most:
                raise _l2t.ConfigError(f"{name} must be an integer in [1, {most}], not {value!r}")


@dataclass
class Batch:
    """Documents of one part that go to the engine together."""

    part: int
    number: int  # within the part
    first_doc: int
    texts: list[Any] = field(default_factory=list)
    token_counts: list[int | None] = field(default_factory=list)
    previous: Any = None
    text_bytes: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PartEnd:
    """The part's rows are all read; `end_doc` is one past its last."""

    part: int
    end_doc: int


@dataclass
class StreamEnd:
    """The stream is exhausted after `input_rows` rows."""

    input_rows: int
    input_errors: list[dict[str, Any]]


@dataclass
class Row:
    """One loaded row of the global stream: its text (or ids) and where it came from."""

    doc: int
    text: Any
    token_count: int | None
    skip: dict[str, Any] | None = None


class PartReader:
    """Reads the rows of the wanted parts of a document stream, and batches them.

    Args:
        sources: the inputs, in stream order.
        layout: how the stream is cut (parts and batches).
        wanted: whether the caller makes part ``k``.
        max_docs: use only the first `max_docs` rows.
        on_error: ``"raise"`` or ``"skip"`` (a bad row becomes an empty document, recorded).
        vocab_size: token ids at or above it are bad rows.

    """

    def __init__(
        self,
        sources: list[Source],
        layout: Layout,
        wanted: Callable[[int], bool],
        *,
        max_docs: int | None,
        on_error: str,
        vocab_size: int,
    ) -> None:
        self.sources = sources
        self.layout = layout
        self.wanted = wanted
        self.max_docs = max_docs
        self.on_error = on_error
        self.vocab_size = vocab_size
        self.input_errors: list[dict[str, Any]] = []
        self.bytes_done = 0  # input bytes of finished sources, for an ETA
        self.current: Source | None = None

    def needed(self, doc: int) -> bool:
        """Whether row `doc` must be loaded: it is in a wanted part, or precedes one."""
        s = self.layout.shard_docs
        return self.wanted(doc // s) or ((doc + 1) % s == 0 and self.wanted((doc + 1) // s))

    def first_needed(self, lo: int, hi: int) -> int | None:
        """The first needed row in ``[lo, hi)``, or None."""
        s = self.layout.shard_docs
        k = lo // s
        while k * s - 1 < hi:
            if self.wanted(k):
                first = max(lo, k * s - 1)
                if first < hi:
                    return first
            k += 1
        return None

    # -- reading ----------------------------------------------------------------------------

    def rows(self) -> Iterator[Row | int]:
        """The needed rows in order; finally the total number of rows in the stream."""
        limit = self.max_docs if self.max_docs is not None else float("inf")
        base = 0
        for source in self.sources:
            if base >= limit:
                break
            self.current = source
            n = source.num_rows()
            if n is None:
                base = yield from self._scan(source, base, limit)
            else:
                yield from self._seek(source, base, int(min(base + n, limit)))
                base += n
            self.bytes_done += source.bytes
            self.current = None
        yield int(min(base, limit))

    def _scan(self, source: Source, base: int, limit: float) -> Iterator[Row]:
        """Reads a source of unknown length to its end; returns the next global row index."""
        end = base
        it = source.rows(0)
        try:
            for raw in it:
                doc = base + raw.index
                if doc >= limit:
                    break
                end = doc + 1
                if self.needed(doc):
                    yield self._load(source, raw, doc)
        except GeneratorExit:
            # The consumer dropped the stream (maybe at interpreter exit, when this module's
            # globals and _l2t's may already be None): `_l2t.SourceError` must not be evaluated.
            raise
        except _l2t.SourceError as e:
            if self.on_error == "raise":
                raise
            self.input_errors.append(
                {"path": source.name, "rows_read": end - base, "reason": str(e)}
            )
        finally:
            # Not contextlib.suppress: at exit `contextlib` may be None like any module global.
            try:  # noqa: SIM105
                it.close()  # type: ignore[attr-defined]
            except Exception:  # a source failing to close must not hide why we stopped
                pass
        return end

    def _seek(self, source: Source, base: int, end: int) -> Iterator[Row]:
        """Reads only the needed runs of rows of a source of known length."""
        pos = base
        while (first := self.first_needed(pos, end)) is not None:
            doc = first
            it = source.rows(first - base)
            try:
                for raw in it:
                    doc = base + raw.index
                    if doc >= end or not self.needed(doc):
                        break
                    yield self._load(source, raw, doc)
                    doc += 1
            except GeneratorExit:
                raise  # dropped by the consumer: as in _scan, evaluate no module global
            except _l2t.SourceError as e:
                if self.on_error == "raise":
                    raise
                # The rest of this run is unreadable: empty placeholders keep the numbering.
                while doc < end and self.needed(doc):
                    yield Row(doc, "", None, skip_record(source, doc - base, f"unreadable: {e}"))
                    doc += 1
            finally:
                try:  # noqa: SIM105 (builtins only, as in _scan)
                    it.close()  # type: ignore[attr-defined]
                except Exception:  # as in _scan
                    pass
            pos = max(doc, first + 1)

    def _load(self, source: Source, raw: Any, doc: int) -> Row:
        try:
            loaded = raw.load()
            text = loaded.text
            if not isinstance(text, str):
                ids = np.asarray(text, dtype=np.int64)
                vocab = self.vocab_size
                if ids.size and (ids.min() < 0 or ids.max() >= vocab):
                    bad = int(ids[(ids < 0) | (ids >= vocab)][0])
                    raise _l2t.SourceError(
                        f"{source.name}: row {raw.index}: token id {bad} is outside the "
                        f"vocabulary (size {vocab})"
                    )
            return Row(doc, text, loaded.token_count)
        except _l2t.SourceError as e:
            if self.on_error == "raise":
                raise
            return Row(doc, "", None, skip_record(source, raw.index, str(e)))

    def work(self) -> Iterator[Batch | PartEnd | StreamEnd]:
        """Batches of the wanted parts, part ends, and the stream's end."""
        s, lay = self.layout.shard_docs, self.layout
        batch: Batch | None = None
        part, number = -1, 0  # the part being made (-1: none) and its next batch number
        last: Row | None = None  # the row before the next batch's first
        for row in self.rows():
            k = -1 if isinstance(row, int) else row.doc // s
            if part >= 0 and k != part:  # the part is whole
                if batch is not None:
                    yield batch
                    batch = None
                assert last is not None
                yield PartEnd(part, last.doc + 1)
                part = -1
            if isinstance(row, int):
                yield StreamEnd(row, list(self.input_errors))
                return
            if not self.wanted(k):  # the row before a wanted part: only its text is needed
                last = row
                continue
            if part < 0:
                part, number = k, 0
            if batch is None:
                previous = last.text if last is not None and last.doc == row.doc - 1 else None
                batch = Batch(part, number, row.doc, previous=previous)
                number += 1
            batch.texts.append(row.text)
            batch.token_counts.append(row.token_count)
            batch.text_bytes += text_bytes(row.text)
            if row.skip is not None:
                batch.skipped.append(row.skip)
            last = row
            if len(batch.texts) >= lay.batch_docs or batch.text_bytes >= lay.batch_bytes:
                yield batch
                batch = None

    def input_done(self) -> int:
        """Input bytes consumed so far (approximate, for the ETA)."""
        current = self.current
        return self.bytes_done + (current.bytes_read() if current is not None else 0)


def skip_record(source: Source, row: int, reason: str) -> dict[str, Any]:
    """The manifest record of a skipped row."""
    return {"path": source.name, "row": row, "reason": reason}


def text_bytes(text: Any) -> int:
    """UTF-8 size of a document (4 bytes an id for token-id documents)."""
    if isinstance(text, str):
        return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return 4 * len(text)
