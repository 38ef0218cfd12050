"""Corpus in, L2T training data on disk out: parts, a manifest, resume, and shard-by-index.

The inputs form one stream of rows (documents), numbered globally in input order. The stream is
cut into *parts* of ``shard_docs`` rows; part ``k`` holds rows ``[k * shard_docs, (k + 1) *
shard_docs)`` and is written to ``part-{k:06d}.<ext>``. A part's bytes depend only on its own
rows and on the row just before it (the previous-document link), so parts can be made in any
order, by any machine: ``shard_index=i, num_shards=n`` makes the parts with ``k % n == i``, and
the union of the ``n`` runs is the single-machine output, byte for byte. Within a part, rows go
to the engine in batches of at most ``batch_docs`` documents and ``batch_bytes`` of text.

Crash safety and many writers: see :mod:`l2t.output_dir`. A part is written under a temporary
name and renamed when whole, and the run's progress is saved (atomically) after each part. A
rerun with the same arguments keeps the parts its progress lists (after checking their sizes and
hashes) and makes the rest: the final directory is byte-identical to an uninterrupted run's. Shard
runs started together into one directory each hold their own lock and progress file; whichever
finds the set complete writes the manifest. A directory holding another configuration's data is
refused unless ``overwrite=True``.

Reading (and parsing) runs in a background thread one batch ahead, while the engine works with
the GIL released on all cores; memory is bounded by a few batches, whatever the input size.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from l2t import _l2t, manifest, shards
from l2t.drops import warn_if_most_dropped
from l2t.engine import Engine
from l2t.faults import fault_point
from l2t.output_dir import OutputDirectory, check_parts
from l2t.parts import Batch, Layout, PartEnd, PartReader
from l2t.progress import Progress
from l2t.sources import Source, open_sources
from l2t.tokenizer import Tokenizer, tokenizer_json

ON_ERROR = ("raise", "skip")
MAX_SHARDS = 99999  # shard tags have five digits


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
        This run's manifest (its shard's progress; for a single run, the dataset's manifest).

    """
    layout = layout or Layout()
    if format not in shards.FORMATS:
        raise _l2t.ConfigError(f"unknown format {format!r}; choose one of {shards.FORMATS}")
    if on_error not in ON_ERROR:
        raise _l2t.ConfigError(f"on_error must be one of {ON_ERROR}, not {on_error!r}")
    if not 1 <= num_shards <= MAX_SHARDS:
        raise _l2t.ConfigError(f"num_shards must be in [1, {MAX_SHARDS}], not {num_shards}")
    if not 0 <= shard_index < num_shards:
        raise _l2t.ConfigError(f"shard_index {shard_index} is not in [0, {num_shards})")
    if max_docs is not None and max_docs < 0:
        raise _l2t.ConfigError(f"max_docs must be >= 0, not {max_docs}")
    if tasks is not None:
        if not tasks:
            raise _l2t.ConfigError("tasks names no task; pass None to use all 14")
        if "task_weights" in overrides:
            raise _l2t.ConfigError("give tasks or task_weights, not both")
        overrides["task_weights"] = dict.fromkeys(tasks, 1.0)

    sources = open_sources(
        inputs, text_field=text_field, text_split=text_split, input_format=input_format
    )
    tok_json = tokenizer_json(tokenizer)
    threads = _cores() if threads is None else threads
    engine = Engine(tok_json, profile=profile, seed=seed, threads=threads, **overrides)
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
    try:
        result = run.execute(progress)
    finally:
        run.output.release()
    warn_if_most_dropped(result["totals"]["counts"], engine.config, who="l2t generate")
    return result


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
            # Settings of the file that l2t turns off: examples are encoded whole, then packed.
            "disabled": tok.disabled,
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
        self.output = OutputDirectory(directory, shard)
        self.done: dict[int, dict[str, Any]] = {}  # completed parts by index
        self.kept: frozenset[int] = frozenset()  # parts a previous run completed (not remade)
        self.reader = PartReader(
            sources,
            layout,
            self.wanted,
            max_docs=max_docs,
            on_error=on_error,
            vocab_size=identity["tokenizer"]["vocab_size"],
        )

    # -- output directory -------------------------------------------------------------------

    def prepare(self, *, overwrite: bool, tokenizer_text: str) -> None:
        """Admits this run to the directory, checks or clears it, and loads what it can keep.

        Ends by writing this run's progress file (its identity, no parts yet) before any part is
        written, so that every part on disk belongs to a recorded configuration.
        """
        out = self.output
        with out.admission():
            try:
                if overwrite:
                    busy = out.busy_writers()
                    if busy:
                        raise _l2t.OutputError(
                            f"{self.directory}: overwrite needs the directory to itself, but "
                            f"other runs are writing it: {', '.join(busy)}"
                        )
                    out.clear()
                else:
                    self._check_directory()
                out.remove_stale_temporaries()
                self._keep_verified_parts()
                if not out.tokenizer_path.exists() or (
                    out.tokenizer_path.read_text(encoding="utf-8") != tokenizer_text
                ):
                    out.write_text(out.tokenizer_path, tokenizer_text)
                self.save(complete=False, input_rows=None)
            except OSError as e:
                raise self._explain(e) from e
        fault_point("intent-written")

    def _check_directory(self) -> None:
        """Refuses a directory holding other data: another layout, tool or configuration."""
        d, out = self.directory, self.output
        again = "pass overwrite=True (--overwrite) to replace it, or choose another directory"
        legacy = out.legacy_files()
        if legacy:
            raise _l2t.OutputError(
                f"{d} holds data in the layout of an earlier l2t ({', '.join(legacy)} beside the "
                f"parts); {again}"
            )
        foreign = out.unrecorded_parts()
        if foreign:
            raise _l2t.OutputError(
                f"{d} holds part files that no l2t run recorded ({', '.join(foreign[:3])}"
                f"{', ...' if len(foreign) > 3 else ''}); {again}"
            )
        records = [out.manifest_path] if out.manifest_path.exists() else []
        for path in records + sorted((out.meta / "progress").glob("*.json")):
            try:
                old = manifest.identity_of(manifest.read_manifest(path))
            except _l2t.OutputError as e:
                raise _l2t.OutputError(f"{e}; {again}") from e
            if old != self.identity:
                diff = manifest.describe_difference(old, self.identity)
                raise _l2t.OutputError(
                    f"{d} holds data generated with another configuration ({path.name}: {diff} "
                    f"differ); {again}"
                )

    def _keep_verified_parts(self) -> None:
        """Keeps this run's parts that an earlier run recorded and whose files are still whole.

        The records are this shard's progress and the set's manifest (a rerun after the set was
        complete, perhaps with another shard count); both were checked to share this identity.
        """
        out = self.output
        recorded: list[dict[str, Any]] = []
        for path in (out.progress_path, out.manifest_path):
            if path.exists():
                recorded.extend(manifest.read_manifest(path).get("parts", []))
        if recorded and any(i.get("format") == "python" for i in self.identity["inputs"]):
            raise _l2t.OutputError(
                f"{self.directory} holds a run over in-memory inputs, which cannot be checked "
                "for changes; pass overwrite=True (--overwrite) to start again"
            )
        index, count = self.shard
        mine = [p for p in recorded if p["index"] % count == index]
        whole = {p["file"] for p in mine} - {c.file for c in check_parts(self.directory, mine)}
        self.done = {p["index"]: p for p in mine if p["file"] in whole}
        self.kept = frozenset(self.done)

    def save(self, *, complete: bool, input_rows: int | None) -> dict[str, Any]:
        """Writes this run's progress (atomically) and returns it."""
        doc = manifest.build(
            self.identity,
            list(self.done.values()),
            complete=complete,
            input_rows=input_rows,
            input_errors=self.reader.input_errors,
            shard=self.shard if self.shard[1] > 1 else None,
        )
        self.output.write_json(self.output.progress_path, doc)
        return doc

    # -- which rows this run needs ----------------------------------------------------------

    def wanted(self, part: int) -> bool:
        """Whether this run makes `part`."""
        index, count = self.shard
        return part % count == index and part not in self.kept

    # -- writing ----------------------------------------------------------------------------

    def open_writer(self, part: int) -> shards.PartWriter:
        name = shards.part_name(part, self.fmt)
        final, tmp = self.directory / name, self.output.temporary(name)
        cfg = self.identity["config"]
        if self.fmt == "parquet":
            return shards.ParquetPartWriter(
                final,
                tmp,
                seq_len=cfg["seq_len"],
                loss_mask=cfg["profile"] != "paper",
                prompts=bool(cfg.get("mask_prompts")),
                metadata={
                    "l2t.format": "packed-rows/1",
                    "l2t.seq_len": str(cfg["seq_len"]),
                    "l2t.pad_id": str(self.engine.pad_id),
                },
            )
        if self.fmt == "bin":
            return shards.BinPartWriter(
                final,
                tmp,
                seq_len=cfg["seq_len"],
                pad_id=self.engine.pad_id,
                vocab_size=self.identity["tokenizer"]["vocab_size"],
            )
        return shards.JsonlPartWriter(final, tmp)

    def process(
        self, batch: Batch, writer: shards.PartWriter
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
            for item in _prefetch(self.reader.work):
                if isinstance(item, Batch):
                    if writer is None:
                        writer = self.open_writer(item.part)
                        unfinished.append(writer)
                        counts, skipped = {}, []
                    stats, tokens, write = self.process(item, writer)
                    output.submit(self._writing(write))
                    manifest.add_counts(counts, manifest.engine_counts(stats))
                    skipped.extend(item.skipped)
                    bar.update(len(item.texts), item.text_bytes, tokens, self.reader.input_done())
                elif isinstance(item, PartEnd):
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
        try:
            self.output.complete_set()
        except OSError as e:
            raise self._explain(e) from e
        return final[0]

    def _writing(self, action: Callable[[], object]) -> Callable[[], None]:
        """`action`, with a failed write (disk full, quota, permissions) as a clear OutputError."""
        return functools.partial(self._write_or_explain, action)

    def _write_or_explain(self, action: Callable[[], object]) -> None:
        try:
            action()
        except OSError as e:
            raise self._explain(e) from e

    def _explain(self, e: OSError) -> _l2t.OutputError:
        """A failed write (disk full, quota, read-only, permissions) as a clear OutputError."""
        if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return _l2t.OutputError(
                f"cannot write to {self.directory}: {e.strerror}; the unfinished part was "
                "removed and the finished ones are intact: free space and rerun to resume"
            )
        if e.errno == errno.EROFS:
            return _l2t.OutputError(f"cannot write to {self.directory}: a read-only file system")
        return _l2t.OutputError(f"cannot write to {self.directory}: {e}")

    def _commit(
        self,
        writer: shards.PartWriter,
        end: PartEnd,
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
        fault_point("progress-saved")


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
