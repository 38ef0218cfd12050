"""Corpus in, L2T training data on disk out: parts, a manifest, resume, and shard-by-index.

The inputs form one stream of rows (documents), numbered globally in input order. The stream is
cut into *parts* of ``shard_docs`` rows; part ``k`` holds rows ``[k * shard_docs, (k + 1) *
shard_docs)`` and is written to ``part-{k:06d}.<ext>``. A part's bytes depend only on its own
rows and on the row just before it (the previous-document link), so parts can be made in any
order, by any machine: ``shard_index=i, num_shards=n`` makes the parts with ``k % n == i``, and
the union of the ``n`` runs is the single-machine output, byte for byte. Within a part, rows go
to the engine in batches of at most ``batch_docs`` documents and ``batch_bytes`` of text.

Crash safety: a part is written under a temporary name and renamed when whole, and the manifest
is rewritten (atomically) after each part. A rerun with the same arguments keeps the parts the
manifest lists (after checking their sizes and hashes) and makes the rest: the final directory is
byte-identical to an uninterrupted run's. A directory holding another configuration's data is
refused unless ``overwrite=True``.

Reading (and parsing) runs in a background thread one batch ahead, while the engine works with
the GIL released on all cores; memory is bounded by a few batches, whatever the input size.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l2t import _l2t, manifest, shards
from l2t.engine import Engine
from l2t.progress import Progress
from l2t.sources import Source, open_sources
from l2t.tokenizer import Tokenizer, tokenizer_json

ON_ERROR = ("raise", "skip")
TOKENIZER_FILE = "tokenizer.json"


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
        for name in ("shard_docs", "batch_docs", "batch_bytes"):
            if getattr(self, name) < 1:
                raise _l2t.ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")


@dataclass
class _Batch:
    part: int
    number: int  # within the part
    first_doc: int
    texts: list[Any] = field(default_factory=list)
    token_counts: list[int | None] = field(default_factory=list)
    previous: Any = None
    text_bytes: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _PartEnd:
    part: int
    end_doc: int


@dataclass
class _StreamEnd:
    input_rows: int
    input_errors: list[dict[str, Any]]


@dataclass
class _Row:
    """One loaded row of the global stream: its text (or ids) and where it came from."""

    doc: int
    text: Any
    token_count: int | None
    skip: dict[str, Any] | None = None


def generate(
    inputs: Any,
    *,
    tokenizer: Any,
    output: str | os.PathLike[str],
    profile: str = "default",
    seed: int = 0,
    format: str = "parquet",
    tasks: list[str] | None = None,
    shard_index: int = 0,
    num_shards: int = 1,
    max_docs: int | None = None,
    text_field: str = "text",
    text_split: str = "file",
    input_format: str | None = None,
    on_error: str = "raise",
    overwrite: bool = False,
    threads: int | None = None,
    progress: bool | None = None,
    layout: Layout | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Generates L2T training data from `inputs` into the directory `output`.

    Args:
        inputs: files, directories or globs (Parquet, JSONL plain/.gz/.zst, text), a list of
            them, a Hugging Face dataset, or an iterable of documents (see :mod:`l2t.sources`).
        tokenizer: the training tokenizer (path, ``tokenizers.Tokenizer``, JSON, ...).
        output: the output directory (created if missing).
        profile: ``"paper"`` or ``"default"`` (see :class:`l2t.Engine`).
        seed: keys every random draw.
        format: ``"parquet"`` (packed rows with segments), ``"bin"`` (packed ids, nanoGPT-style)
            or ``"jsonl"`` (examples and raw documents as text, for inspection and SFT).
        tasks: only these tasks (equal weights); ``task_weights=...`` sets weights instead.
        shard_index: which of `num_shards` cooperating runs this is (0-based).
        num_shards: runs that split the parts between them (one per machine or array task).
        max_docs: use only the first `max_docs` documents of the stream.
        text_field: the text field of JSONL/Parquet rows.
        text_split: text files: ``"file"`` (a file is a document) or ``"blank-lines"``.
        input_format: force the input format of explicitly named files.
        on_error: ``"raise"`` stops at the first bad row (naming file and row); ``"skip"``
            records it in the manifest and goes on.
        overwrite: replace l2t data of another configuration found in `output`.
        threads: engine threads (default: every core this process may use).
        progress: draw a progress line (default: when standard error is a terminal).
        layout: how the stream is cut into parts and batches (:class:`Layout`).
        **overrides: engine options (``seq_len``, ``raw_ratio``, ``mixing``, ``mix_by``,
            ``task_weights``, ``packing``, ...; see :class:`l2t.Engine`).

    Returns:
        The manifest of this run (also written to ``output``).

    """
    layout = layout or Layout()
    if format not in shards.FORMATS:
        raise _l2t.ConfigError(f"unknown format {format!r}; choose one of {shards.FORMATS}")
    if on_error not in ON_ERROR:
        raise _l2t.ConfigError(f"on_error must be one of {ON_ERROR}, not {on_error!r}")
    if not 0 <= shard_index < num_shards:
        raise _l2t.ConfigError(f"shard_index {shard_index} is not in [0, {num_shards})")
    if max_docs is not None and max_docs < 0:
        raise _l2t.ConfigError(f"max_docs must be >= 0, not {max_docs}")
    if tasks is not None:
        if "task_weights" in overrides:
            raise _l2t.ConfigError("give tasks or task_weights, not both")
        overrides["task_weights"] = dict.fromkeys(tasks, 1.0)

    sources = open_sources(
        inputs, text_field=text_field, text_split=text_split, input_format=input_format
    )
    tok_json = tokenizer_json(tokenizer)
    engine = Engine(tok_json, profile=profile, seed=seed, threads=threads or _cores(), **overrides)
    tok = Tokenizer(tok_json)
    identity = _identity(
        engine,
        tok,
        tok_json,
        sources,
        format,
        layout,
        text_field,
        text_split,
        input_format,
        on_error,
        max_docs,
    )
    run = _Run(
        engine=engine,
        tokenizer=tok,
        sources=sources,
        directory=Path(output),
        identity=identity,
        fmt=format,
        layout=layout,
        shard=(shard_index, num_shards),
        max_docs=max_docs,
        on_error=on_error,
    )
    run.prepare(overwrite=overwrite, tokenizer_text=tok_json)
    return run.execute(progress)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _identity(
    engine: Engine,
    tok: Tokenizer,
    tok_json: str,
    sources: list[Source],
    fmt: str,
    layout: Layout,
    text_field: str,
    text_split: str,
    input_format: str | None,
    on_error: str,
    max_docs: int | None,
) -> dict[str, Any]:
    import pyarrow

    config = {k: v for k, v in engine.config.items() if k != "threads"}  # output is the same
    return {
        "versions": {"l2t": _l2t.__version__, "pyarrow": pyarrow.__version__},
        "config": config,
        "tokenizer": {
            "sha256": hashlib.sha256(tok_json.encode()).hexdigest(),
            "vocab_size": tok.vocab_size,
            "pad_id": engine.pad_id,
            "eos_id": engine.eos_id,
        },
        "layout": {
            "format": fmt,
            "shard_docs": layout.shard_docs,
            "batch_docs": layout.batch_docs,
            "batch_bytes": layout.batch_bytes,
            "text_field": text_field,
            "text_split": text_split,
            "input_format": input_format,
            "on_error": on_error,
            "max_docs": max_docs,
        },
        "inputs": [s.info() for s in sources],
    }


def _is_ours(name: str) -> bool:
    """Files l2t writes into an output directory (and may remove with ``overwrite``)."""
    return (
        name == TOKENIZER_FILE
        or (name.startswith("manifest") and name.endswith(".json"))
        or (name.startswith("part-") and name.endswith(tuple(shards.EXTENSIONS.values())))
        or (name.startswith((".part-", ".manifest")) and name.endswith(".tmp"))
        or name == f".{TOKENIZER_FILE}.tmp"
    )


class _Run:
    """One call of :func:`generate`: the state that lives as long as the run."""

    def __init__(
        self,
        *,
        engine: Engine,
        tokenizer: Tokenizer,
        sources: list[Source],
        directory: Path,
        identity: dict[str, Any],
        fmt: str,
        layout: Layout,
        shard: tuple[int, int],
        max_docs: int | None,
        on_error: str,
    ) -> None:
        self.engine = engine
        self.tokenizer = tokenizer
        self.sources = sources
        self.directory = directory
        self.identity = identity
        self.fmt = fmt
        self.layout = layout
        self.shard = shard
        self.max_docs = max_docs
        self.on_error = on_error
        self.manifest_path = directory / manifest.manifest_name(*shard)
        self.done: dict[int, dict[str, Any]] = {}  # completed parts by index
        self.kept: frozenset[int] = frozenset()  # parts a previous run completed (not remade)
        self.input_errors: list[dict[str, Any]] = []
        self.bytes_done = 0  # input bytes of finished sources, for the ETA
        self.current: Source | None = None

    # -- output directory -------------------------------------------------------------------

    def prepare(self, *, overwrite: bool, tokenizer_text: str) -> None:
        """Creates, checks or clears the output directory and loads what a rerun can keep."""
        d = self.directory
        if d.exists() and not d.is_dir():
            raise _l2t.OutputError(f"{d} exists and is not a directory")
        d.mkdir(parents=True, exist_ok=True)
        ours = sorted(p for p in d.iterdir() if _is_ours(p.name))
        if overwrite:
            for p in ours:
                p.unlink()
            ours = []
        for p in ours:
            if p.name.endswith(".tmp"):  # a run that was killed while writing
                p.unlink()
        manifests = [p for p in ours if p.name.startswith("manifest") and p.exists()]
        for path in manifests:
            try:
                old = manifest.identity_of(manifest.read_manifest(path))
            except _l2t.OutputError:
                old = {}
            if old != self.identity:
                diff = manifest.describe_difference(old, self.identity)
                raise _l2t.OutputError(
                    f"{d} holds data generated with another configuration ({path.name}: {diff} "
                    "differ); pass overwrite=True (--overwrite) to replace it, or choose another "
                    "directory"
                )
        parts = [p for p in ours if p.name.startswith("part-") and p.exists()]
        if parts and not manifests:
            raise _l2t.OutputError(
                f"{d} holds part files but no manifest; pass overwrite=True (--overwrite) to "
                "replace them, or choose another directory"
            )
        if self.manifest_path.exists():
            if any(i.get("format") == "python" for i in self.identity["inputs"]):
                raise _l2t.OutputError(
                    f"{d} holds a run over in-memory inputs, which cannot be checked for "
                    "changes; pass overwrite=True (--overwrite) to start again"
                )
            self._keep_verified_parts(manifest.read_manifest(self.manifest_path))
        tok_path = d / TOKENIZER_FILE
        if not tok_path.exists() or tok_path.read_text(encoding="utf-8") != tokenizer_text:
            tmp = d / f".{TOKENIZER_FILE}.tmp"
            tmp.write_text(tokenizer_text, encoding="utf-8")
            tmp.replace(tok_path)

    def _keep_verified_parts(self, old: dict[str, Any]) -> None:
        """Keeps the listed parts whose files are still whole (size and hash match)."""
        for part in old.get("parts", []):
            path = self.directory / part["file"]
            if (
                path.exists()
                and path.stat().st_size == part["bytes"]
                and manifest.file_sha256(path) == part["sha256"]
            ):
                self.done[part["index"]] = part
        self.kept = frozenset(self.done)

    def save(self, *, complete: bool, input_rows: int | None) -> dict[str, Any]:
        """Writes this run's manifest (atomically) and returns it."""
        doc = manifest.build(
            self.identity,
            list(self.done.values()),
            complete=complete,
            input_rows=input_rows,
            input_errors=self.input_errors,
            shard=self.shard if self.shard[1] > 1 else None,
        )
        manifest.write_json_atomic(self.manifest_path, doc)
        return doc

    # -- which rows this run needs ----------------------------------------------------------

    def wanted(self, part: int) -> bool:
        """Whether this run makes `part`."""
        index, count = self.shard
        return part % count == index and part not in self.kept

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

    def rows(self) -> Iterator[_Row | int]:
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

    def _scan(self, source: Source, base: int, limit: float) -> Iterator[_Row]:
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
        except _l2t.SourceError as e:
            if self.on_error == "raise":
                raise
            self.input_errors.append(
                {"path": source.name, "rows_read": end - base, "reason": str(e)}
            )
        finally:
            with contextlib.suppress(Exception):
                it.close()  # type: ignore[attr-defined]
        return end

    def _seek(self, source: Source, base: int, end: int) -> Iterator[_Row]:
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
            except _l2t.SourceError as e:
                if self.on_error == "raise":
                    raise
                # The rest of this run is unreadable: empty placeholders keep the numbering.
                while doc < end and self.needed(doc):
                    yield _Row(doc, "", None, _skip(source, doc - base, f"unreadable: {e}"))
                    doc += 1
            finally:
                with contextlib.suppress(Exception):
                    it.close()  # type: ignore[attr-defined]
            pos = max(doc, first + 1)

    def _load(self, source: Source, raw: Any, doc: int) -> _Row:
        try:
            loaded = raw.load()
            text = loaded.text
            if not isinstance(text, str):
                ids = np.asarray(text, dtype=np.int64)
                vocab = self.identity["tokenizer"]["vocab_size"]
                if ids.size and (ids.min() < 0 or ids.max() >= vocab):
                    bad = int(ids[(ids < 0) | (ids >= vocab)][0])
                    raise _l2t.SourceError(
                        f"{source.name}: row {raw.index}: token id {bad} is outside the "
                        f"vocabulary (size {vocab})"
                    )
            return _Row(doc, text, loaded.token_count)
        except _l2t.SourceError as e:
            if self.on_error == "raise":
                raise
            return _Row(doc, "", None, _skip(source, raw.index, str(e)))

    def work(self) -> Iterator[_Batch | _PartEnd | _StreamEnd]:
        """Batches of the wanted parts, part ends, and the stream's end."""
        s, lay = self.layout.shard_docs, self.layout
        batch: _Batch | None = None
        part, number = -1, 0  # the part being made (-1: none) and its next batch number
        last: _Row | None = None  # the row before the next batch's first
        for row in self.rows():
            k = -1 if isinstance(row, int) else row.doc // s
            if part >= 0 and k != part:  # the part is whole
                if batch is not None:
                    yield batch
                    batch = None
                assert last is not None
                yield _PartEnd(part, last.doc + 1)
                part = -1
            if isinstance(row, int):
                yield _StreamEnd(row, list(self.input_errors))
                return
            if not self.wanted(k):  # the row before a wanted part: only its text is needed
                last = row
                continue
            if part < 0:
                part, number = k, 0
            if batch is None:
                previous = last.text if last is not None and last.doc == row.doc - 1 else None
                batch = _Batch(part, number, row.doc, previous=previous)
                number += 1
            batch.texts.append(row.text)
            batch.token_counts.append(row.token_count)
            batch.text_bytes += _text_bytes(row.text)
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

    # -- writing ----------------------------------------------------------------------------

    def open_writer(self, part: int) -> shards.PartWriter:
        final = self.directory / shards.part_name(part, self.fmt)
        cfg = self.identity["config"]
        if self.fmt == "parquet":
            return shards.ParquetPartWriter(
                final,
                seq_len=cfg["seq_len"],
                loss_mask=cfg["profile"] != "paper",
                metadata={
                    "l2t.format": "packed-rows/1",
                    "l2t.seq_len": str(cfg["seq_len"]),
                    "l2t.pad_id": str(self.engine.pad_id),
                },
            )
        if self.fmt == "bin":
            return shards.BinPartWriter(
                final,
                seq_len=cfg["seq_len"],
                pad_id=self.engine.pad_id,
                vocab_size=self.identity["tokenizer"]["vocab_size"],
            )
        return shards.JsonlPartWriter(final)

    def process(
        self, batch: _Batch, writer: shards.PartWriter
    ) -> tuple[dict[str, Any], int, Callable[[], None]]:
        """Runs the engine on a batch: (stats, output tokens, the write of its output)."""
        previous = batch.previous
        if previous is not None and not isinstance(previous, str):
            previous = self.tokenizer.decode(list(previous))
        unit = batch.part * (self.layout.shard_docs + 1) + batch.number
        if self.fmt == "jsonl":
            examples, raw_docs, stats = self.engine.mixed_examples(
                batch.texts,
                token_counts=batch.token_counts,
                first_doc=batch.first_doc,
                previous=previous,
            )
            raw = [(g, self._as_text(batch.texts[g - batch.first_doc])) for g in raw_docs]
            tokens = sum(len(e.ids) for e in examples)
            return stats, tokens, lambda: writer.write_examples(examples, raw)
        packed = self.engine.generate(
            batch.texts,
            token_counts=batch.token_counts,
            first_doc=batch.first_doc,
            previous=previous,
            batch=unit,
        )
        return packed.stats, int(packed.segment_lengths.sum()), lambda: writer.write_rows(packed)

    def _finish(self, input_rows: int, out: list[dict[str, Any]]) -> None:
        """Saves the complete manifest (into `out`, for the caller)."""
        out.append(self.save(complete=True, input_rows=input_rows))

    def _as_text(self, doc: Any) -> str:
        return doc if isinstance(doc, str) else self.tokenizer.decode(list(doc))

    def execute(self, show_progress: bool | None) -> dict[str, Any]:
        """Makes the wanted parts, saving the manifest after each; returns the final manifest.

        Three threads share the work: the reader parses the next batch, this thread runs the
        engine (which releases the GIL and uses `threads` cores), and a writer thread encodes and
        writes the previous batch's output, commits parts and saves the manifest, in order.
        """
        bar = Progress(sum(s.bytes for s in self.sources), enabled=show_progress)
        writer: shards.PartWriter | None = None
        unfinished: list[shards.PartWriter] = []  # opened, not yet committed
        counts: dict[str, Any] = {}
        skipped: list[dict[str, Any]] = []
        final: list[dict[str, Any]] = []
        output = _Ordered(depth=2)
        try:
            for item in _prefetch(self.work):
                if isinstance(item, _Batch):
                    if writer is None:
                        writer = self.open_writer(item.part)
                        unfinished.append(writer)
                        counts, skipped = {}, []
                    stats, tokens, write = self.process(item, writer)
                    output.submit(self._writing(write))
                    manifest.add_counts(counts, manifest.engine_counts(stats))
                    skipped.extend(item.skipped)
                    bar.update(len(item.texts), item.text_bytes, tokens, self.input_done())
                elif isinstance(item, _PartEnd):
                    assert writer is not None  # every row of a part is in one of its batches
                    commit = functools.partial(self._commit, writer, item, counts, skipped)
                    output.submit(self._writing(commit))
                    writer = None
                else:
                    finish = functools.partial(self._finish, item.input_rows, final)
                    output.submit(self._writing(finish))
            output.wait()
        finally:
            output.close()
            for w in unfinished:
                if not w.committed:
                    w.abort()  # no half-written part survives, whatever stopped the run
            bar.close()
        if self.shard[1] > 1:
            with contextlib.suppress(_l2t.OutputError):  # other shards still running
                manifest.merge(self.directory)
        return final[0]

    def _writing(self, action: Callable[[], object]) -> Callable[[], None]:
        """`action`, with a failed write (disk full, quota, permissions) as a clear OutputError."""
        return functools.partial(self._write_or_explain, action)

    def _write_or_explain(self, action: Callable[[], object]) -> None:
        try:
            action()
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
                raise _l2t.OutputError(
                    f"cannot write to {self.directory}: {e.strerror}; the unfinished part was "
                    "removed and the finished ones are intact: free space and rerun to resume"
                ) from e
            raise _l2t.OutputError(f"cannot write to {self.directory}: {e}") from e

    def _commit(
        self,
        writer: shards.PartWriter,
        end: _PartEnd,
        counts: dict[str, Any],
        skipped: list[dict[str, Any]],
    ) -> None:
        writer.commit()
        path = writer.final
        self.done[end.part] = {
            "index": end.part,
            "file": path.name,
            "first_doc": end.part * self.layout.shard_docs,
            "end_doc": end.end_doc,
            "rows": writer.rows,
            "bytes": path.stat().st_size,
            "sha256": manifest.file_sha256(path),
            "counts": counts,
            "skipped_rows": len(skipped),
            "skipped": skipped[: manifest.SKIPS_KEPT_PER_PART],
        }
        self.save(complete=False, input_rows=None)


def _skip(source: Source, row: int, reason: str) -> dict[str, Any]:
    return {"path": source.name, "row": row, "reason": reason}


def _text_bytes(text: Any) -> int:
    if isinstance(text, str):
        return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return 4 * len(text)


def _prefetch(make: Callable[[], Iterator[Any]], depth: int = 2) -> Iterator[Any]:
    """Runs the iterator `make()` in a thread, `depth` items ahead; re-raises its errors here."""
    items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                items.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in make():
                if not put("item", item):
                    return
            put("end", None)
        except BaseException as e:  # handed to the consumer, which re-raises it
            put("error", e)

    thread = threading.Thread(target=produce, name="l2t-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        thread.join()


class _Ordered:
    """Runs actions one after another on a background thread, at most `depth` waiting.

    Once an action fails, the ones after it are skipped (a part whose write failed must never be
    committed), and the error comes back on the next :meth:`submit` or :meth:`wait`.
    """

    def __init__(self, depth: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="l2t-writer")
        self._pending: deque[Future[None]] = deque()
        self._depth = depth
        self._failed = False

    def _run(self, action: Callable[[], None]) -> None:
        if self._failed:
            return
        try:
            action()
        except BaseException:
            self._failed = True
            raise

    def submit(self, action: Callable[[], None]) -> None:
        while self._pending and (self._pending[0].done() or len(self._pending) >= self._depth):
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._run, action))

    def wait(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        """Finishes what was submitted and stops the thread.

        After an error elsewhere this still commits the parts that were already whole.
        """
        self._pool.shutdown(wait=True)
