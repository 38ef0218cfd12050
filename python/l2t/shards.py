r"""The on-disk formats of generated data: Parquet rows, ``.bin`` token files, JSONL examples.

Every writer writes to a temporary file (its name given by the output directory, see
:mod:`l2t.output_dir`) and renames it only after the file is complete and synced, so a part that
exists under its final name is whole; a crash leaves at most a temporary file, which the next
run removes. Writers are deterministic: the same rows give the same bytes (for Parquet, with the
same pyarrow version, which the manifest records). Parquet parts carry page checksums (CRC-32),
and l2t reads its parts verifying them, so a flipped byte is an error, not garbage ids.

Parquet schema (one row per packed row of ``seq_len`` ids)::

    input_ids        list<uint32>   the row, padded with pad_id to seq_len
    segment_lengths  list<uint32>   lengths of the row's examples / raw pieces, in order
    segment_tasks    list<uint8>    task id of each segment (255: raw text)
    segment_docs     list<uint64>   global index of each segment's source document
    loss_mask        list<bool>     (profiles that ignore pads) true where the token is a target
    segment_prompt_lengths  list<uint32>  (with ``mask_prompts``) prompt ids leading each segment

``.bin`` files hold the rows back to back after a 64-byte header (little endian)::

    magic "L2TBIN\0\0" | version u32 (1) | bytes per id u32 (2 or 4) | seq_len u32 | pad_id u32 |
    num_rows u64 | num_ids u64 | 24 reserved zero bytes

and a reader checks the magic, the version, the id width and that the size matches the counts.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from l2t import _l2t
from l2t.faults import fault_point
from l2t.tasks import task_name

if TYPE_CHECKING:
    import pyarrow as pa

    from l2t.engine import Example, PackedBatch

FORMATS = ("parquet", "bin", "jsonl")
EXTENSIONS = {"parquet": ".parquet", "bin": ".bin", "jsonl": ".jsonl"}

BIN_MAGIC = b"L2TBIN\0\0"
BIN_VERSION = 1
BIN_HEADER = struct.Struct("<8sIIIIQQ24x")


PART_PREFIX = "part-"


def part_name(index: int, fmt: str) -> str:
    """The file name of output part `index`."""
    return f"{PART_PREFIX}{index:06d}{EXTENSIONS[fmt]}"


class PartWriter(ABC):
    """Writes one part to the temporary file `tmp`; :meth:`commit` renames it to `final`."""

    def __init__(self, final: Path, tmp: Path) -> None:
        self.final = final
        self.tmp = tmp
        self.rows = 0
        self.committed = False

    @abstractmethod
    def write_rows(self, batch: PackedBatch) -> None:
        """Appends packed rows (Parquet and .bin)."""

    def write_examples(self, examples: list[Example], raw: list[tuple[int, str]]) -> None:
        """Appends examples and raw documents (JSONL)."""
        raise NotImplementedError

    @abstractmethod
    def _close(self) -> None:
        """Flushes and closes the temporary file."""

    def commit(self) -> None:
        """Closes, syncs and renames the temporary file to its final name."""
        self._close()
        with self.tmp.open("rb") as f:
            os.fsync(f.fileno())
        fault_point("part-written")
        self.tmp.replace(self.final)
        self.committed = True
        fault_point("part-renamed")

    def abort(self) -> None:
        """Closes and removes the temporary file (after an error); never raises."""
        with contextlib.suppress(Exception):  # the error that stopped the run matters
            self._close()
        self.tmp.unlink(missing_ok=True)


class ParquetPartWriter(PartWriter):
    """Packed rows as Parquet, one row group per engine batch."""

    def __init__(
        self,
        final: Path,
        tmp: Path,
        *,
        seq_len: int,
        loss_mask: bool,
        prompts: bool = False,
        metadata: dict[str, str],
    ) -> None:
        super().__init__(final, tmp)
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._loss_mask = loss_mask
        self._prompts = prompts
        self.schema = parquet_schema(loss_mask=loss_mask, prompts=prompts, metadata=metadata)
        self._writer = pq.ParquetWriter(
            self.tmp,
            self.schema,
            compression="zstd",
            # Ids are high-entropy: dictionaries and page statistics cost time and buy nothing.
            use_dictionary=["segment_tasks"],
            write_statistics=["segment_tasks"],
            write_page_checksum=True,
        )
        self._pa = pa
        self.seq_len = seq_len

    def write_rows(self, batch: PackedBatch) -> None:
        """Appends `batch` as one row group."""
        if batch.num_rows == 0:
            return
        table = rows_table(batch, loss_mask=self._loss_mask, prompts=self._prompts)
        table = table.cast(self.schema)
        self._writer.write_table(table)
        self.rows += batch.num_rows

    def _close(self) -> None:
        self._writer.close()


def parquet_schema(
    *, loss_mask: bool, prompts: bool = False, metadata: dict[str, str]
) -> pa.Schema:
    """The explicit schema of packed-row Parquet parts."""
    import pyarrow as pa

    fields = [
        pa.field("input_ids", pa.list_(pa.uint32()), nullable=False),
        pa.field("segment_lengths", pa.list_(pa.uint32()), nullable=False),
        pa.field("segment_tasks", pa.list_(pa.uint8()), nullable=False),
        pa.field("segment_docs", pa.list_(pa.uint64()), nullable=False),
    ]
    if loss_mask:
        fields.append(pa.field("loss_mask", pa.list_(pa.bool_()), nullable=False))
    if prompts:
        fields.append(pa.field("segment_prompt_lengths", pa.list_(pa.uint32()), nullable=False))
    return pa.schema(fields, metadata=metadata)


def rows_table(batch: PackedBatch, *, loss_mask: bool, prompts: bool = False) -> pa.Table:
    """Packed rows as a table with the part schema's columns (ids are not copied)."""
    import pyarrow as pa

    n, seq = batch.input_ids.shape
    row_starts = pa.array(np.arange(0, (n + 1) * seq, seq, dtype=np.int32))
    seg = pa.array(batch.row_offsets.astype(np.int32))
    columns: dict[str, pa.Array] = {
        "input_ids": pa.ListArray.from_arrays(row_starts, pa.array(batch.input_ids.reshape(-1))),
        "segment_lengths": pa.ListArray.from_arrays(seg, pa.array(batch.segment_lengths)),
        "segment_tasks": pa.ListArray.from_arrays(seg, pa.array(batch.segment_tasks)),
        "segment_docs": pa.ListArray.from_arrays(seg, pa.array(batch.segment_docs)),
    }
    if loss_mask:
        mask = batch.loss_mask().reshape(-1)
        columns["loss_mask"] = pa.ListArray.from_arrays(row_starts, pa.array(mask))
    if prompts:
        columns["segment_prompt_lengths"] = pa.ListArray.from_arrays(
            seg, pa.array(batch.segment_prompt_lengths)
        )
    return pa.table(columns)


class BinPartWriter(PartWriter):
    """Packed rows as a flat token file with a checked header (nanoGPT-style loaders)."""

    def __init__(
        self, final: Path, tmp: Path, *, seq_len: int, pad_id: int, vocab_size: int
    ) -> None:
        super().__init__(final, tmp)
        self.dtype = np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")
        self.seq_len = seq_len
        self.pad_id = pad_id
        self._file: IO[bytes] | None = self.tmp.open("wb")
        self._file.write(self._header())  # rewritten with the counts on close

    def _header(self) -> bytes:
        return BIN_HEADER.pack(
            BIN_MAGIC,
            BIN_VERSION,
            self.dtype.itemsize,
            self.seq_len,
            self.pad_id,
            self.rows,
            self.rows * self.seq_len,
        )

    def write_rows(self, batch: PackedBatch) -> None:
        """Appends the rows' ids."""
        assert self._file is not None
        self._file.write(batch.input_ids.astype(self.dtype, copy=False).tobytes())
        self.rows += batch.num_rows

    def _close(self) -> None:
        if self._file is None:
            return
        f, self._file = self._file, None
        try:
            f.seek(0)
            f.write(self._header())
        finally:
            f.close()


def read_bin(path: str | os.PathLike[str]) -> np.ndarray:
    """The rows of a ``.bin`` part as a read-only ``(num_rows, seq_len)`` memory map.

    Raises :class:`l2t.SourceError` when the header is not l2t's or disagrees with the file size.
    """
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(BIN_HEADER.size)
    if len(head) < BIN_HEADER.size:
        raise _l2t.SourceError(f"{path}: too short for an l2t .bin header ({size} bytes)")
    magic, version, width, seq_len, _pad, rows, ids = BIN_HEADER.unpack(head)
    if magic != BIN_MAGIC:
        raise _l2t.SourceError(f"{path}: not an l2t .bin file (magic {magic!r})")
    if version != BIN_VERSION:
        raise _l2t.SourceError(f"{path}: .bin version {version}; this l2t reads {BIN_VERSION}")
    if width not in (2, 4) or ids != rows * seq_len:
        raise _l2t.SourceError(f"{path}: inconsistent header (width {width}, {rows}x{seq_len})")
    if size != BIN_HEADER.size + ids * width:
        raise _l2t.SourceError(
            f"{path}: header says {ids} ids of {width} bytes but the file has "
            f"{size - BIN_HEADER.size} bytes of data (truncated or overwritten?)"
        )
    dtype = np.dtype("<u2") if width == 2 else np.dtype("<u4")
    return np.memmap(path, dtype=dtype, mode="r", offset=BIN_HEADER.size, shape=(rows, seq_len))


class JsonlPartWriter(PartWriter):
    """Examples (task, prompt, completion, text) and raw documents, one JSON object per line."""

    def __init__(self, final: Path, tmp: Path) -> None:
        super().__init__(final, tmp)
        self._file: IO[str] | None = self.tmp.open("w", encoding="utf-8", newline="\n")

    def write_rows(self, batch: PackedBatch) -> None:
        """JSONL parts hold examples, not packed rows."""
        raise NotImplementedError("JSONL parts are written with write_examples")

    def write_examples(self, examples: list[Example], raw: list[tuple[int, str]]) -> None:
        """Writes the batch's L2T examples and raw documents in document order."""
        assert self._file is not None
        records: list[tuple[int, int, dict[str, Any]]] = []
        for i, e in enumerate(examples):
            record = {
                "doc": e.doc,
                "task": e.task,
                "prompt": e.prompt,
                "completion": e.completion,
                "text": e.text,
            }
            records.append((e.doc, i, record))
        for doc, text in raw:
            records.append(
                (doc, -1, {"doc": doc, "task": task_name(_l2t.RAW_TASK_ID), "text": text})
            )
        records.sort(key=lambda r: (r[0], r[1]))
        self._file.writelines(json.dumps(r, ensure_ascii=False) + "\n" for _, _, r in records)
        self.rows += len(records)

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_parquet_rows(path: str | os.PathLike[str]) -> pa.Table:
    """A Parquet part as a table, its page checksums verified.

    Raises :class:`l2t.SourceError` naming the file when it cannot be read or a page is damaged.
    """
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, page_checksum_verification=True)
    except Exception as e:
        raise _l2t.SourceError(f"{path}: cannot read Parquet part: {e}") from e
