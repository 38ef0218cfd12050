"""The public engine: documents in, L2T examples or packed training rows out.

The work happens in Rust with the GIL released; this module turns arguments into the core's
inputs and wraps its buffers as numpy arrays (zero-copy) and Arrow tables. An :class:`Engine`
pickles as its configuration and tokenizer JSON, so it crosses into DataLoader workers (fork or
spawn) and is rebuilt there.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from l2t import _l2t
from l2t.tasks import task_id, task_name
from l2t.tokenizer import MAX_TOKEN_ID, first_bad_id, tokenizer_json

if TYPE_CHECKING:
    import pyarrow as pa

PROFILES = ("paper", "default")
# The core holds document indices, batch numbers, seeds and token counts as u64.
_MAX_U64 = 2**64 - 1


@dataclass(frozen=True)
class Example:
    """One training example.

    ``ids`` equals the tokenizer's encoding of ``text`` (special tokens as its post-processor adds
    them), followed by EOS under the ``default`` profile.
    """

    doc: int
    task: str
    prompt: str
    completion: str
    text: str
    ids: np.ndarray = field(repr=False, compare=False)
    #: Leading ids that are the prompt (with its anchor); 0 unless the engine has ``mask_prompts``.
    prompt_len: int = 0


@dataclass(frozen=True)
class PackedBatch:
    """Packed rows of ``seq_len`` ids with their segments (one segment per example or raw piece).

    Segments of row ``r`` are ``row_offsets[r]:row_offsets[r + 1]`` of the ``segment_*`` arrays;
    they fill the row from the start, and the rest of the row is padding (``pad_id``).
    """

    input_ids: np.ndarray
    row_offsets: np.ndarray
    segment_lengths: np.ndarray
    segment_tasks: np.ndarray
    segment_docs: np.ndarray
    segment_prompt_lengths: np.ndarray
    pad_id: int
    stats: dict[str, Any] = field(repr=False)

    @property
    def num_rows(self) -> int:
        """Number of packed rows."""
        return int(self.input_ids.shape[0])

    @property
    def seq_len(self) -> int:
        """Length of each row."""
        return int(self.input_ids.shape[1])

    def fill_rate(self) -> float:
        """Share of row slots holding example or raw tokens rather than pads."""
        slots = self.input_ids.size
        return float(self.segment_lengths.sum()) / slots if slots else 0.0

    def _token_layout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each segment token sits, vectorised (no Python loop over rows).

        Returns its flat index into ``input_ids``, its 1-based segment number within the row, and
        its position within the segment.
        """
        lengths = self.segment_lengths.astype(np.int64)
        offsets = self.row_offsets.astype(np.int64)
        rows = np.repeat(np.arange(self.num_rows), np.diff(offsets))
        ends = np.cumsum(lengths)
        seg_starts = ends - lengths  # start of each segment in the flat token stream
        row_starts = np.concatenate([[0], ends])[offsets[:-1]]  # first token of each row
        start_in_row = seg_starts - row_starts[rows]
        number = np.arange(len(lengths)) - offsets[:-1][rows] + 1
        within = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(seg_starts, lengths)
        flat = np.repeat(rows * self.seq_len + start_in_row, lengths) + within
        return flat, np.repeat(number, lengths), within

    def segment_ids(self) -> np.ndarray:
        """Per token, the 1-based index of its segment within the row; 0 on pads."""
        flat, number, _ = self._token_layout()
        out = np.zeros(self.input_ids.size, dtype=np.int32)
        out[flat] = number
        return out.reshape(self.input_ids.shape)

    def position_ids(self) -> np.ndarray:
        """Positions restarting at 0 at each segment; a row's trailing pads count on from 0 too."""
        flat, _, within = self._token_layout()
        out = np.zeros(self.input_ids.size, dtype=np.int64)
        is_pad = np.ones(self.input_ids.size, dtype=bool)
        out[flat] = within
        is_pad[flat] = False
        pos = out.reshape(self.input_ids.shape)
        pads = is_pad.reshape(self.input_ids.shape)
        fill = (~pads).sum(axis=1, keepdims=True)
        pad_pos = np.arange(self.seq_len)[None, :] - fill
        pos[pads] = pad_pos[pads]
        return pos

    def row_lengths(self) -> np.ndarray:
        """Per row, how many ids are example or raw tokens (the rest of the row is padding)."""
        ends = np.concatenate([[0], np.cumsum(self.segment_lengths, dtype=np.int64)])
        return ends[self.row_offsets[1:]] - ends[self.row_offsets[:-1]]

    def loss_mask(self) -> np.ndarray:
        """Per token, whether it is an example or raw token rather than a pad (bool)."""
        return np.arange(self.seq_len)[None, :] < self.row_lengths()[:, None]

    def prompt_mask(self) -> np.ndarray:
        """Per token, whether it belongs to an example's prompt.

        All False unless the engine runs with ``mask_prompts=True``.
        """
        flat, _, within = self._token_layout()
        segment = np.repeat(np.arange(len(self.segment_lengths)), self.segment_lengths)
        out = np.zeros(self.input_ids.size, dtype=bool)
        out[flat] = within < self.segment_prompt_lengths[segment]
        return out.reshape(self.input_ids.shape)

    def labels(self, *, ignore_pads: bool = True) -> np.ndarray:
        """Next-token labels aligned with ``input_ids`` (int64); pads are -100 when ignored.

        The ``paper`` profile trains on pads (label = pad id); pass ``ignore_pads=False`` for that.
        """
        labels = self.input_ids.astype(np.int64)
        if ignore_pads:
            labels[~self.loss_mask()] = -100
        return labels

    def to_arrow(self) -> pa.Table:
        """The rows as a pyarrow Table (ids and the 1-D arrays are not copied)."""
        import pyarrow as pa

        ids = pa.array(self.input_ids.reshape(-1))
        rows = pa.FixedSizeListArray.from_arrays(ids, self.seq_len)
        offsets = pa.array(self.row_offsets.astype(np.int64))

        def lists(values: np.ndarray) -> pa.Array:
            return pa.LargeListArray.from_arrays(offsets, pa.array(values))

        return pa.table(
            {
                "input_ids": rows,
                "segment_lengths": lists(self.segment_lengths),
                "segment_tasks": lists(self.segment_tasks),
                "segment_docs": lists(self.segment_docs),
            }
        )

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """Arrow PyCapsule stream interface (pyarrow, polars, duckdb import it directly)."""
        return self.to_arrow().__arrow_c_stream__(requested_schema)


class Engine:
    """Generates L2T examples and packed rows.

    Args:
        tokenizer: a path to ``tokenizer.json`` (or its directory), a ``tokenizers.Tokenizer``, a
            transformers fast tokenizer, or the JSON text.
        profile: ``"paper"`` reproduces the reference exactly in distribution (BOS per example,
            no EOS, worst-fit packing, pads trained on); ``"default"`` adds EOS per example and
            best-fit packing. See ``TASKS.md`` decision 9.
        seed: keys every random draw; the same seed and input give byte-identical output.
        **overrides: any option of the profile (``seq_len``, ``max_length``, ``min_words``,
            ``chunk_tokens``, ``stopwords``, ``task_weights``, ``eos_per_example``, ``pad_id``,
            ``packing``, ``pack_window``, ``mixing``, ``raw_ratio``, ``mix_by``, ``mix_block``,
            ``threads``). ``mix_by="documents"`` (both profiles) sends ``ceil(raw_ratio * n)``
            documents of each block of ``mix_block`` to raw text, as the reference does, so the
            raw share of the output tokens falls below ``raw_ratio`` (L2T strings are about twice
            their source); ``mix_by="tokens"`` splits each block so that raw tokens make about
            ``raw_ratio`` of its output tokens, and links each document to its predecessor in the
            stream whichever way either went.

    Streaming: a caller that cuts one long stream of documents into calls passes each call's
    position, ``first_doc`` (global index of ``texts[0]``) and ``previous`` (the text of the
    document just before it), so that every document gets the same random draws and the same
    previous document as in one call over everything; ``generate`` also takes ``batch``, the index
    of its output batch, which keys packing and row order.

    >>> engine = Engine("tokenizer.json", profile="paper", seed=1)  # doctest: +SKIP
    >>> engine.examples(["A document. With sentences."] , task="half")  # doctest: +SKIP

    """

    def __init__(
        self, tokenizer: Any, *, profile: str = "default", seed: int = 0, **overrides: Any
    ) -> None:
        if profile not in PROFILES:
            raise _l2t.ConfigError(f"unknown profile {profile!r}; choose one of {PROFILES}")
        self._tokenizer_json = tokenizer_json(tokenizer)
        self._profile = profile
        self._overrides = {"seed": _unsigned("seed", seed), **overrides}
        self._inner = _l2t.Engine(self._tokenizer_json, profile, _options_json(self._overrides))
        self.config: dict[str, Any] = json.loads(self._inner.config_json())

    @property
    def profile(self) -> str:
        """``"paper"`` or ``"default"``."""
        return self._profile

    @property
    def pad_id(self) -> int:
        """The id that pads rows."""
        return int(self._inner.pad_id)

    @property
    def eos_id(self) -> int | None:
        """The tokenizer's end-of-sequence id, if it has one l2t recognises."""
        return self._inner.eos_id

    def __getstate__(self) -> dict[str, Any]:
        return {
            "tokenizer_json": self._tokenizer_json,
            "profile": self._profile,
            "overrides": self._overrides,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["tokenizer_json"], profile=state["profile"], **state["overrides"]
        )

    def __repr__(self) -> str:
        return f"Engine(profile={self._profile!r}, seed={self.config['seed']})"

    def examples(
        self,
        texts: Iterable[str],
        *,
        task: str | None = None,
        token_counts: Sequence[int | None] | None = None,
        first_doc: int = 0,
        previous: str | None = None,
    ) -> list[Example]:
        """L2T examples for `texts`, in document order.

        Args:
            texts: the documents (a document is one string; its sentences are found by l2t).
            task: force this task for every document (single-task ablations); by default each
                document draws one task uniformly among those it is eligible for.
            token_counts: per-document token counts for the chunk budget (e.g. FineWeb's
                ``metadata.token_count``); by default l2t counts with the tokenizer.
            first_doc: global index of ``texts[0]`` in the whole stream (keys the random draws).
            previous: the text of the document just before ``texts[0]`` in the stream, if any
                (Deletion and Last draw from it).

        """
        return self.examples_with_stats(
            texts, task=task, token_counts=token_counts, first_doc=first_doc, previous=previous
        )[0]

    def examples_with_stats(
        self,
        texts: Iterable[str],
        *,
        task: str | None = None,
        token_counts: Sequence[int | None] | None = None,
        first_doc: int = 0,
        previous: str | None = None,
    ) -> tuple[list[Example], dict[str, Any]]:
        """Like :meth:`examples`, with the counters of what was made and dropped."""
        if task is not None:
            task_id(task)  # validates the name with a clear error
        meta, ids, offsets, stats = _call_core(
            self._inner.examples, texts, token_counts, first_doc, previous, task=task
        )
        return _examples(meta, ids, offsets), json.loads(stats)

    def mixed_examples(
        self,
        texts: Iterable[str],
        *,
        token_counts: Sequence[int | None] | None = None,
        first_doc: int = 0,
        previous: str | None = None,
    ) -> tuple[list[Example], list[int], dict[str, Any]]:
        """Examples of the L2T documents and the indices of the raw ones.

        For inspection/SFT-style output. The documents are split between L2T and raw text exactly
        as :meth:`generate` splits them (same arguments, same configuration); the examples are
        those it would pack, in document order, and the indices are global (``first_doc`` +
        position). The counters count the raw documents as ``generate`` does (tokens, and those a
        block's last partial row would drop); ``rows`` and ``pad_tokens`` are 0 as nothing is
        packed.
        """
        meta, ids, offsets, raw, stats = _call_core(
            self._inner.mixed_examples, texts, token_counts, first_doc, previous
        )
        return _examples(meta, ids, offsets), raw, json.loads(stats)

    def generate(
        self,
        texts: Iterable[str],
        *,
        token_counts: Sequence[int | None] | None = None,
        first_doc: int = 0,
        previous: str | None = None,
        batch: int = 0,
    ) -> PackedBatch:
        """Packed rows of ``seq_len``: L2T examples of `texts`, mixed with raw text as set.

        ``first_doc`` and ``previous`` place `texts` in a longer stream as for :meth:`examples`;
        ``batch`` is the index of this output batch (it keys the packing and row order).
        """
        ids, row_offsets, seg_len, seg_task, seg_doc, seg_prompt, stats = _call_core(
            self._inner.generate,
            texts,
            token_counts,
            first_doc,
            previous,
            batch=_unsigned("batch", batch),
        )
        seq_len = int(self.config["seq_len"])
        return PackedBatch(
            input_ids=np.asarray(ids).reshape(-1, seq_len),
            row_offsets=np.asarray(row_offsets),
            segment_lengths=np.asarray(seg_len),
            segment_tasks=np.asarray(seg_task),
            segment_docs=np.asarray(seg_doc),
            segment_prompt_lengths=np.asarray(seg_prompt),
            pad_id=self.pad_id,
            stats=json.loads(stats),
        )


def _unsigned(name: str, value: Any) -> int:
    """`value` as an integer the core can hold (u64), or a ConfigError naming the argument."""
    try:
        number = operator.index(value)
    except TypeError:
        raise _l2t.ConfigError(
            f"{name} must be an integer from 0 to 2^64 - 1, not {type(value).__name__}"
        ) from None
    if not 0 <= number <= _MAX_U64:
        raise _l2t.ConfigError(f"{name} must be an integer from 0 to 2^64 - 1, not {number}")
    return number


def _options_json(options: dict[str, Any]) -> str:
    """The options as JSON for the core; a ConfigError naming an option that JSON cannot hold.

    Plain ``json.dumps`` writes NaN and Infinity, which are not JSON: the core would reject the
    whole text without saying which option was wrong.
    """
    try:
        return json.dumps(options, allow_nan=False)
    except (ValueError, TypeError):
        pass
    for name, value in options.items():
        try:
            json.dumps(value, allow_nan=False)
        except ValueError as e:
            if _holds_non_finite(value):
                raise _l2t.ConfigError(
                    f"option {name!r} must be a finite number, not {value!r}"
                ) from None
            raise _l2t.ConfigError(f"option {name!r} is not a valid value: {e}") from None
        except TypeError:
            raise _l2t.ConfigError(
                f"option {name!r} is a {type(value).__name__}; options are numbers, strings, "
                "booleans, lists or dicts"
            ) from None
    raise AssertionError("unreachable: every option serialised on its own")


def _holds_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_holds_non_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_non_finite(v) for v in value)
    return False


def _documents(texts: Any) -> Sequence[Any]:
    """`texts` as a sequence, so that a failing call can look back at the documents."""
    if isinstance(texts, (str, bytes, bytearray)):
        raise _l2t.ConfigError(
            f"texts must be a list of documents, not one {type(texts).__name__} (which would be "
            "read one character at a time): pass [text] for a single document"
        )
    if isinstance(texts, (list, tuple)):
        return texts
    if not isinstance(texts, Iterable):
        raise _l2t.ConfigError(
            f"texts must be a list (or iterable) of documents, not {type(texts).__name__}"
        )
    return list(texts)


def _counts(token_counts: Sequence[int | None] | None) -> list[int | None] | None:
    if token_counts is None:
        return None
    if isinstance(token_counts, (str, bytes)) or not isinstance(token_counts, Iterable):
        raise _l2t.ConfigError(
            "token_counts must be a list of counts (or None), one per document, not "
            f"{type(token_counts).__name__}"
        )
    return [
        None if c is None else _unsigned(f"token_counts[{i}]", c)
        for i, c in enumerate(token_counts)
    ]


def _sentences(previous: str | None) -> list[str] | None:
    """The previous document's sentences, split as the engine splits its own documents."""
    if previous is None:
        return None
    if not isinstance(previous, str):
        raise _l2t.ConfigError(
            "previous must be the text (a str) of the document before texts[0], or None; "
            f"not {type(previous).__name__}"
        )
    try:
        return _l2t.split_sentences(previous)
    except UnicodeEncodeError as e:
        raise _l2t.InputError(
            f"previous holds a lone surrogate U+{ord(previous[e.start]):04X} at position "
            f"{e.start} (not valid Unicode)"
        ) from None


def _call_core(
    method: Callable[..., Any],
    texts: Any,
    token_counts: Sequence[int | None] | None,
    first_doc: int,
    previous: str | None,
    **extra: Any,
) -> Any:
    """Runs one of the core's document methods with checked arguments.

    The core says only "document N is a list" of a token-id document it cannot read; the
    documents are then looked at again (only then, so valid input costs nothing) for the id.
    """
    docs = _documents(texts)
    first = _unsigned("first_doc", first_doc)
    if first + len(docs) > _MAX_U64 + 1:
        raise _l2t.ConfigError(
            f"first_doc {first} + {len(docs)} documents passes 2^64, the last document index"
        )
    try:
        return method(
            docs,
            token_counts=_counts(token_counts),
            first_doc=first,
            previous=_sentences(previous),
            **extra,
        )
    except _l2t.InputError as e:
        if type(e) is _l2t.InputError:
            bad = _bad_token_ids(docs, first)
            if bad is not None:
                raise bad from None
        raise


def _bad_token_ids(docs: Sequence[Any], first_doc: int) -> _l2t.InputError | None:
    """What is wrong with the first token-id document the core could not read, if that is why.

    Stops (None) at the first document the core rejects for another reason: a str that is not
    valid Unicode, or a value that is no sequence; its own message is right for those.
    """
    for i, doc in enumerate(docs):
        if isinstance(doc, str):
            if doc.isascii():
                continue
            try:
                doc.encode("utf-8")
            except UnicodeEncodeError:
                return None
            continue
        if not isinstance(doc, (list, tuple, np.ndarray)):
            return None
        bad = first_bad_id(doc)
        if bad is None:
            continue
        position, value, token_id = bad
        if token_id is None:
            return _l2t.InputError(
                f"document {first_doc + i} has {type(value).__name__} at position {position}, "
                "not a token id (an integer)"
            )
        return _l2t.VocabError(
            f"document {first_doc + i}: token id {token_id} at position {position} is outside "
            f"every vocabulary (ids are 0 to {MAX_TOKEN_ID})"
        )
    return None


def _examples(
    meta: list[tuple[int, int, str, str, str, int]], ids: _l2t.Buffer, offsets: _l2t.Buffer
) -> list[Example]:
    ids_np, off = np.asarray(ids), np.asarray(offsets)
    return [
        Example(doc, task_name(tid), prompt, completion, text, ids_np[off[i] : off[i + 1]], plen)
        for i, (doc, tid, prompt, completion, text, plen) in enumerate(meta)
    ]
