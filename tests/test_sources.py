"""Input sources: every format reads back exactly, resumes at any row, and names bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from l2t import ConfigError, SourceError
from l2t.sources import Doc, Documents, IterableSource, Source, open_sources


def one(path: Path | str, **kwargs: Any) -> Source:
    (source,) = open_sources(path, **kwargs)
    return source


def docs(source: Source, start: int = 0) -> list[tuple[int, Doc]]:
    return [(row.index, row.load()) for row in source.rows(start)]


def assert_resumes(source: Source) -> None:
    """rows(start) is the tail of rows(0) for every start, and past the end is empty."""
    full = docs(source)
    assert [i for i, _ in full] == list(range(len(full)))
    for start in range(len(full) + 2):
        assert docs(source, start) == full[start:]


def write_lines(path: Path, lines: list[bytes], compression: str | None = None) -> Path:
    data = b"".join(lines)
    if compression is None:
        path.write_bytes(data)
    else:
        with pa.output_stream(str(path), compression=compression) as f:
            f.write(data)
    return path


def jsonl(*objects: Any) -> list[bytes]:
    return [json.dumps(o).encode() + b"\n" for o in objects]


def read_until_error(source: Source) -> tuple[list[Doc], str]:
    """The documents read before the source failed, and its error message."""
    read: list[Doc] = []
    try:
        for row in source.rows():
            read.append(row.load())
    except SourceError as e:
        return read, str(e)
    pytest.fail(f"{source.name} read to the end without a SourceError")


def load_error(source: Source, index: int) -> str:
    """The message of loading row `index`, whose predecessors load fine."""
    rows = list(source.rows())
    for row in rows[:index]:
        row.load()
    with pytest.raises(SourceError) as e:
        rows[index].load()
    return str(e.value)


ROWS = [
    {"text": "First document.", "token_count": 3},
    {"text": "Zweites Dokument: äöü, 漢字, emoji 🙂", "metadata": {"token_count": 9}},
    {"text": [5, 0, 17], "id": "pre-tokenized"},
    {"text": "", "token_count": True},
    {"text": "no count", "metadata": {"url": "x"}},
]
EXPECTED = [
    Doc("First document.", 3),
    Doc("Zweites Dokument: äöü, 漢字, emoji 🙂", 9),
    Doc([5, 0, 17], None),
    Doc("", None),
    Doc("no count", None),
]


# JSON lines


@pytest.mark.parametrize(
    ("suffix", "compression"),
    [
        (".jsonl", None),
        (".ndjson", None),
        (".json", None),
        (".jsonl.gz", "gzip"),
        (".JSONL.ZST", "zstd"),
        (".jsonl.zstd", "zstd"),
    ],
)
def test_jsonl_reads_back_exactly(tmp_path: Path, suffix: str, compression: str | None) -> None:
    path = write_lines(tmp_path / f"docs{suffix}", [*jsonl(*ROWS), b"  \r\n"], compression)
    source = one(path)
    assert [d for _, d in docs(source)] == [*EXPECTED, Doc("", None)]
    assert source.num_rows() is None
    assert source.info() == {
        "path": str(path),
        "format": "jsonl",
        "compression": compression,
        "bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    assert source.bytes_read() == path.stat().st_size
    assert_resumes(source)


def test_jsonl_bom_crlf_and_no_final_newline(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [b'\xef\xbb\xbf{"text": "a"}\r\n', b'{"text": "b"}'])
    assert [d.text for _, d in docs(one(path))] == ["a", "b"]


def test_jsonl_skipped_rows_are_not_parsed(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "a.jsonl", [b"{not json\n", b"\xff\xfe\n", *jsonl({"text": "ok"})]
    )
    assert docs(one(path), 2) == [(2, Doc("ok", None))]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"text": "unterminated\n', "line 2: invalid JSON"),
        (b'["text", "an array"]\n', "line 2: expected a JSON object, got an array"),
        (b'{"body": "x", "id": 1}\n', "line 2: no field 'text' (fields: 'body', 'id')"),
        (b'{"text": null}\n', "line 2: field 'text' is null"),
        (b'{"text": 17}\n', "line 2: field 'text' is int, not a string"),
        (b'{"text": "caf\xe9"}\n', "line 2: the line is not valid UTF-8 (byte 0xE9 at offset 13)"),
        (b'{"text": [1, -2]}\n', "line 2: field 'text' has -2 at position 1, not a token id"),
        (b'{"text": [1, 2.5]}\n', "line 2: field 'text' has float at position 1, not a token"),
        (b'{"text": [true]}\n', "line 2: field 'text' has bool at position 0, not a token"),
        (b'{"text": [1, null]}\n', "line 2: field 'text' has null at position 1, not a token"),
        (b'{"text": "\\ud800"}\n', "line 2: field 'text' holds a lone surrogate U+D800"),
    ],
)
def test_jsonl_bad_rows_name_file_and_line(tmp_path: Path, line: bytes, message: str) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [*jsonl({"text": "good"}), line])
    assert load_error(one(path), 1).startswith(f"{path}: {message}")


@pytest.mark.parametrize(("suffix", "compression"), [(".jsonl.gz", "gzip"), (".jsonl.zst", "zstd")])
def test_truncated_compressed_jsonl_fails_after_the_good_rows(
    tmp_path: Path, suffix: str, compression: str
) -> None:
    # Large enough (3 MB decompressed) that the cut falls past the first 1 MiB read.
    objects = [{"text": f"row {i} " + "x" * (i % 50)} for i in range(60_000)]
    path = write_lines(tmp_path / f"whole{suffix}", jsonl(*objects), compression)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    read, message = read_until_error(one(cut))
    assert 0 < len(read) < len(objects)
    assert read == [Doc(o["text"], None) for o in objects[: len(read)]]
    assert message.startswith(f"{cut}: read failed after line {len(read)}: ")


def test_unreadable_compressed_stream_fails_at_the_start(tmp_path: Path) -> None:
    path = tmp_path / "not-gzip.jsonl.gz"
    path.write_bytes(b'{"text": "plain"}\n')
    with pytest.raises(SourceError, match="read failed at the start"):
        list(one(path).rows())


# Parquet


def parquet(path: Path, columns: dict[str, pa.Array], row_group_size: int = 3) -> Path:
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


TEXTS = [f"document {i} " + "é" * i for i in range(10)]


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        (pa.array(TEXTS), TEXTS),
        (pa.array(TEXTS, pa.large_string()), TEXTS),
        (pa.array([t.encode() for t in TEXTS], pa.binary()), TEXTS),
        (pa.array([[i, i + 1] for i in range(10)], pa.list_(pa.int32())), None),
        (pa.array([list(range(i)) for i in range(10)], pa.large_list(pa.uint16())), None),
    ],
    ids=["string", "large_string", "binary", "list_int32", "large_list_uint16"],
)
def test_parquet_text_column_types(tmp_path: Path, column: pa.Array, expected: Any) -> None:
    path = parquet(tmp_path / "docs.parquet", {"id": pa.array(range(10)), "text": column})
    source = one(path)
    assert [d.text for _, d in docs(source)] == (expected or column.to_pylist())
    assert source.num_rows() == 10
    assert_resumes(source)


@pytest.mark.parametrize(
    ("extra", "counts"),
    [
        ({"token_count": pa.array(range(10))}, list(range(10))),
        ({"token_count": pa.array(["7"] * 10)}, [None] * 10),
        (
            {"metadata": pa.array([{"url": "u", "token_count": i} for i in range(10)])},
            list(range(10)),
        ),
        (
            {"metadata": pa.array([None, *({"token_count": i} for i in range(1, 10))])},
            [None, *range(1, 10)],
        ),
        (
            {
                "metadata": pa.array(
                    ['{"token_count": 4}', "{broken", None, '{"x": 1}'] * 2 + ["", ""]
                )
            },
            [4, None, None, None] * 2 + [None, None],
        ),
        ({}, [None] * 10),
    ],
    ids=["column", "string-column", "struct", "null-struct", "json-metadata", "none"],
)
def test_parquet_token_counts(
    tmp_path: Path, extra: dict[str, pa.Array], counts: list[Any]
) -> None:
    path = parquet(tmp_path / "docs.pq", {"text": pa.array(TEXTS), **extra})
    assert [d.token_count for _, d in docs(one(path))] == counts


def test_parquet_info_resume_and_progress(tmp_path: Path) -> None:
    path = parquet(tmp_path / "docs.parquet", {"text": pa.array(TEXTS)}, row_group_size=4)
    source = one(path)
    assert source.info() == {
        "path": str(path),
        "format": "parquet",
        "compression": None,
        "bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    assert source.bytes == path.stat().st_size
    assert_resumes(source)
    assert source.bytes_read() == source.bytes


def test_parquet_empty_table(tmp_path: Path) -> None:
    path = parquet(tmp_path / "empty.parquet", {"text": pa.array([], pa.string())})
    source = one(path)
    assert source.num_rows() == 0
    assert docs(source) == []


def corrupt_row_group(path: Path, group: int, out: Path) -> Path:
    chunk = pq.ParquetFile(path).metadata.row_group(group).column(0)
    offset = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 32] = b"\xff" * 32
    out.write_bytes(bytes(data))
    return out


def test_corrupt_parquet_page_fails_after_the_good_rows(tmp_path: Path) -> None:
    texts = [f"row {i}" for i in range(4500)]
    good = parquet(tmp_path / "good.parquet", {"text": pa.array(texts)}, row_group_size=1500)
    path = corrupt_row_group(good, 2, tmp_path / "corrupt.parquet")
    read, message = read_until_error(one(path))
    assert 0 < len(read) <= 3000 and [d.text for d in read] == texts[: len(read)]
    assert message.startswith(f"{path}: read failed at row {len(read)}: ")


def test_parquet_resume_skips_row_groups_unread(tmp_path: Path) -> None:
    texts = [f"row {i}" for i in range(60)]
    good = parquet(tmp_path / "good.parquet", {"text": pa.array(texts)}, row_group_size=20)
    path = corrupt_row_group(good, 0, tmp_path / "corrupt.parquet")
    assert [d.text for _, d in docs(one(path), 25)] == texts[25:]


@pytest.mark.parametrize("kind", ["empty", "garbage", "truncated"])
def test_unreadable_parquet_is_named(tmp_path: Path, kind: str) -> None:
    good = parquet(tmp_path / "good.parquet", {"text": pa.array(TEXTS)})
    path = tmp_path / "bad.parquet"
    path.write_bytes(
        {
            "empty": b"",
            "garbage": b"garbage, not a parquet file" * 10,
            "truncated": good.read_bytes()[: good.stat().st_size // 2],
        }[kind]
    )
    with pytest.raises(SourceError, match="not a readable Parquet file") as e:
        open_sources(path)
    assert str(e.value).startswith(f"{path}: ")


def test_parquet_missing_or_unusable_text_column(tmp_path: Path) -> None:
    path = parquet(tmp_path / "a.parquet", {"body": pa.array(["x"]), "n": pa.array([1])})
    with pytest.raises(SourceError, match="no column 'text' \\(columns: body, n\\)") as e:
        open_sources(path)
    assert str(e.value).startswith(f"{path}: ")
    assert [d.text for _, d in docs(one(path, text_field="body"))] == ["x"]
    with pytest.raises(SourceError, match="column 'n' is int64, not strings"):
        open_sources(path, text_field="n")


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (pa.array(["ok", None]), "row 1: column 'text' is null"),
        (pa.array([b"ok", b"caf\xe9"]), "row 1: column 'text' is not valid UTF-8 (byte 0xE9"),
        # Arrow does not check UTF-8 when reading Parquet string columns.
        (pa.array([b"ok", b"caf\xe9"]).view(pa.string()), "row 1: column 'text' is not valid"),
        (
            pa.array([[1], [3, -4]], pa.list_(pa.int64())),
            "row 1: column 'text' has -4 at position 1",
        ),
        (
            pa.array([[1], [3, None]], pa.list_(pa.int64())),
            "row 1: column 'text' has null at position 1",
        ),
    ],
    ids=["null", "binary-utf8", "string-utf8", "negative-id", "null-id"],
)
def test_parquet_bad_rows_name_file_and_row(tmp_path: Path, column: pa.Array, message: str) -> None:
    path = parquet(tmp_path / "bad.parquet", {"text": column})
    assert load_error(one(path), 1).startswith(f"{path}: {message}")


# Text files


def test_text_file_is_one_document(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "a.txt", [b"\xef\xbb\xbf\n  Line one.\r\n", b"Line two.\rEnd.\n\n"]
    )
    source = one(path)
    assert docs(source) == [(0, Doc("Line one.\nLine two.\nEnd.", None))]
    assert source.num_rows() == 1
    assert source.info()["format"] == "text"
    assert_resumes(source)


def test_text_blank_line_blocks(tmp_path: Path) -> None:
    lines = [b"\xef\xbb\xbfFirst block,\r\n", b"  two lines.  \r\n", b"\r\n", b" \t\n", b"\n"]
    lines += [b"Second.\r\rThird\rblock.\n", b"\n", b"Last, no newline"]
    path = write_lines(tmp_path / "a.md.gz", lines, "gzip")
    source = one(path, text_split="blank-lines")
    expected = ["First block,\n  two lines.", "Second.", "Third\nblock.", "Last, no newline"]
    assert [d.text for _, d in docs(source)] == expected
    assert source.num_rows() is None
    assert source.info()["compression"] == "gzip"
    assert_resumes(source)


def test_empty_text_and_jsonl_files(tmp_path: Path) -> None:
    for name in ("e.txt", "e.jsonl"):
        (tmp_path / name).write_bytes(b"")
    assert docs(one(tmp_path / "e.txt")) == [(0, Doc("", None))]
    assert docs(one(tmp_path / "e.txt", text_split="blank-lines")) == []
    assert docs(one(tmp_path / "e.jsonl")) == []


@pytest.mark.parametrize(("split", "row"), [("file", 0), ("blank-lines", 1)])
def test_text_invalid_utf8_names_the_line(tmp_path: Path, split: str, row: int) -> None:
    path = write_lines(tmp_path / "bad.txt", [b"fine\r\n", b"\n", b"ok\n", b"caf\xe9\n"])
    assert load_error(one(path, text_split=split), row) == (
        f"{path}: line 4: invalid UTF-8 (byte 0xE9 at column 4)"
    )


# In-memory sources


def test_in_memory_items() -> None:
    items = [
        "plain string",
        {"text": "a dict", "metadata": {"token_count": 2}},
        [1, 2, 3],
        (4, 5),
        np.array([6, 7], dtype=np.uint32),
        b"utf-8 bytes \xc3\xa9",
    ]
    (source,) = open_sources(items)
    assert [d for _, d in docs(source)] == [
        Doc("plain string", None),
        Doc("a dict", 2),
        Doc([1, 2, 3], None),
        Doc([4, 5], None),
        Doc([6, 7], None),
        Doc("utf-8 bytes é", None),
    ]
    assert source.num_rows() == 6
    assert source.info() == {"path": "<iterable>", "format": "python"}
    assert source.bytes == source.bytes_read() == 0
    assert_resumes(source)


def test_documents_wraps_strings_that_would_be_paths() -> None:
    (source,) = open_sources(Documents(["no/such/file.txt", "second"]))
    assert [d.text for _, d in docs(source)] == ["no/such/file.txt", "second"]
    (source,) = open_sources(Documents([{"body": "b"}]), text_field="body")
    assert [d.text for _, d in docs(source)] == ["b"]


def test_a_source_passes_through() -> None:
    source = IterableSource(["x"])
    assert open_sources(source) == [source]


def test_two_d_array_rows_are_token_ids() -> None:
    (source,) = open_sources(np.arange(6).reshape(3, 2))
    assert [d.text for _, d in docs(source)] == [[0, 1], [2, 3], [4, 5]]
    assert_resumes(source)


def test_one_shot_iterator_reads_once() -> None:
    (source,) = open_sources(f"doc {i}" for i in range(5))
    assert source.num_rows() is None
    assert [d.text for _, d in docs(source, 2)] == ["doc 2", "doc 3", "doc 4"]
    with pytest.raises(SourceError, match="one-shot iterator cannot be read twice"):
        source.rows()


class FakeDataset:
    """Duck-typed like datasets.Dataset: len, indexing, iteration over dict rows."""

    __module__ = "datasets.arrow_dataset"

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows
        self.indexed: list[int] = []

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        self.indexed.append(i)
        return self._rows[i]

    def __iter__(self) -> Any:
        return iter(self._rows)


def test_dataset_resumes_by_index() -> None:
    dataset = FakeDataset([{"text": f"doc {i}", "token_count": i} for i in range(6)])
    (source,) = open_sources(dataset)
    assert source.name == "<dataset>" and source.num_rows() == 6
    assert [d for _, d in docs(source, 4)] == [Doc("doc 4", 4), Doc("doc 5", 5)]
    assert dataset.indexed == [4, 5]
    assert_resumes(source)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (17, "<iterable>: row 1: the item is int, not a string"),
        (None, "<iterable>: row 1: the item is null"),
        ({"body": "x"}, "<iterable>: row 1: no field 'text' (fields: 'body')"),
        (b"caf\xe9", "<iterable>: row 1: the item is not valid UTF-8 (byte 0xE9 at offset 3)"),
        (np.array([1.5]), "<iterable>: row 1: the item is an array of float64 (1,), not token ids"),
        (np.array([3, -1]), "<iterable>: row 1: the item has -1 at position 1, not a token id"),
        ("\udcff", "<iterable>: row 1: the item holds a lone surrogate U+DCFF"),
    ],
)
def test_in_memory_bad_items(item: Any, message: str) -> None:
    (source,) = open_sources(Documents(["fine", item]))
    assert load_error(source, 1).startswith(message)


@pytest.mark.parametrize("inputs", [17, {"train": ["x"]}, b"bytes"])
def test_unusable_inputs_are_config_errors(inputs: Any) -> None:
    with pytest.raises(ConfigError):
        open_sources(inputs)


# Paths, directories and globs


def make_tree(root: Path) -> None:
    write_lines(root / "b.jsonl", jsonl({"text": "b"}))
    write_lines(root / "a.txt", [b"a"])
    (root / "sub").mkdir()
    parquet(root / "sub" / "c.parquet", {"text": pa.array(["c"])})
    write_lines(root / "sub" / "d.jsonl.gz", jsonl({"text": "d"}), "gzip")
    write_lines(root / "sub" / "e.jsonl", jsonl({"text": "e"}))
    write_lines(root / ".hidden.jsonl", jsonl({"text": "hidden"}))
    (root / ".git").mkdir()
    write_lines(root / ".git" / "f.jsonl", jsonl({"text": "hidden dir"}))
    write_lines(root / "notes.csv", [b"not an input"])


def test_directory_is_recursive_sorted_and_skips_hidden(tmp_path: Path) -> None:
    make_tree(tmp_path)
    sources = open_sources(tmp_path)
    names = ["a.txt", "b.jsonl", "sub/c.parquet", "sub/d.jsonl.gz", "sub/e.jsonl"]
    assert [s.name for s in sources] == [str(tmp_path / n) for n in names]
    assert [d.text for s in sources for _, d in docs(s)] == ["a", "b", "c", "d", "e"]


def test_globs_lists_and_duplicates(tmp_path: Path) -> None:
    make_tree(tmp_path)
    pattern = str(tmp_path / "**" / "*.jsonl")
    assert [s.name for s in open_sources(pattern)] == [
        str(tmp_path / "b.jsonl"),
        str(tmp_path / "sub" / "e.jsonl"),
    ]
    listed = open_sources([tmp_path / "sub" / "e.jsonl", tmp_path, str(tmp_path / "b.jsonl")])
    assert [s.name for s in listed] == [
        str(tmp_path / n) for n in ["sub/e.jsonl", "a.txt", "b.jsonl", "sub/c.parquet"]
    ] + [str(tmp_path / "sub" / "d.jsonl.gz")]


def test_input_format_overrides_the_extension(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "corpus.data.gz", jsonl({"text": "x"}), "gzip")
    with pytest.raises(SourceError, match=r"unknown file type.*input_format") as e:
        open_sources(path)
    assert str(e.value).startswith(f"{path}: ")
    source = one(path, input_format="jsonl")
    assert source.info()["compression"] == "gzip"
    assert [d.text for _, d in docs(source)] == ["x"]
    assert [d.text for _, d in docs(one(path, input_format="text"))] == ['{"text": "x"}']


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.jsonl", "missing.jsonl: no such file or directory"),
        ("nothing-*.jsonl", "nothing-*.jsonl: no files match this pattern"),
        ("empty-dir", "empty-dir: no input files in this directory"),
        ("table.parquet.gz", "table.parquet.gz: a Parquet file cannot be gzip-compressed"),
    ],
)
def test_bad_paths_are_named(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "empty-dir" / "readme.csv").write_bytes(b"")
    (tmp_path / "table.parquet.gz").write_bytes(b"")
    with pytest.raises(SourceError) as e:
        open_sources(tmp_path / name)
    assert str(e.value).startswith(str(tmp_path / message))


def test_empty_path_list_is_an_error() -> None:
    with pytest.raises(SourceError, match="no inputs"):
        open_sources([])


@pytest.mark.parametrize(
    "kwargs", [{"text_split": "paragraphs"}, {"input_format": "csv"}, {"text_field": ""}]
)
def test_invalid_options_are_config_errors(tmp_path: Path, kwargs: dict[str, str]) -> None:
    path = write_lines(tmp_path / "a.jsonl", jsonl({"text": "x"}))
    with pytest.raises(ConfigError):
        open_sources(path, **kwargs)
