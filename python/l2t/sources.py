"""Inputs: documents from Parquet, JSON lines and text files, or from Python objects.

:func:`open_sources` turns paths, directories, globs or in-memory collections into
:class:`Source` objects. A source yields :class:`RawRow` objects that parse only when loaded, so
resuming at row ``start`` skips the rows before it without parsing them (JSON lines are counted,
Parquet row groups are skipped by their metadata). Files stream with bounded memory, gzip and zstd
included.

Inputs are never trusted: a bad row raises :class:`l2t.SourceError` naming the file and the row
(``data/a.jsonl: line 17: field 'text' is int, not a string``; Parquet and in-memory rows are
0-based, ``row 17``), and a file that fails part way (corrupt Parquet, truncated gzip) raises from
the iterator after the rows already read, naming where it stopped.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import io
import itertools
import json
import os
import stat
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from l2t._l2t import ConfigError, SourceError
from l2t.tokenizer import MAX_TOKEN_ID, shown

TEXT_SPLITS = ("file", "blank-lines")
INPUT_FORMATS = ("parquet", "jsonl", "text")

_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".txt": "text",
    ".text": "text",
    ".md": "text",
}
_COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}

_READ_BUFFER = 1 << 20
_HASH_BLOCK = 1 << 20
# Rows per Parquet batch: bounds memory by batch x document size (documents may be megabytes).
_PARQUET_BATCH = 1024
_BOM = b"\xef\xbb\xbf"
# Token counts are hints held as u64; a larger "count" is no count.
_MAX_COUNT = 2**64 - 1
# The longest file name (one path component) in bytes on common file systems.
_NAME_MAX = 255
# What a file read can raise: OS errors (truncated gzip/zstd streams and corrupt Parquet pages
# are OSError in pyarrow) and pyarrow's own exceptions.
_READ_ERRORS = (OSError, EOFError, pa.ArrowException)


@dataclass(frozen=True, slots=True)
class Doc:
    """One document: text, or token ids for pre-tokenized corpora (the engine decodes them).

    ``token_count`` comes from a top-level ``token_count`` field or column, or from
    ``metadata.token_count`` (FineWeb / datatrove style), when present and a non-negative integer.
    """

    text: str | list[int]
    token_count: int | None = None


class RawRow:
    """One row of a source, parsed only by :meth:`load`, so that skipped rows cost nothing."""

    __slots__ = ("_load", "_raw", "index")

    def __init__(self, index: int, load: Callable[[Any, int], Doc], raw: Any) -> None:
        self.index = index
        self._load = load
        self._raw = raw

    def load(self) -> Doc:
        """Parses the row; raises :class:`l2t.SourceError` naming the file and row if it is bad."""
        return self._load(self._raw, self.index)

    def __repr__(self) -> str:
        return f"RawRow(index={self.index})"


class Source(ABC):
    """One input: a file, or an in-memory iterable of documents.

    ``name`` is the file's path (as given, expanded) or ``"<iterable>"`` / ``"<dataset>"``;
    ``bytes`` is the file's size (0 in memory).
    """

    name: str
    bytes: int = 0

    def rows(self, start: int = 0) -> Iterator[RawRow]:
        """All rows with ``index >= start``, in order; rows before ``start`` are not parsed.

        A file that cannot be read to the end raises :class:`l2t.SourceError` from the iterator,
        after the rows read before the failure (which stay valid).
        """
        if start < 0:
            raise ValueError(f"start must be >= 0, not {start}")
        return self._rows(start)

    @abstractmethod
    def _rows(self, start: int) -> Iterator[RawRow]: ...

    @abstractmethod
    def info(self) -> dict[str, Any]:
        """The manifest record: JSON-serialisable and deterministic."""

    @abstractmethod
    def num_rows(self) -> int | None:
        """The number of rows when cheaply known (Parquet metadata, ``len()``), else None."""

    @abstractmethod
    def bytes_read(self) -> int:
        """About how many bytes of the file the active :meth:`rows` iterator has consumed.

        For a progress bar: compressed bytes for compressed files, 0 for in-memory sources.
        """


class _BadRow(Exception):
    """A problem with one value, worded as a predicate ("is null"); callers name the value."""


def _to_pylist_text(column: pa.Array) -> list[Any]:
    """The column's values; strings as bytes if they are not valid UTF-8.

    Arrow does not check UTF-8 when reading Parquet, and ``to_pylist`` fails on the first bad value
    with no row; as bytes, the row loader's strict decode names the row.
    """
    try:
        return column.to_pylist()
    except UnicodeDecodeError:
        return column.cast(pa.large_binary()).to_pylist()


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _BadRow(
            f"is not valid UTF-8 (byte 0x{data[e.start]:02X} at offset {e.start})"
        ) from None


def _checked_str(text: str) -> str:
    """The string, if it is valid Unicode: JSON escapes and Python strings allow lone surrogates."""
    if not text.isascii():  # O(1) in CPython; the encode below only runs for non-ASCII text
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            code = ord(text[e.start])
            raise _BadRow(f"holds a lone surrogate U+{code:04X} at character {e.start}") from None
    return text


def _not_a_token_id(value: Any, at: int) -> _BadRow:
    kind = "null" if value is None else value if type(value) is int else type(value).__name__
    return _BadRow(
        f"has {kind} at position {at}, not a token id (an integer from 0 to {MAX_TOKEN_ID})"
    )


def _token_ids(ids: list[Any]) -> list[int]:
    if not ids:
        return ids
    # Exact types: a bool or float is not a token id. set(map(...)), min() and max() run in C.
    if set(map(type, ids)) != {int}:
        at = next(i for i, x in enumerate(ids) if type(x) is not int)
        raise _not_a_token_id(ids[at], at)
    # Checked here, where the row is named: an id past u32 fits no vocabulary, and one past
    # int64 would fail later in numpy with a bare OverflowError.
    for extreme in (min(ids), max(ids)):
        if not 0 <= extreme <= MAX_TOKEN_ID:
            raise _not_a_token_id(extreme, ids.index(extreme))
    return ids


def _text_of(value: Any) -> str | list[int]:
    """A document's text from a value: a string, UTF-8 bytes, or a sequence of token ids."""
    if isinstance(value, str):
        return _checked_str(value)
    if isinstance(value, list):
        return _token_ids(value)
    if value is None:
        raise _BadRow("is null")
    if isinstance(value, (bytes, bytearray)):
        return _decode(bytes(value))
    if isinstance(value, tuple):
        return _token_ids(list(value))
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.kind not in "iu":
            raise _BadRow(f"is an array of {value.dtype} {value.shape}, not token ids")
        if value.size:
            for at in (int(value.argmin()), int(value.argmax())):
                if not 0 <= int(value[at]) <= MAX_TOKEN_ID:
                    raise _not_a_token_id(int(value[at]), at)
        return value.tolist()
    raise _BadRow(f"is {type(value).__name__}, not a string")


def _as_count(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value <= _MAX_COUNT else None


def _parse_json(text: str) -> Any:
    """``json.loads``, with its other failures reported like a syntax error.

    Python's parser raises RecursionError on deeply nested values and ValueError on integers of
    more than 4300 digits (``sys.get_int_max_str_digits``); both are properties of the row.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise _BadRow("holds JSON nested too deeply to parse") from None
    except json.JSONDecodeError:
        raise
    except ValueError as e:
        raise _BadRow(f"holds JSON that cannot be read: {e}") from None


def _metadata_count(metadata: Any) -> int | None:
    """``token_count`` of a metadata object or of its JSON text; None when absent or unreadable."""
    if isinstance(metadata, (str, bytes)):
        try:
            metadata = _parse_json(metadata)
        except (ValueError, _BadRow):  # the count is only a hint
            return None
    # dict before the (slower) Mapping check: JSON and datasets give dicts.
    if isinstance(metadata, (dict, Mapping)):
        return _as_count(metadata.get("token_count"))
    return None


def _doc_from_object(obj: Mapping[str, Any], field: str) -> Doc:
    try:
        value = obj[field]
    except KeyError:
        names = ", ".join(repr(k) for k in itertools.islice(obj, 20))
        raise _BadRow(f"no field {field!r} (fields: {names or 'none'})") from None
    try:
        text = _text_of(value)
    except _BadRow as e:
        raise _BadRow(f"field {field!r} {e}") from None
    count = _as_count(obj.get("token_count"))
    if count is None and "metadata" in obj:
        count = _metadata_count(obj["metadata"])
    return Doc(text, count)


_JSON_TYPES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _doc_from_json_line(line: bytes, field: str) -> Doc:
    try:
        text = _decode(line)
    except _BadRow as e:
        raise _BadRow(f"the line {e}") from None
    try:
        obj = _parse_json(text)
    except json.JSONDecodeError as e:
        if not text.strip():  # checked only here, to keep a copy of each line off the common path
            return Doc("", None)
        raise _BadRow(f"invalid JSON: {e}") from None
    except _BadRow as e:
        raise _BadRow(f"the line {e}") from None
    if not isinstance(obj, dict):
        raise _BadRow(f"expected a JSON object, got {_JSON_TYPES[type(obj)]}")
    return _doc_from_object(obj, field)


class _DecompressingReader(io.RawIOBase):
    """The decompressed bytes of a gzip or zstd file, up to where its compressed data fails.

    pyarrow's decompressing stream fails a whole ``read(n)`` when the compressed data breaks off
    (truncated file, trailing garbage), dropping the bytes it had decoded in that call: for a
    small file, all of them. So a failed read is redone from a fresh stream in small steps, which
    returns every byte decoded before the failure; the failure is raised by the next read.
    """

    # Salvage read sizes: 4 KiB steps find the failing stretch quickly, single bytes pin it down.
    _SALVAGE_STEPS = (4096, 1)

    def __init__(self, path: str, compression: str) -> None:
        super().__init__()
        self._path = path
        self._compression = compression
        self._file: pa.NativeFile | None = None
        self._stream: pa.NativeFile | None = None
        self._position = 0  # decompressed bytes returned so far
        self._failure: BaseException | None = None
        self._reopen()

    def _reopen(self) -> None:
        self._close_streams()
        self._file = pa.OSFile(self._path)
        self._stream = pa.CompressedInputStream(self._file, self._compression)

    def _close_streams(self) -> None:
        for f in (self._stream, self._file):
            if f is not None:
                f.close()

    def compressed_offset(self) -> int:
        """How far into the compressed file the decompressor has read."""
        return int(self._file.tell()) if self._file is not None else 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._failure is not None:
            raise self._failure
        size = len(buffer)
        assert self._stream is not None
        try:
            data = self._stream.read(size)
        except _READ_ERRORS:
            data, self._failure = self._salvage(size)
            if not data:
                raise
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def _salvage(self, size: int) -> tuple[bytes, BaseException | None]:
        """Up to `size` bytes from the current position, and the failure that ends them.

        Read in ever smaller steps until the compressed data fails again; the failure is None if
        it did not recur.
        """
        salvaged = bytearray()
        failure: BaseException | None = None
        for step in self._SALVAGE_STEPS:
            self._reopen()
            assert self._stream is not None
            # Bytes up to here decoded before, so these reads stop short of the failure (unless
            # the file changed meanwhile: then they raise, or end early and nothing is salvaged).
            skip = self._position + len(salvaged)
            while skip:
                skipped = len(self._stream.read(min(skip, _READ_BUFFER)))
                if not skipped:
                    return bytes(salvaged), failure
                skip -= skipped
            try:
                while len(salvaged) < size:
                    piece = self._stream.read(min(step, size - len(salvaged)))
                    if not piece:
                        return bytes(salvaged), None
                    salvaged += piece
                return bytes(salvaged), None
            except _READ_ERRORS as e:
                failure = e
        return bytes(salvaged), failure

    def close(self) -> None:
        self._close_streams()
        super().close()


class _FileSource(Source):
    """What every file source shares: its manifest record and streaming reads."""

    format: str

    def __init__(self, path: str, compression: str | None = None) -> None:
        self.name = path
        self.compression = compression
        try:
            self.bytes = Path(path).stat().st_size
        except OSError as e:
            raise SourceError(f"{path}: cannot read: {e}") from e
        self._sha256: str | None = None
        # How far the active iterator has read into the file, for bytes_read().
        self._offset: Callable[[], int] | None = None
        # What bytes_read() says when no iterator is active (always, for Parquet).
        self._consumed = 0

    def info(self) -> dict[str, Any]:
        """``path``, ``format``, ``compression``, ``bytes`` and ``sha256`` of the file."""
        return {
            "path": self.name,
            "format": self.format,
            "compression": self.compression,
            "bytes": self.bytes,
            "sha256": self.sha256(),
        }

    def sha256(self) -> str:
        """Hex SHA-256 of the file's bytes, computed once."""
        if self._sha256 is None:
            digest = hashlib.sha256()
            try:
                with Path(self.name).open("rb") as f:
                    while block := f.read(_HASH_BLOCK):
                        digest.update(block)
            except OSError as e:
                raise SourceError(f"{self.name}: cannot read: {e}") from e
            self._sha256 = digest.hexdigest()
        return self._sha256

    def bytes_read(self) -> int:
        """Bytes of the file read so far (compressed bytes for a compressed file)."""
        offset = self._offset
        if offset is not None:
            try:
                return int(offset())
            except (ValueError, OSError):  # the iterator closed the file in the meantime
                pass
        return self._consumed

    @contextmanager
    def _reader(self) -> Iterator[io.BufferedReader]:
        """The file open for buffered binary reads, decompressed, past a leading UTF-8 BOM."""
        stream: Any
        if self.compression is None:
            stream = pa.OSFile(self.name)
            self._offset = stream.tell
        else:
            stream = _DecompressingReader(self.name, self.compression)
            self._offset = stream.compressed_offset
        try:
            with io.BufferedReader(stream, _READ_BUFFER) as reader:
                if reader.peek(len(_BOM))[: len(_BOM)] == _BOM:
                    reader.read(len(_BOM))
                yield reader
                self._consumed = self._offset()
        finally:
            self._offset = None
            stream.close()

    def _failure(self, error: BaseException, where: str) -> SourceError:
        return SourceError(f"{self.name}: read failed {where}: {error}")


def _after(unit: str, count: int) -> str:
    return f"after {unit} {count}" if count else "at the start"


class JsonlSource(_FileSource):
    """A JSON-lines file: one object per line, every physical line a row (blank ones load as "")."""

    format = "jsonl"

    def __init__(self, path: str, compression: str | None = None, *, text_field: str = "text"):
        super().__init__(path, compression)
        self._field = text_field

    def num_rows(self) -> None:
        """Unknown without reading the file."""
        return None

    def _rows(self, start: int) -> Iterator[RawRow]:
        load = self._load_row
        line_no = 0
        try:
            with self._reader() as reader:
                for line in reader:
                    line_no += 1
                    if line_no > start:
                        yield RawRow(line_no - 1, load, line)
        except _READ_ERRORS as e:
            raise self._failure(e, _after("line", line_no)) from e

    def _load_row(self, line: bytes, index: int) -> Doc:
        try:
            return _doc_from_json_line(line, self._field)
        except _BadRow as e:
            raise SourceError(f"{self.name}: line {index + 1}: {e}") from None


def _physical_lines(reader: io.BufferedReader) -> Iterator[bytes]:
    """The lines without their ends, which may be LF, CRLF or a lone CR."""
    for line in reader:
        if line.endswith(b"\n"):
            line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        if b"\r" in line:
            yield from line.split(b"\r")
        else:
            yield line


class TextSource(_FileSource):
    """A plain-text file: one document (``text_split="file"``) or blank-line separated blocks.

    Documents are stripped of surrounding whitespace, with line ends normalised to LF.
    """

    format = "text"

    def __init__(self, path: str, compression: str | None = None, *, text_split: str = "file"):
        super().__init__(path, compression)
        if text_split not in TEXT_SPLITS:
            raise ConfigError(f"unknown text_split {text_split!r}; choose one of {TEXT_SPLITS}")
        self._split = text_split

    def num_rows(self) -> int | None:
        """1 for a whole-file document; unknown for blank-line blocks."""
        return 1 if self._split == "file" else None

    def _rows(self, start: int) -> Iterator[RawRow]:
        return self._whole_file(start) if self._split == "file" else self._blocks(start)

    def _whole_file(self, start: int) -> Iterator[RawRow]:
        if start > 0:
            return
        try:
            with self._reader() as reader:
                data = reader.read()
        except _READ_ERRORS as e:
            raise self._failure(e, "before row 0") from e
        yield RawRow(0, self._load_row, (1, data))

    def _blocks(self, start: int) -> Iterator[RawRow]:
        load = self._load_row
        line_no = index = first = 0
        block: list[bytes] = []
        try:
            with self._reader() as reader:
                for line in _physical_lines(reader):
                    line_no += 1
                    if line.strip():
                        if not block:
                            first = line_no
                        block.append(line)
                    elif block:
                        if index >= start:
                            yield RawRow(index, load, (first, b"\n".join(block)))
                        index += 1
                        block = []
        except _READ_ERRORS as e:
            raise self._failure(e, _after("line", line_no)) from e
        if block and index >= start:
            yield RawRow(index, load, (first, b"\n".join(block)))

    def _load_row(self, raw: Any, index: int) -> Doc:
        first_line, data = raw
        # CR and LF bytes never occur inside a multi-byte UTF-8 sequence, so this is safe on bytes.
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = first_line + data.count(b"\n", 0, e.start)
            column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
            raise SourceError(
                f"{self.name}: line {line}: invalid UTF-8 "
                f"(byte 0x{data[e.start]:02X} at column {column})"
            ) from None
        return Doc(text.strip(), None)


def _is_text_type(t: pa.DataType) -> bool:
    """Strings, binary (UTF-8 text) or lists of integers (token ids)."""
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return pa.types.is_integer(t.value_type)
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    )


class ParquetSource(_FileSource):
    """A Parquet file; reads only the text column and a token-count column when there is one.

    The text column may hold strings, UTF-8 binary or lists of integer token ids. The footer is
    read (and checked) when the source is opened.
    """

    format = "parquet"

    def __init__(self, path: str, *, text_field: str = "text") -> None:
        super().__init__(path)
        self._field = text_field
        try:
            with pq.ParquetFile(path, page_checksum_verification=True) as pf:
                self._metadata = pf.metadata
                schema = pf.schema_arrow
        except _READ_ERRORS as e:
            raise SourceError(f"{path}: not a readable Parquet file: {e}") from e
        if text_field not in schema.names:
            raise SourceError(
                f"{path}: no column {text_field!r} (columns: {', '.join(schema.names)}); "
                "set text_field to the column that holds the text"
            )
        text_type = schema.field(text_field).type
        if not _is_text_type(text_type):
            raise SourceError(
                f"{path}: column {text_field!r} is {text_type}, not strings, binary or token ids"
            )
        self._count_column, self._count_of = self._token_count_column(schema)
        self._columns = (
            [text_field] if self._count_column is None else [text_field, self._count_column]
        )
        groups = self._metadata.num_row_groups
        self._group_ends = list(
            itertools.accumulate(self._metadata.row_group(i).num_rows for i in range(groups))
        )

    @staticmethod
    def _token_count_column(
        schema: pa.Schema,
    ) -> tuple[str | None, Callable[[Any], int | None]]:
        """Where token counts are (a column path to read) and how to read one value."""
        if "token_count" in schema.names and pa.types.is_integer(schema.field("token_count").type):
            return "token_count", _as_count
        if "metadata" in schema.names:
            t = schema.field("metadata").type
            if (
                pa.types.is_struct(t)
                and t.get_field_index("token_count") >= 0
                and pa.types.is_integer(t.field("token_count").type)
            ):
                # Reads just that leaf, not the whole metadata struct.
                return "metadata.token_count", _as_count
            if pa.types.is_string(t) or pa.types.is_large_string(t):
                return "metadata", _metadata_count
        return None, _as_count

    def num_rows(self) -> int:
        """From the footer metadata."""
        return int(self._metadata.num_rows)

    def _counts(self, batch: pa.RecordBatch) -> list[Any]:
        if self._count_column is None:
            return [None] * batch.num_rows
        if self._count_column == "metadata.token_count":
            # struct_field, unlike StructArray.field, gives null where the metadata itself is null.
            return pc.struct_field(batch.column("metadata"), "token_count").to_pylist()
        return _to_pylist_text(batch.column(self._count_column))

    def _rows(self, start: int) -> Iterator[RawRow]:
        first_group = bisect_right(self._group_ends, start)
        if first_group == len(self._group_ends):
            return
        skip = start - (self._group_ends[first_group - 1] if first_group else 0)
        total = self.num_rows()
        load = self._load_row
        index = start
        self._consumed = self.bytes * start // total
        try:
            # Pages written with checksums (l2t's own parts, some writers' files) are verified.
            with pq.ParquetFile(
                self.name, metadata=self._metadata, page_checksum_verification=True
            ) as pf:
                batches = pf.iter_batches(
                    batch_size=_PARQUET_BATCH,
                    row_groups=range(first_group, len(self._group_ends)),
                    columns=self._columns,
                )
                for batch in batches:
                    if skip >= batch.num_rows:
                        skip -= batch.num_rows
                        continue
                    if skip:
                        batch = batch.slice(skip)
                        skip = 0
                    texts = _to_pylist_text(batch.column(self._field))
                    for value, count in zip(texts, self._counts(batch), strict=True):
                        yield RawRow(index, load, (value, count))
                        index += 1
                    self._consumed = self.bytes * index // total
        except _READ_ERRORS as e:
            raise self._failure(e, f"at row {index}") from e

    def _load_row(self, raw: Any, index: int) -> Doc:
        value, count = raw
        try:
            return Doc(_text_of(value), self._count_of(count))
        except _BadRow as e:
            raise SourceError(f"{self.name}: row {index}: column {self._field!r} {e}") from None


class IterableSource(Source):
    """Documents in memory: strings, dicts (``text_field``, optional token counts) or token ids.

    A list, a tuple or a Hugging Face ``datasets.Dataset`` (anything with ``__len__`` and
    ``__getitem__``) can be read any number of times and resumed by index; a generator or other
    one-shot iterator can be read once.
    """

    def __init__(self, items: Iterable[Any], *, text_field: str = "text") -> None:
        if isinstance(items, Mapping):
            raise ConfigError(
                "a dict is not a collection of documents (a datasets.DatasetDict? pick a split, "
                "e.g. ds['train'])"
            )
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise ConfigError(
                "inputs must be a path, a list of paths, or an iterable of documents, "
                f"not {type(items).__name__}"
            )
        self._items = items
        self._field = text_field
        # A sequence or dataset (len and indexing) counts its rows and resumes by index.
        indexable = hasattr(items, "__len__") and hasattr(items, "__getitem__")
        self._sequence: Any = items if indexable else None
        self._one_shot = isinstance(items, Iterator)
        self._read = False
        # Duck typing: a Hugging Face dataset is named as one without importing `datasets`.
        is_dataset = type(items).__module__.split(".")[0] == "datasets"
        self.name = "<dataset>" if is_dataset else "<iterable>"

    def info(self) -> dict[str, Any]:
        """``path`` (``"<iterable>"`` or ``"<dataset>"``) and ``format`` ``"python"``."""
        return {"path": self.name, "format": "python"}

    def num_rows(self) -> int | None:
        """``len()`` of a sequence or dataset; None for other iterables."""
        return None if self._sequence is None else len(self._sequence)

    def bytes_read(self) -> int:
        """Always 0: nothing is read from a file."""
        return 0

    def _rows(self, start: int) -> Iterator[RawRow]:
        # Not a generator function: a second read of a one-shot iterator fails at the call.
        if self._one_shot:
            if self._read:
                raise SourceError(
                    f"{self.name}: a one-shot iterator cannot be read twice; "
                    "pass a list or a dataset"
                )
            self._read = True
        items: Iterable[Any] = self._items
        if start and self._sequence is not None:
            # Index straight to `start`: iterating a dataset past skipped rows would decode them.
            seq = self._sequence
            items = (seq[i] for i in range(start, len(seq)))
        elif start:
            items = itertools.islice(items, start, None)
        load = self._load_row
        return (RawRow(index, load, item) for index, item in enumerate(items, start))

    def _load_row(self, item: Any, index: int) -> Doc:
        try:
            if isinstance(item, str):  # the common case first: isinstance(x, Mapping) is slow
                return Doc(_checked_str(item), None)
            if isinstance(item, (dict, Mapping)):
                return _doc_from_object(item, self._field)
            return Doc(_text_of(item), None)
        except _BadRow as e:
            subject = "" if isinstance(item, (dict, Mapping)) else "the item "
            raise SourceError(f"{self.name}: row {index}: {subject}{e}") from None


class Documents:
    """Marks an in-memory collection as documents for :func:`open_sources`.

    A list of strings alone is read as a list of paths:
    ``open_sources(Documents(["First document.", "Second one."]))`` reads the strings themselves.
    """

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items


def open_sources(
    inputs: str | os.PathLike[str] | Iterable[Any] | Documents | Source,
    *,
    text_field: str = "text",
    text_split: str = "file",
    input_format: str | None = None,
) -> list[Source]:
    """The sources of ``inputs``, in a deterministic order.

    Args:
        inputs: a path, a directory (read recursively: files with a known extension, hidden ones
            skipped, in order of relative path), a glob pattern (``**`` allowed; sorted matches),
            or a list of these (duplicates kept once, at their first place). Anything else is
            documents in memory: an iterable of strings, of dicts, or of token-id sequences, such
            as a ``datasets.Dataset``; wrap a list of strings in :class:`Documents`.
        text_field: the field or column holding the text.
        text_split: how text files divide into documents: ``"file"`` (one each) or
            ``"blank-lines"`` (blocks between blank lines).
        input_format: ``"parquet"``, ``"jsonl"`` or ``"text"``, for named files (and glob matches)
            whatever their extension; otherwise the extension decides (``.parquet``/``.pq``,
            ``.jsonl``/``.ndjson``/``.json``, ``.txt``/``.text``/``.md``), and a ``.gz``, ``.zst``
            or ``.zstd`` suffix means compressed.

    Raises:
        ConfigError: an invalid ``text_split`` or ``input_format``, or ``inputs`` of no usable type.
        SourceError: a path that matches nothing, a directory with no usable files, a file of
            unknown type, or an unreadable Parquet footer.

    """
    if text_split not in TEXT_SPLITS:
        raise ConfigError(f"unknown text_split {text_split!r}; choose one of {TEXT_SPLITS}")
    if input_format is not None and input_format not in INPUT_FORMATS:
        raise ConfigError(f"unknown input_format {input_format!r}; choose one of {INPUT_FORMATS}")
    if not isinstance(text_field, str) or not text_field:
        raise ConfigError(f"text_field must be a non-empty string, not {text_field!r}")
    if isinstance(inputs, Source):
        return [inputs]
    if isinstance(inputs, Documents):
        return [IterableSource(inputs.items, text_field=text_field)]
    if isinstance(inputs, (str, os.PathLike)):
        specs: list[str | os.PathLike[str]] = [inputs]
    elif isinstance(inputs, (list, tuple)) and all(
        isinstance(x, (str, os.PathLike)) for x in inputs
    ):
        if not inputs:
            raise SourceError("no inputs: the list of paths is empty")
        specs = list(inputs)
    else:
        return [IterableSource(inputs, text_field=text_field)]

    files: dict[Path, tuple[str, str, str | None]] = {}
    for spec in specs:
        for path, fmt, compression in _expand(os.fspath(spec), input_format):
            files.setdefault(_real_path(path), (path, fmt, compression))
    return [
        _open_file(path, fmt, compression, text_field=text_field, text_split=text_split)
        for path, fmt, compression in files.values()
    ]


def _open_file(
    path: str, fmt: str, compression: str | None, *, text_field: str, text_split: str
) -> Source:
    if fmt == "parquet":
        if compression is not None:
            raise SourceError(
                f"{path}: a Parquet file cannot be {compression}-compressed as a whole "
                "(Parquet compresses its pages itself); decompress it"
            )
        return ParquetSource(path, text_field=text_field)
    if fmt == "jsonl":
        return JsonlSource(path, compression, text_field=text_field)
    return TextSource(path, compression, text_split=text_split)


def _detect(name: str) -> tuple[str | None, str | None]:
    """(format, compression) from a file name's extensions; format None when unknown."""
    path = PurePath(name.lower())
    compression = _COMPRESSIONS.get(path.suffix)
    if compression is not None:
        path = path.with_suffix("")
    return _FORMATS.get(path.suffix), compression


def _named_file(path: str, input_format: str | None) -> tuple[str, str, str | None]:
    fmt, compression = _detect(path)
    fmt = input_format or fmt
    if fmt is None:
        raise SourceError(
            f"{path}: unknown file type; name it .parquet, .jsonl or .txt (optionally .gz or "
            ".zst), or set the format (input_format='parquet'|'jsonl'|'text', --input-format on "
            "the command line)"
        )
    return path, fmt, compression


def _looks_like_text(spec: str) -> bool:
    """Whether a string that names nothing is more likely a document than a mistyped path.

    Line breaks, a path component too long for any file system, or spaces without a known file
    extension: a list of strings is read as paths, so documents passed bare end up here.
    """
    return (
        "\n" in spec
        or any(len(part.encode("utf-8", "surrogatepass")) > _NAME_MAX for part in spec.split("/"))
        or (" " in spec and _detect(spec)[0] is None)
    )


def _no_input(spec: str, problem: str) -> SourceError:
    """The error for an input string that names no file, with a hint when it looks like text."""
    message = f"{shown(spec)}: {problem}"
    if _looks_like_text(spec):
        message += (
            "; it looks like document text rather than a path: strings are read as paths, so "
            "pass documents in memory as l2t.sources.Documents([...])"
        )
    return SourceError(message)


def _is_directory(path: Path) -> bool | None:
    """True for a directory, False for another existing file, None when nothing is there.

    Follows symbolic links; a broken link or a link loop is a SourceError naming it, and so is a
    path that exists but cannot be examined.
    """
    try:
        return stat.S_ISDIR(path.stat().st_mode)
    except ValueError:  # an embedded NUL: no file has this name
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise SourceError(f"{shown(str(path))}: a loop of symbolic links") from None
        if e.errno == errno.ENAMETOOLONG:
            return None
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            if path.is_symlink():
                raise SourceError(
                    f"{path}: a broken symbolic link (to {path.readlink()}, which does not exist)"
                ) from None
            return None
        raise SourceError(f"{shown(str(path))}: cannot read: {e.strerror or e}") from None


def _real_path(path: str) -> Path:
    """The file's path with links resolved, which identifies it among the inputs."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError) as e:  # RuntimeError: a link loop, before Python 3.13
        raise SourceError(f"{path}: cannot resolve: {e}") from None


def _directory_files(root: Path) -> list[tuple[str, str, str | None]]:
    """The input files under `root`, sorted by relative path; hidden names are skipped.

    Symbolic links are followed, each real directory read once (a second link to it adds
    nothing); a link back to a directory it is inside would repeat the tree forever, so it is a
    SourceError naming it, as are broken links and unreadable directories.
    """
    found = []
    root_id = _directory_id(root)
    read: set[tuple[int, int]] = set()
    # Depth first, in name order so that which link reaches a directory first is deterministic;
    # each entry carries the real directories it is inside, to recognise a loop where it closes.
    pending: list[tuple[Path, tuple[int, int], dict[tuple[int, int], Path]]] = [(root, root_id, {})]
    while pending:
        directory, directory_id, ancestors = pending.pop()
        if directory_id in ancestors:
            raise SourceError(
                f"{directory}: a symbolic link loop (it leads back to {ancestors[directory_id]}, "
                "which contains it); remove the link or name the directories to read"
            )
        if directory_id in read:
            continue  # its files were found through another link
        read.add(directory_id)
        inside = {**ancestors, directory_id: directory}
        try:
            with os.scandir(directory) as it:
                entries = sorted((e for e in it if not e.name.startswith(".")), key=_entry_name)
        except OSError as e:
            raise SourceError(f"{directory}: cannot read this directory: {e.strerror}") from None
        subdirectories = []
        for entry in entries:
            path = directory / entry.name
            if entry.is_symlink() or entry.is_dir():
                is_directory = _is_directory(path)  # names broken links and loops
                if is_directory:
                    subdirectories.append((path, _directory_id(path), inside))
                    continue
            fmt, compression = _detect(entry.name)
            if fmt is not None:
                found.append((path.relative_to(root).as_posix(), fmt, compression))
        pending.extend(reversed(subdirectories))
    if not found:
        raise SourceError(
            f"{root}: no input files in this directory (looked for "
            f"{', '.join(_FORMATS)}, optionally compressed .gz or .zst)"
        )
    found.sort()
    return [(str(root / rel), fmt, compression) for rel, fmt, compression in found]


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _directory_id(path: Path) -> tuple[int, int]:
    """What identifies a directory whatever link reaches it: its device and inode."""
    try:
        st = path.stat()
    except OSError as e:
        raise SourceError(f"{path}: cannot read: {e.strerror}") from None
    return st.st_dev, st.st_ino


def _expand(spec: str, input_format: str | None) -> list[tuple[str, str, str | None]]:
    """The files a path, directory or glob names, with their format and compression."""
    if not spec.strip():
        # Path("") is the working directory, which would be read whole.
        raise SourceError("an input path is an empty string")
    # os.path.expanduser, unlike Path.expanduser, leaves "~unknown-user" as it is.
    path = Path(os.path.expanduser(spec))  # noqa: PTH111
    is_directory = _is_directory(path)
    if is_directory:
        return _directory_files(path)
    if is_directory is not None:
        return [_named_file(str(path), input_format)]
    if not any(c in spec for c in "*?["):
        raise _no_input(spec, "no such file or directory")
    # glob.glob, unlike Path.glob, takes absolute patterns.
    matches = sorted(glob.glob(str(path), recursive=True))  # noqa: PTH207
    if not matches:
        raise _no_input(spec, "no files match this pattern")
    files = []
    for match in map(Path, matches):
        if _is_directory(match):
            files.extend(_directory_files(match))
        else:
            files.append(_named_file(str(match), input_format))
    return files
