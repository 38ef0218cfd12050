"""Hostile inputs: each gets a typed l2t error naming the input, or a counted skip; none is lost.

Every case here once escaped as a bare Python exception (RecursionError, OverflowError, OSError,
RuntimeError, UnicodeEncodeError), was read silently wrong (a str iterated as characters, a
symlinked directory left out, the working directory's tokenizer.json read for an empty file), or
lost good rows (a gzip file with trailing garbage lost all of them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import l2t
from conftest import make_corpus, write_jsonl
from l2t.sources import Documents, open_sources

DEEP_LINE = '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}"
LONG_NUMBER_LINE = '{"text": "x", "token_count": ' + "9" * 5000 + "}"


def loaded(inputs: Any, **kwargs: Any) -> list[Any]:
    return [row.load().text for source in open_sources(inputs, **kwargs) for row in source.rows()]


def run(inputs: Any, tokenizer: str, output: Path, **kwargs: Any) -> dict[str, Any]:
    return l2t.generate(inputs, tokenizer=tokenizer, output=output, progress=False, **kwargs)


def skipped(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [record for part in manifest["parts"] for record in part["skipped"]]


# 1. Rows Python's JSON parser cannot take


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (DEEP_LINE, "line 2: the line holds JSON nested too deeply to parse"),
        (LONG_NUMBER_LINE, "line 2: the line holds JSON that cannot be read: Exceeds the limit"),
    ],
    ids=["nested-100k", "5000-digits"],
)
def test_unparsable_json_rows_are_source_errors(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "hostile.jsonl"
    path.write_text('{"text": "good"}\n' + line + "\n")
    (source,) = open_sources(path)
    first, bad = source.rows()
    assert first.load().text == "good"
    with pytest.raises(l2t.SourceError) as e:
        bad.load()
    assert str(e.value).startswith(f"{path}: {message}")


def test_unparsable_json_rows_are_counted_skips(tmp_path: Path, fixture_tokenizer: str) -> None:
    docs = make_corpus(4)
    path = write_jsonl(tmp_path / "mixed.jsonl", docs)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], DEEP_LINE, LONG_NUMBER_LINE, *lines[2:]]) + "\n")
    manifest = run(path, fixture_tokenizer, tmp_path / "out", on_error="skip")
    assert manifest["totals"]["documents"] == 6
    assert manifest["totals"]["skipped_rows"] == 2
    assert [(r["path"], r["row"]) for r in skipped(manifest)] == [(str(path), 2), (str(path), 3)]
    assert all(r["reason"].startswith(f"{path}: line ") for r in skipped(manifest))
    with pytest.raises(l2t.SourceError, match="line 3: the line holds JSON nested too deeply"):
        run(path, fixture_tokenizer, tmp_path / "raise", on_error="raise")


# 2. Token ids no vocabulary can have


@pytest.mark.parametrize("bad_id", [2**32, 2**63, 2**64 + 5])
def test_token_ids_past_u32_are_rejected_where_the_row_is_parsed(
    tmp_path: Path, bad_id: int
) -> None:
    path = tmp_path / "ids.jsonl"
    path.write_text(json.dumps({"text": [1, 2]}) + "\n" + json.dumps({"text": [7, bad_id]}) + "\n")
    with pytest.raises(l2t.SourceError) as e:
        loaded(path)
    assert str(e.value).startswith(f"{path}: line 2: field 'text' has {bad_id} at position 1")
    assert "from 0 to 4294967295" in str(e.value)


def test_token_ids_past_u32_in_parquet_and_in_memory() -> None:
    with pytest.raises(
        l2t.SourceError, match=r"<iterable>: row 1: the item has 9223372036854775808"
    ):
        loaded(Documents([[1], np.array([3, 2**63], dtype=np.uint64)]))


def test_huge_token_ids_in_parquet(tmp_path: Path) -> None:
    path = tmp_path / "ids.parquet"
    column = pa.array([[1, 2], [3, 2**63]], pa.list_(pa.uint64()))
    pq.write_table(pa.table({"text": column}), path)
    with pytest.raises(l2t.SourceError) as e:
        loaded(path)
    assert str(e.value).startswith(f"{path}: row 1: column 'text' has 9223372036854775808")


def test_huge_token_ids_are_skipped_not_overflowed(tmp_path: Path, fixture_tokenizer: str) -> None:
    path = tmp_path / "ids.jsonl"
    path.write_text(json.dumps({"text": [5, 2**63]}) + "\n" + json.dumps({"text": "ok."}) + "\n")
    manifest = run(path, fixture_tokenizer, tmp_path / "out", on_error="skip")
    assert manifest["totals"]["skipped_rows"] == 1
    assert skipped(manifest)[0]["reason"].startswith(f"{path}: line 1: field 'text' has ")


# 3. Text passed where a path belongs

DOCUMENT = "some long document text, written where a path was expected. " * 120


def test_text_given_as_a_path_suggests_documents(tmp_path: Path, fixture_tokenizer: str) -> None:
    for call in (
        lambda: open_sources([DOCUMENT]),
        lambda: open_sources("First document.\nSecond line."),
        lambda: open_sources(["Hello world, this is a document."]),
        lambda: run([DOCUMENT], fixture_tokenizer, tmp_path / "out"),
    ):
        with pytest.raises(l2t.SourceError, match=r"l2t\.sources\.Documents\(\[\.\.\.\]\)") as e:
            call()
        assert "no such file or directory" in str(e.value)
    assert str(e.value).startswith(f"{DOCUMENT[:60]!r}... ({len(DOCUMENT)} characters)")
    (good,) = open_sources(Documents([DOCUMENT]))
    assert [r.load().text for r in good.rows()] == [DOCUMENT]


def test_stream_of_text_given_as_a_path(fixture_tokenizer: str) -> None:
    pytest.importorskip("torch")
    from l2t.data import L2TStream

    with pytest.raises(l2t.SourceError, match=r"Documents\(\[\.\.\.\]\)"):
        L2TStream([DOCUMENT], fixture_tokenizer)


def test_a_missing_path_gets_no_documents_hint(tmp_path: Path) -> None:
    with pytest.raises(l2t.SourceError) as e:
        open_sources(tmp_path / "typo.jsonl")
    assert str(e.value) == f"{tmp_path / 'typo.jsonl'}: no such file or directory"
    with pytest.raises(l2t.SourceError, match="no such file"):
        open_sources("nul\x00byte.jsonl")


def test_text_given_as_a_tokenizer_path() -> None:
    for spec in ("z" * 300, DOCUMENT):
        with pytest.raises(l2t.TokenizerError) as e:
            l2t.Engine(spec)
        message = str(e.value)
        assert "is neither a readable tokenizer.json path nor tokenizer JSON" in message
        assert f"{spec[:60]!r}... ({len(spec)} characters)" in message
        assert len(message) < 300


# 4. Symbolic links in input directories


def tree_with_links(root: Path) -> Path:
    data = root / "data"
    (data / "real").mkdir(parents=True)
    write_jsonl(data / "a.jsonl", ["a"])
    write_jsonl(data / "real" / "b.jsonl", ["b"])
    (root / "elsewhere").mkdir()
    write_jsonl(root / "elsewhere" / "c.jsonl", ["c"])
    (data / "linked").symlink_to(root / "elsewhere", target_is_directory=True)
    (data / "again").symlink_to(data / "real", target_is_directory=True)  # read once
    return data


def test_symlinked_directories_are_followed_once_in_order(tmp_path: Path) -> None:
    data = tree_with_links(tmp_path)
    names = [s.name for s in open_sources(data)]
    # "again" sorts before "real" and reaches the same directory: its files are found there.
    assert names == [str(data / n) for n in ("a.jsonl", "again/b.jsonl", "linked/c.jsonl")]
    assert loaded(data) == ["a", "b", "c"]


def test_a_link_to_an_enclosing_directory_is_a_loop(tmp_path: Path) -> None:
    data = tree_with_links(tmp_path)
    (data / "real" / "up").symlink_to(data, target_is_directory=True)
    with pytest.raises(l2t.SourceError) as e:
        open_sources(data)
    # Found through "again", the first link to "real" in name order.
    loop = data / "again" / "up"
    assert str(e.value).startswith(f"{loop}: a symbolic link loop (it leads back to {data},")


def test_broken_links_and_link_loops_are_named(tmp_path: Path) -> None:
    data = tree_with_links(tmp_path)
    broken = data / "gone.jsonl"
    broken.symlink_to(tmp_path / "deleted.jsonl")
    with pytest.raises(l2t.SourceError) as e:
        open_sources(data)
    assert str(e.value).startswith(f"{broken}: a broken symbolic link (to ")
    with pytest.raises(l2t.SourceError) as e:
        open_sources(broken)
    assert str(e.value).startswith(f"{broken}: a broken symbolic link")
    broken.unlink()
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    one.symlink_to(two)
    two.symlink_to(one)
    with pytest.raises(l2t.SourceError, match=r"one\.jsonl: a loop of symbolic links"):
        open_sources(one)
    (data / "loop.jsonl").symlink_to(one)
    with pytest.raises(l2t.SourceError, match=r"loop\.jsonl: a loop of symbolic links"):
        open_sources(data)


# 5. Compressed files that fail part way keep the rows before the failure


def compressed(path: Path, docs: list[str], compression: str) -> bytes:
    data = b"".join(json.dumps({"text": d}).encode() + b"\n" for d in docs)
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, compression) as f:
        f.write(data)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize(("suffix", "compression"), [(".gz", "gzip"), (".zst", "zstd")])
def test_trailing_garbage_keeps_every_row(tmp_path: Path, suffix: str, compression: str) -> None:
    docs = [f"document {i}." for i in range(20)]
    path = tmp_path / f"docs.jsonl{suffix}"
    path.write_bytes(compressed(path, docs, compression) + b"trailing garbage")
    (source,) = open_sources(path)
    read = []
    with pytest.raises(l2t.SourceError) as e:
        read.extend(row.load().text for row in source.rows())
    assert read == docs
    assert str(e.value).startswith(f"{path}: read failed after line 20: ")


@pytest.mark.parametrize("damage", ["trailing-garbage", "truncated"])
def test_damaged_gzip_keeps_its_rows_and_records_the_error(
    tmp_path: Path, fixture_tokenizer: str, damage: str
) -> None:
    docs = make_corpus(30)
    path = tmp_path / "docs.jsonl.gz"
    whole = compressed(path, docs, "gzip")
    path.write_bytes(whole + b"\x00garbage" if damage == "trailing-garbage" else whole[:-200])
    manifest = run(path, fixture_tokenizer, tmp_path / "out", on_error="skip")
    (error,) = manifest["input_errors"]
    kept = error["rows_read"]
    assert error["path"] == str(path)
    assert error["reason"].startswith(f"{path}: read failed after line {kept}: ")
    assert manifest["totals"]["documents"] == kept
    assert kept == len(docs) if damage == "trailing-garbage" else 0 < kept < len(docs)
    with pytest.raises(l2t.SourceError, match=f"{path}: read failed after line {kept}"):
        run(path, fixture_tokenizer, tmp_path / "raise", on_error="raise")


# 6. Engine arguments


@pytest.fixture(scope="module")
def engine(fixture_tokenizer: str) -> l2t.Engine:
    return l2t.Engine(fixture_tokenizer, seq_len=256)


@pytest.mark.parametrize("texts", ["one string", b"bytes"])
def test_one_string_is_not_a_list_of_documents(engine: l2t.Engine, texts: Any) -> None:
    for call in (engine.examples, engine.generate, engine.mixed_examples):
        with pytest.raises(l2t.ConfigError, match=r"texts must be a list of documents.*\[text\]"):
            call(texts)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"previous": 123}, "previous must be the text .* not int"),
        ({"previous": "bad \ud800"}, "previous holds a lone surrogate U\\+D800 at position 4"),
        ({"first_doc": -1}, "first_doc must be an integer from 0 to 2\\^64 - 1, not -1"),
        ({"first_doc": 2**64 - 1}, "first_doc 18446744073709551615 \\+ 2 documents passes"),
        ({"batch": -1}, "batch must be an integer from 0 to 2\\^64 - 1, not -1"),
        ({"batch": 1.5}, "batch must be an integer from 0 to 2\\^64 - 1, not float"),
        ({"token_counts": [-5, None]}, "token_counts\\[0\\] must be an integer from 0 to 2\\^64"),
        (
            {"token_counts": [None, 2**64]},
            "token_counts\\[1\\] must be .* not 18446744073709551616",
        ),
    ],
)
def test_out_of_range_arguments_are_config_errors(
    engine: l2t.Engine, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises((l2t.ConfigError, l2t.InputError), match=message):
        engine.generate(["A first document.", "A second one."], **kwargs)


@pytest.mark.parametrize(
    ("doc", "error", "message"),
    [
        ([1, 2**63], l2t.VocabError, "document 1: token id 9223372036854775808 at position 1"),
        ([-1], l2t.VocabError, "document 1: token id -1 at position 0 is outside every vocab"),
        (np.array([5, 2**63], dtype=np.uint64), l2t.VocabError, "document 1: token id 92233"),
        ([1, 2.5], l2t.InputError, "document 1 has float at position 1, not a token id"),
        ([1, 5000], l2t.VocabError, "token id 5000 is outside the vocabulary"),  # the core's
    ],
)
def test_unreadable_token_ids_name_the_document(
    engine: l2t.Engine, doc: Any, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        engine.generate(["A document.", doc])


def test_an_earlier_bad_document_is_the_one_named(engine: l2t.Engine) -> None:
    with pytest.raises(l2t.InputError, match="document 0 is not valid Unicode"):
        engine.generate(["bad \udc80", [-1]])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"raw_ratio": float("nan")}, "option 'raw_ratio' must be a finite number, not nan"),
        ({"task_weights": {"half": float("inf")}}, "option 'task_weights' must be a finite"),
        ({"stopwords": {"a", "b"}}, "option 'stopwords' is a set; options are numbers"),
        ({"seed": -1}, "seed must be an integer from 0 to 2\\^64 - 1, not -1"),
    ],
)
def test_options_json_cannot_hold_name_the_option(
    fixture_tokenizer: str, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(l2t.ConfigError, match=message):
        l2t.Engine(fixture_tokenizer, **overrides)


# 7. Tokenizer inputs


def test_encode_and_decode_bad_values(fixture_tokenizer: str) -> None:
    tok = l2t.Tokenizer(fixture_tokenizer)
    with pytest.raises(l2t.InputError, match="lone surrogate U\\+DC80 at position 1"):
        tok.encode("a\udc80b")
    with pytest.raises(l2t.InputError, match="lone surrogate"):
        tok.encode_reference("\ud800")
    with pytest.raises(l2t.InputError, match="encode takes a str, not int"):
        tok.encode(3)  # type: ignore[arg-type]
    with pytest.raises(l2t.VocabError, match=r"token id -1 \(ids\[1\]\) is outside the vocab"):
        tok.decode([5, -1])
    with pytest.raises(l2t.VocabError, match=f"token id {2**64}"):
        tok.decode([2**64])
    with pytest.raises(l2t.InputError, match=r"ids\[0\] is str, not a token id"):
        tok.decode(["a"])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty, not a tokenizer.json"),
        ("  \n", "is empty, not a tokenizer.json"),
        ("[1, 2]", "is an array, not a JSON object: not a tokenizer.json"),
        ('{"version": "1.0"}', 'is a JSON object without a "model" key: not a tokenizer.json'),
        ("{ truncated", "is not valid JSON (Expecting property name"),
        ("[" * 100_000, "is not valid JSON"),
    ],
    ids=["empty", "blank", "array", "no-model", "invalid", "deep"],
)
def test_tokenizer_files_that_are_not_tokenizers(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fixture_tokenizer: str,
    content: str,
    message: str,
) -> None:
    # A valid tokenizer.json in the working directory must never be read in the file's place.
    (tmp_path / "tokenizer.json").write_text(fixture_tokenizer)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.json"
    path.write_text(content)
    for make in (l2t.Tokenizer, l2t.Engine):
        with pytest.raises(l2t.TokenizerError) as e:
            make(path)
        assert str(e.value).startswith(f"tokenizer file {path} {message}")


def test_tokenizer_strings_are_json_or_paths_never_both(fixture_tokenizer: str) -> None:
    with pytest.raises(l2t.TokenizerError, match="the tokenizer is an empty string"):
        l2t.Tokenizer("")
    with pytest.raises(l2t.TokenizerError, match="tokenizer JSON text is JSON that is not an obj"):
        l2t.Tokenizer("[1, 2]")
    with pytest.raises(l2t.TokenizerError, match='JSON text is a JSON object without a "model"'):
        l2t.Engine('  {"version": "1.0"}')


def test_tokenizer_file_with_a_byte_order_mark(tmp_path: Path, fixture_tokenizer: str) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_bytes(b"\xef\xbb\xbf" + fixture_tokenizer.encode())
    assert l2t.tokenizer.tokenizer_json(path) == fixture_tokenizer
    assert l2t.Engine(tmp_path).pad_id == l2t.Engine(fixture_tokenizer).pad_id
