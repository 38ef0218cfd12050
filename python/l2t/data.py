"""Streaming L2T inside PyTorch data loaders: sharded, resumable, with attention-isolation data.

The document stream (any l2t source) is cut into *units* of ``batch_docs`` documents, numbered
globally. Unit ``u`` belongs to consumer ``u % C`` of the ``C = world_size * num_workers``
consumers (rank-major), so ranks and workers never overlap and never leave gaps. A unit's packed
rows depend only on its documents, the document before it and the seed (the engine's streaming
position), so any consumer makes the same rows for it, and a consumer resumes exactly from a
position ``(epoch, unit, row)``.

With ``shuffle_buffer=S`` the documents are permuted within consecutive blocks of ``S`` (a
seeded permutation per block and epoch) before they are cut into units. The state of that
shuffle is the position itself: the permutation of a block is recomputed, not stored.

Resuming with worker processes needs the main process to know how far each worker got:
:class:`L2TLoader` (a ``DataLoader``) reads the position that every item carries, and its
``state_dict()`` records them with the number of items consumed. Resumed, it hands each worker
its consumer's position and rotates the workers so that the order of items continues exactly.
Without workers, :class:`L2TStream`'s own ``state_dict()`` does the same (and it also serves
``torchdata``'s ``StatefulDataLoader``, which calls it inside each worker).

Every ``iter()`` of a stream or a loader starts a whole pass over the stream (all its ``epochs``),
as a ``DataLoader`` over any ``IterableDataset`` does, except the first one after
``load_state_dict()``: that one resumes, and takes the saved position with it, whether it runs to
the end or is broken off. A state taken after a pass ran to the end describes a fresh pass.

The engine counts what it drops (examples longer than a row, raw tokens that fill no row, ...);
the stream adds its counters up per iteration (:attr:`L2TStream.stats`, :attr:`L2TLoader.stats`)
and warns (:class:`l2t.DroppedExamplesWarning`) when most examples are dropped for their length.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from l2t import _l2t
from l2t.drops import most_dropped, warn_if_most_dropped
from l2t.engine import Engine, PackedBatch
from l2t.parts import LAYOUT_LIMITS, Layout, PartReader
from l2t.sources import Source, open_sources
from l2t.tokenizer import Tokenizer, tokenizer_json

STATE_VERSION = 1
# Key of the int64 vector every item carries (L2TLoader removes it): the consumer, its position
# (epoch, unit, row) and then its engine counters so far, so that a loader learns both from the
# items its workers send.
POSITION = "l2t_position"
POSITION_FIELDS = 4  # consumer, epoch, unit, row; the counters follow
# Drops are judged once this many examples were made or dropped (a few hundred documents): the
# share of the first units swings widely. Then more than half dropped is worth a warning.
DROP_WARNING_MIN_EXAMPLES = 500

Position = tuple[int, int, int]  # (epoch, unit, row): where a consumer's next row is


@dataclass
class _Handoff:
    """What an :class:`L2TLoader` gives the stream's iterations (in-process or in its workers)."""

    positions: dict[int, Position]
    rotation: int  # worker w plays worker (w + rotation) % num_workers


@dataclass
class _Progress:
    """How far one :class:`L2TLoader` loop got: the latest position and counters per consumer."""

    positions: dict[int, Position] = field(default_factory=dict)
    consumed: int = 0
    counts: dict[int, np.ndarray] = field(default_factory=dict)
    warned: bool = False


def _distributed() -> tuple[int, int]:
    """(rank, world size) from torch.distributed when initialised, else the launcher's env."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


class L2TStream(IterableDataset):
    """Packed L2T rows generated on the fly, as a torch ``IterableDataset``.

    Args:
        source: files, directories, globs, a Hugging Face dataset or a sequence of documents
            (:func:`l2t.sources.open_sources`; ``l2t.sources.Documents([...])`` for texts).
        tokenizer: the training tokenizer (path, ``tokenizers.Tokenizer``, JSON, ...).
        profile: ``"default"`` (EOS per example, pads ignored, attention isolated per example)
            or ``"paper"`` (the reference: examples of a row see each other, pads trained on).
        seq_len: packed row length.
        seed: keys every random draw (epoch ``e > 0`` uses a seed derived from it).
        batch_size: rows per item (dicts of ``[batch_size, seq_len]`` tensors with ``cu_seqlens``);
            ``None`` yields single rows for a DataLoader's own batching (use :func:`collate`).
        batch_docs: documents per unit (per engine call).
        shuffle_buffer: documents per shuffle block (0: stream order).
        epochs: passes over the source (``None``: forever).
        isolate: attention isolated per example (default: all profiles but ``paper``): positions
            restart at each example, and a segment's first token is not a target.
        ignore_pads: pads get label -100 (default: all profiles but ``paper``).
        ignore_prompts: prompt tokens (prompt, blank line and anchor) get label -100, so that
            only completions and raw text are trained on (the engine's ``mask_prompts``).
        rank, world_size: this process's place among data-parallel ranks (default: from
            ``torch.distributed`` or ``RANK``/``WORLD_SIZE``).
        threads: engine threads per process (1 suits DataLoader workers).
        text_field, text_split, input_format, on_error: as for :func:`l2t.generate`.
        **overrides: engine options (``raw_ratio``, ``mixing``, ``mix_by``, ``task_weights``, ...).

    """

    def __init__(
        self,
        source: Any,
        tokenizer: Any,
        *,
        profile: str = "default",
        seq_len: int = 2048,
        seed: int = 0,
        batch_size: int | None = None,
        batch_docs: int = 256,
        shuffle_buffer: int = 0,
        epochs: int | None = 1,
        isolate: bool | None = None,
        ignore_pads: bool | None = None,
        ignore_prompts: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        threads: int = 1,
        text_field: str = "text",
        text_split: str = "file",
        input_format: str | None = None,
        on_error: str = "raise",
        **overrides: Any,
    ) -> None:
        super().__init__()
        if batch_docs < 1 or shuffle_buffer < 0 or (batch_size is not None and batch_size < 1):
            raise _l2t.ConfigError("batch_docs and batch_size must be >= 1, shuffle_buffer >= 0")
        if epochs is not None and epochs < 1:
            raise _l2t.ConfigError(f"epochs must be >= 1 or None, not {epochs}")
        default_rank, default_world = _distributed()
        self.rank = default_rank if rank is None else rank
        self.world_size = default_world if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise _l2t.ConfigError(f"rank {self.rank} is not in [0, {self.world_size})")
        self.source = source
        self.tokenizer_json = tokenizer_json(tokenizer)
        self.profile = profile
        self.seed = seed
        self.batch_size = batch_size
        self.batch_docs = batch_docs
        # A shuffle block holds whole units.
        self.block_docs = -(-shuffle_buffer // batch_docs) * batch_docs if shuffle_buffer else 0
        most = LAYOUT_LIMITS["batch_docs"]
        if (self.block_docs or batch_docs) > most:
            raise _l2t.ConfigError(
                f"a unit or shuffle block holds at most {most} documents, not "
                f"{self.block_docs or batch_docs} (batch_docs={batch_docs}, "
                f"shuffle_buffer={shuffle_buffer})"
            )
        block = self.block_docs or batch_docs
        # One read batch per block, never closed early by its bytes: a shuffle permutes a whole
        # block. Built now, so that a bad value is refused here rather than in a worker.
        self._layout = Layout(
            shard_docs=block, batch_docs=block, batch_bytes=LAYOUT_LIMITS["batch_bytes"]
        )
        self.epochs = epochs
        self.isolate = profile != "paper" if isolate is None else isolate
        self.ignore_pads = profile != "paper" if ignore_pads is None else ignore_pads
        self.threads = threads
        self.read_options = {
            "text_field": text_field,
            "text_split": text_split,
            "input_format": input_format,
        }
        self.on_error = on_error
        self.ignore_prompts = ignore_prompts
        self.overrides = {"seq_len": seq_len, **overrides}
        if ignore_prompts:
            self.overrides["mask_prompts"] = True
        engine = self._new_engine(0)  # checks the configuration now, in the main process
        self.config = {k: v for k, v in engine.config.items() if k != "threads"}
        # The engine's counters, flattened in a fixed order (read off a call on no documents), so
        # that they travel as a vector with every item.
        self._count_keys = [("units",)] + [k for k, _ in _flat_stats(engine.generate([]).stats)]
        # Where the examples made and dropped sit in that vector: the drop rule is checked on
        # every unit and batch, the nested stats built only when it holds.
        self._kept_at, self._dropped_at = (
            np.array([i for i, k in enumerate(self._count_keys) if k[0] == "tasks" and k[2] == c])
            for c in ("examples", "too_long")
        )
        self._sources = open_sources(source, **self.read_options)
        self._tokenizer_sha256 = hashlib.sha256(self.tokenizer_json.encode()).hexdigest()
        # The saved position the next iteration resumes from ({consumer: position}), and the
        # process that loaded it: a DataLoader worker that inherited it cannot use it.
        self._resume: dict[int, Position] = {}
        self._resume_pid = 0
        self._handoff: _Handoff | None = None  # set by L2TLoader while it starts an iteration
        # The latest iteration in this process: its positions reached and its counters.
        self._yielded: dict[int, Position] = {}
        self._counts = np.zeros(len(self._count_keys), dtype=np.int64)

    # -- pickling (spawned workers rebuild the engine and sources) ------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_sources", None)
        state.pop("_tok", None)
        state.pop("_engines", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _engine(self, epoch: int) -> Engine:
        # One epoch's engine at a time, and never one inherited through fork: its thread pool
        # (threads > 1) would not exist in the child.
        key = (os.getpid(), epoch)
        cached = getattr(self, "_engines", {})
        if key not in cached:
            self._engines = {key: self._new_engine(epoch)}
        return self._engines[key]

    def _new_engine(self, epoch: int) -> Engine:
        seed = self.seed if epoch == 0 else self.seed * 1_000_003 + epoch
        return Engine(
            self.tokenizer_json,
            profile=self.profile,
            seed=seed,
            threads=self.threads,
            **self.overrides,
        )

    def _tokenizer(self) -> Tokenizer:
        if getattr(self, "_tok", None) is None:
            self._tok = Tokenizer(self.tokenizer_json)
        return self._tok

    def _opened_sources(self) -> list[Source]:
        """The sources, opened once per process (pickling drops them; a worker reopens)."""
        if getattr(self, "_sources", None) is None:
            self._sources = open_sources(self.source, **self.read_options)
        return self._sources

    def fingerprint(self) -> dict[str, Any]:
        """What decides the rows: a resumed state must come from the same."""
        return {
            "config": self.config,
            # Hashed once: StatefulDataLoader asks a worker for its state after every batch.
            "tokenizer_sha256": self._tokenizer_sha256,
            "inputs": [s.info() for s in self._opened_sources()],
            "batch_docs": self.batch_docs,
            "block_docs": self.block_docs,
            "batch_size": self.batch_size,
            "isolate": self.isolate,
            "ignore_pads": self.ignore_pads,
            "ignore_prompts": self.ignore_prompts,
            "epochs": self.epochs,
        }

    # -- iteration --------------------------------------------------------------------------

    def _consumer(self, rotation: int) -> tuple[int, int]:
        """The consumer index of the running iterator, and the number of consumers."""
        info = get_worker_info()
        workers = 1 if info is None else info.num_workers
        worker = 0 if info is None else (info.id + rotation) % workers
        return self.rank * workers + worker, self.world_size * workers

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """A whole pass, or the rest of the saved one right after :meth:`load_state_dict`."""
        # Not a generator function: the iteration takes its start (and the saved position is
        # consumed) at iter(), where DataLoader's fetcher and StatefulDataLoader call it, not at
        # the first next().
        handoff = self._handoff
        if handoff is not None:
            start, rotation = handoff.positions, handoff.rotation
        else:
            start, rotation = self._take_resume(), 0
        consumer, consumers = self._consumer(rotation)
        position = start.get(consumer, (0, consumer, 0))
        # Fresh objects per iteration: an older iterator still alive updates only its own.
        self._yielded = {consumer: position} if consumer in start else {}
        self._counts = np.zeros(len(self._count_keys), dtype=np.int64)
        items = self._items(
            consumer, consumers, position, self._yielded, self._counts, warn=handoff is None
        )
        if handoff is not None:
            return items  # numpy, cheap to send from a worker; the loader makes tensors
        return (_to_torch(item) for item in items)

    def _take_resume(self) -> dict[int, Position]:
        resume, self._resume = self._resume, {}
        if resume and get_worker_info() is not None and self._resume_pid != os.getpid():
            raise _l2t.ConfigError(
                "L2TStream.load_state_dict() was called in the main process, but the stream "
                "runs in DataLoader workers, which count consumers differently: resume with "
                "L2TLoader.load_state_dict(), or with torchdata's StatefulDataLoader"
            )
        return resume

    @property
    def stats(self) -> dict[str, Any]:
        """The engine's counters over the units this process made in its latest iteration.

        ``units`` (engine calls), the engine's own counters (``documents``, ``rows``,
        ``raw_tokens_dropped``, ...), their totals over tasks (``examples`` made, ``too_long``:
        examples dropped for being longer than ``min(seq_len, max_length)``,
        ``chunks_filtered``) and ``tasks``: the counters of each task. With DataLoader
        workers each worker counts its own: read :attr:`L2TLoader.stats` instead.
        """
        return _nested_stats(self._count_keys, self._counts)

    def _warn_if_most_dropped(self, counts: np.ndarray) -> bool:
        """Warns once the counter vector `counts` shows most examples dropped; says if it did."""
        kept, dropped = int(counts[self._kept_at].sum()), int(counts[self._dropped_at].sum())
        if not most_dropped(kept, dropped, DROP_WARNING_MIN_EXAMPLES):
            return False
        return warn_if_most_dropped(
            _nested_stats(self._count_keys, counts),
            self.config,
            who="L2TStream",
            min_examples=DROP_WARNING_MIN_EXAMPLES,
            stacklevel=3,
        )

    def _items(
        self,
        consumer: int,
        consumers: int,
        start: Position,
        positions: dict[int, Position],
        counts: np.ndarray,
        *,
        warn: bool,
    ) -> Iterator[dict[str, Any]]:
        """Items as numpy arrays (cheap to send from a worker: one pickle, no shared memory)."""
        rows = self._rows(consumer, consumers, *start, counts=counts, warn=warn)

        def tagged(item: dict[str, Any], position: Position) -> dict[str, Any]:
            positions[consumer] = position
            tag = np.concatenate((np.array([consumer, *position], dtype=np.int64), counts))
            return {**item, POSITION: tag}

        if self.batch_size is None:
            for item, position in rows:
                yield tagged(item, position)
        else:
            group: list[dict[str, np.ndarray]] = []
            for item, position in rows:
                group.append(item)
                if len(group) == self.batch_size:
                    yield tagged(_stack(group), position)
                    group = []
            if group:  # the last, short batch of a finite stream
                yield tagged(_stack(group), position)
        # The pass ran to the end. In a process of its own it is the whole pass, and a state
        # taken now must start the next one; a DataLoader worker's end is only its share of the
        # pass (StatefulDataLoader marks the loader's end itself), so it keeps the exact position.
        if get_worker_info() is None:
            positions.clear()

    def _rows(
        self,
        consumer: int,
        consumers: int,
        epoch: int,
        unit: int,
        row: int,
        *,
        counts: np.ndarray,
        warn: bool,
    ) -> Iterator[tuple[dict[str, np.ndarray], Position]]:
        """Rows of this consumer from (epoch, unit, row) on, each with the position after it.

        Adds each unit's engine counters to `counts`; warns (once) if `warn` and most examples
        were dropped for their length.
        """
        warned = not warn
        while self.epochs is None or epoch < self.epochs:
            engine = self._engine(epoch)
            for u, packed in self._units(engine, epoch, consumer, consumers, unit):
                counts += _count_vector(self._count_keys, packed.stats)
                if not warned:
                    warned = self._warn_if_most_dropped(counts)
                views = _row_views(
                    packed,
                    isolate=self.isolate,
                    ignore_pads=self.ignore_pads,
                    ignore_prompts=self.ignore_prompts,
                )
                for r in range(row, packed.num_rows):
                    yield {k: v[r] for k, v in views.items()}, (epoch, u, r + 1)
                row = 0
            epoch, unit, row = epoch + 1, consumer, 0

    def _units(
        self, engine: Engine, epoch: int, consumer: int, consumers: int, first_unit: int
    ) -> Iterator[tuple[int, PackedBatch]]:
        """The units of `consumer` in one epoch, from `first_unit` on, as packed rows."""
        b = self.batch_docs
        block = self.block_docs or b

        def wanted(k: int) -> bool:
            # Without shuffling a block is one unit; with it, every block may hold our units.
            if not self.block_docs:
                return k % consumers == consumer and k >= first_unit
            return (k + 1) * block > first_unit * b

        reader = PartReader(
            self._opened_sources(),
            self._layout,
            wanted,
            max_docs=None,
            on_error=self.on_error,
            vocab_size=self._tokenizer().vocab_size,
        )
        for item in reader.work():
            if not hasattr(item, "texts"):
                continue
            texts, counts, previous = item.texts, item.token_counts, item.previous
            if self.block_docs:
                order = list(range(len(texts)))
                random.Random(f"l2t-shuffle/{self.seed}/{epoch}/{item.part}").shuffle(order)
                texts = [texts[i] for i in order]
                counts = [counts[i] for i in order]
            for j in range(0, len(texts), b):
                u = item.first_doc // b + j // b
                if u % consumers != consumer or u < first_unit:
                    continue
                prev = texts[j - 1] if j else previous
                if prev is not None and not isinstance(prev, str):
                    prev = self._tokenizer().decode(list(prev))
                yield (
                    u,
                    engine.generate(
                        texts[j : j + b],
                        token_counts=counts[j : j + b],
                        first_doc=u * b,
                        previous=prev,
                        batch=u,
                    ),
                )

    # -- state --------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Where this process's iteration stands (versioned); see :class:`L2TLoader` for workers."""
        return {
            "version": STATE_VERSION,
            "fingerprint": self.fingerprint(),
            "world_size": self.world_size,
            "rank": self.rank,
            "positions": {str(c): list(p) for c, p in self._yielded.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continues from `state` on the next iteration (only that one); refuses another setup.

        Call it in the process that iterates: without workers, or inside a worker as
        ``StatefulDataLoader`` does (:class:`L2TLoader` has its own for workers).
        """
        self._check(state)
        self._resume = {int(c): (p[0], p[1], p[2]) for c, p in state["positions"].items()}
        self._resume_pid = os.getpid()
        self._yielded = dict(self._resume)  # state_dict() before iterating gives it back
        self._counts = np.zeros(len(self._count_keys), dtype=np.int64)

    def _check(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise _l2t.ConfigError(
                f"data-loader state version {state.get('version')}; this l2t reads {STATE_VERSION}"
            )
        if state["world_size"] != self.world_size or state["rank"] != self.rank:
            raise _l2t.ConfigError(
                f"the state was saved at rank {state['rank']} of world size "
                f"{state['world_size']}, not rank {self.rank} of {self.world_size}: resuming "
                "would repeat or skip data"
            )
        mine = self.fingerprint()
        if state["fingerprint"] != mine:
            changed = sorted(k for k in mine if mine[k] != state["fingerprint"].get(k))
            raise _l2t.ConfigError(f"the state was saved with another configuration ({changed})")


def _flat_stats(stats: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], int]]:
    """The engine's counters as ((key, ...), value): top-level ones, then each task's."""
    for key, value in stats.items():
        if key == "tasks":
            for task, counters in value:
                for counter, n in counters.items():
                    yield ("tasks", task, counter), int(n)
        elif isinstance(value, int):
            yield (key,), value


def _count_vector(keys: list[tuple[str, ...]], stats: dict[str, Any]) -> np.ndarray:
    """One engine call's counters in the order of `keys` (the call itself counts as a unit)."""
    flat = dict(_flat_stats(stats))
    flat[("units",)] = 1
    return np.array([flat.get(k, 0) for k in keys], dtype=np.int64)


def _nested_stats(keys: list[tuple[str, ...]], counts: np.ndarray) -> dict[str, Any]:
    """Counters as a dict: top-level ones, the task counters' totals, and ``tasks``."""
    out: dict[str, Any] = {}
    tasks: dict[str, dict[str, int]] = {}
    for key, n in zip(keys, counts.tolist(), strict=True):
        if key[0] == "tasks":
            tasks.setdefault(key[1], {})[key[2]] = n
        else:
            out[key[0]] = n
    for total in ("examples", "too_long", "chunks_filtered"):
        out.setdefault(total, sum(t.get(total, 0) for t in tasks.values()))
    out["tasks"] = tasks
    return out


def _row_views(
    packed: PackedBatch, *, isolate: bool, ignore_pads: bool, ignore_prompts: bool
) -> dict[str, np.ndarray]:
    """The per-row arrays of a packed batch: ids, labels, positions, example ids."""
    ids = packed.input_ids.astype(np.int64)
    segments = packed.segment_ids()
    labels = ids.copy()
    if ignore_pads:
        labels[segments == 0] = -100
    if ignore_prompts:
        labels[packed.prompt_mask()] = -100
    if isolate:
        positions = packed.position_ids()
        # A segment's first token is not predicted from the segment before it.
        labels[(positions == 0) & (segments > 0)] = -100
        doc_ids = segments
    else:
        positions = np.broadcast_to(np.arange(packed.seq_len), ids.shape).copy()
        doc_ids = np.ones_like(segments)
    return {"input_ids": ids, "labels": labels, "position_ids": positions, "doc_ids": doc_ids}


def _stack(rows: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """Rows (numpy) stacked into a batch, with ``cu_seqlens`` and ``max_seqlen``."""
    out: dict[str, Any] = {}
    for key in rows[0]:
        if key == POSITION:
            out[key] = rows[-1][key]  # all rows of a batch come from one worker: the last counts
        else:
            out[key] = np.stack([r[key] for r in rows])
    positions = out["position_ids"].reshape(-1)
    bounds = np.append(np.flatnonzero(positions == 0), positions.size)
    out["cu_seqlens"] = bounds.astype(np.int32)
    out["max_seqlen"] = int(np.diff(bounds).max()) if len(bounds) > 1 else 0
    return out


def _to_torch(item: dict[str, Any]) -> dict[str, Any]:
    """Numpy arrays as tensors (no copy)."""
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in item.items()}


def _keep(item: Any) -> Any:
    """A DataLoader ``collate_fn`` that leaves items as the stream made them."""
    return item


def collate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Stacks rows into a batch and adds ``cu_seqlens``/``max_seqlen`` for varlen attention.

    ``cu_seqlens`` (int32) are the cumulative lengths of the segments of the flattened batch,
    each row's trailing pads one segment of their own, as FlashAttention's varlen kernels and
    padding-free Hugging Face models take them (segments start where ``position_ids`` is 0).
    Rows may be tensors or numpy arrays; the batch is tensors.
    """
    arrays = [
        {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in r.items()} for r in rows
    ]
    return _to_torch(_stack(arrays))


class L2TCollator:
    """A Hugging Face ``Trainer`` data collator for single-row :class:`L2TStream` items.

    Stacks rows, drops l2t's position tensor (``Trainer`` passes every key to the model) and,
    with ``flatten=True``, returns the batch as one padding-free sequence (``[1, B * seq_len]``
    with ``position_ids`` restarting per example), the form HF models with FlashAttention-2
    take for packed data.
    """

    def __init__(self, *, flatten: bool = False, with_cu_seqlens: bool = False) -> None:
        self.flatten = flatten
        self.with_cu_seqlens = with_cu_seqlens

    def __call__(self, rows: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
        """The model inputs of a batch of rows."""
        batch = collate(rows)
        batch.pop(POSITION, None)
        if not self.with_cu_seqlens:
            batch.pop("cu_seqlens")
            batch.pop("max_seqlen")
        if self.flatten:
            for key in ("input_ids", "labels", "position_ids", "doc_ids"):
                batch[key] = batch[key].reshape(1, -1)
        return batch


class L2TLoader(DataLoader):
    """A ``DataLoader`` over an :class:`L2TStream` with an exact ``state_dict()``.

    Items carry their position; the loader removes it, remembers the last one per consumer and
    counts items, so ``state_dict()`` taken after any step resumes (``load_state_dict`` before
    iterating) with exactly the next item, with any number of workers.

    Each ``iter()`` is a whole pass over the stream, except the first after
    ``load_state_dict()``, which continues the saved one; a state taken after a loop ran to the
    end describes a fresh pass, so ``for epoch in ...: for batch in loader:`` sees every pass.

    Args:
        stream: the dataset.
        batch_size: rows per batch when the stream yields single rows (``stream.batch_size`` is
            None); otherwise leave it None.
        **kwargs: any other ``DataLoader`` argument (``num_workers``, ``pin_memory``, ...).

    """

    def __init__(self, stream: L2TStream, batch_size: int | None = None, **kwargs: Any) -> None:
        if batch_size is not None and stream.batch_size is not None:
            raise _l2t.ConfigError(
                "batch in the stream (batch_size=...) or in the loader, not both"
            )
        if kwargs.get("persistent_workers"):
            raise _l2t.ConfigError(
                "L2TLoader starts its workers at each iteration (they take the resume position "
                "then); the stream's own epochs= replaces persistent workers"
            )
        # Workers send numpy arrays (pickled through the pipe) rather than tensors (one shared
        # memory segment each, several times slower); the loader makes them tensors.
        kwargs.setdefault("collate_fn", _keep if batch_size is None else _stack)
        super().__init__(stream, batch_size=batch_size, **kwargs)
        self.stream = stream
        self._progress = _Progress()  # of the latest loop, or the state loaded for the next
        self._resume_next = False

    def __iter__(self) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        # Not a generator function: as with a DataLoader, the workers start (and take the
        # position) at iter(), so a saved position is consumed by exactly one iteration.
        if self.stream._resume:
            raise _l2t.ConfigError(
                "the stream holds a position loaded with L2TStream.load_state_dict(); an "
                "L2TLoader resumes from its own state: call L2TLoader.load_state_dict()"
            )
        loaded = self._progress if self._resume_next else _Progress()
        self._resume_next = False
        # A fresh object per loop: an abandoned iterator still alive updates only its own.
        progress = _Progress(dict(loaded.positions), loaded.consumed)
        self._progress = progress
        workers = max(self.num_workers, 1)
        self.stream._handoff = _Handoff(dict(progress.positions), progress.consumed % workers)
        try:
            batches = super().__iter__()
        finally:
            self.stream._handoff = None  # the workers (or the in-process iterator) have it now
        return self._loop(batches, progress)

    def _loop(self, batches: Iterator[Any], progress: _Progress) -> Iterator[dict[str, Any]]:
        for item in batches:
            tag = np.asarray(item.pop(POSITION))
            if tag.ndim > 1:  # a user's collate_fn stacked the tags of single rows
                tag = tag[-1]
            consumer, *at = (int(x) for x in tag[:POSITION_FIELDS])
            progress.positions[consumer] = (at[0], at[1], at[2])
            progress.counts[consumer] = tag[POSITION_FIELDS:]
            progress.consumed += 1
            if not progress.warned:
                progress.warned = self.stream._warn_if_most_dropped(self._total(progress))
            yield self._tensors(item)
        # The pass is whole: a state taken now starts the next pass, not an empty rest of this.
        progress.positions.clear()
        progress.consumed = 0

    def _tensors(self, item: dict[str, Any]) -> dict[str, Any]:
        item = _to_torch(item)
        if self.pin_memory:  # DataLoader's pinning passes numpy arrays by
            item = {
                k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in item.items()
            }
        return item

    def _total(self, progress: _Progress) -> np.ndarray:
        """The workers' counter vectors added up."""
        total = np.zeros(len(self.stream._count_keys), dtype=np.int64)
        for counts in progress.counts.values():
            total += counts
        return total

    @property
    def stats(self) -> dict[str, Any]:
        """The engine's counters, as :attr:`L2TStream.stats`, over all workers of this loop.

        They cover the units the workers made since the loop started (or resumed), as far as
        the items delivered so far tell: a worker's counters ride on each item it sends.
        """
        return _nested_stats(self.stream._count_keys, self._total(self._progress))

    def state_dict(self) -> dict[str, Any]:
        """The loader's position: per consumer, and the number of items taken."""
        return {
            "version": STATE_VERSION,
            "fingerprint": self.stream.fingerprint(),
            "world_size": self.stream.world_size,
            "rank": self.stream.rank,
            "num_workers": self.num_workers,
            "consumed": self._progress.consumed,
            "positions": {str(c): list(p) for c, p in self._progress.positions.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resumes from `state` at the next iteration (only that one); refuses another setup."""
        self.stream._check(state)
        if state["num_workers"] != self.num_workers:
            raise _l2t.ConfigError(
                f"the state was saved with {state['num_workers']} workers, not "
                f"{self.num_workers}: the consumers would differ"
            )
        positions = {int(c): (p[0], p[1], p[2]) for c, p in state["positions"].items()}
        self._progress = _Progress(positions, state["consumed"])
        self._resume_next = True
