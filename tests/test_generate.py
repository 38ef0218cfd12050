"""``l2t generate``: parts, manifest, formats, sources, resume after a kill, shard union, bad input.

Corpora are built from the repository's fixture documents (paragraphs recombined with a seeded
generator), so the suite needs no shared data.
"""

from __future__ import annotations

import gzip
import json
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import l2t
from conftest import (
    FIXTURES,
    SHARED,
    TOKENIZERS,
    make_corpus,
    read_jsonl,
    shared_or_skip,
    write_jsonl,
)
from l2t.generate import Layout, generate
from l2t.output_dir import merge_directory
from l2t.shards import read_bin
from l2t.sources import Documents
from l2t.summary import render

TOKENIZER = FIXTURES / "bpe-pydoc-2k.json"
SMALL = Layout(shard_docs=40, batch_docs=16)


def dir_bytes(d: Path, *, progress: bool = True) -> dict[str, bytes]:
    """Every file of an output directory by relative path (temporaries too: there must be none).

    Lock files are left out (they name their holder), and with ``progress=False`` the writers'
    progress files (they name their shard): what remains is the dataset.
    """
    out = {}
    for p in sorted(d.rglob("*")):
        rel = p.relative_to(d)
        if p.is_file() and "locks" not in rel.parts and (progress or "progress" not in rel.parts):
            out[rel.as_posix()] = p.read_bytes()
    return out


def manifest_of(out: Path) -> dict:
    return json.loads((out / "__l2t__" / "manifest.json").read_text())


def progress_of(out: Path, shard: str = "shard-00000-of-00001") -> dict:
    return json.loads((out / "__l2t__" / "progress" / f"{shard}.json").read_text())


def run(inputs: object, out: Path, **kw: object) -> dict:
    kw.setdefault("layout", SMALL)
    kw.setdefault("progress", False)
    return generate(inputs, tokenizer=TOKENIZER, output=out, **kw)


@pytest.fixture(scope="module")
def docs() -> list[str]:
    return make_corpus(150)


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory: pytest.TempPathFactory, docs: list[str]) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("in") / "docs.jsonl", docs)


def parquet_parts(out: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted(out.glob("part-*.parquet")))


def segments(table: pa.Table) -> list[tuple[int, str, tuple[int, ...]]]:
    """(doc, task, ids) of every segment of every row."""
    out = []
    for row in table.to_pylist():
        start = 0
        for n, task, doc in zip(
            row["segment_lengths"], row["segment_tasks"], row["segment_docs"], strict=True
        ):
            out.append((doc, l2t.task_name(task), tuple(row["input_ids"][start : start + n])))
            start += n
    return out


# -- what is written ------------------------------------------------------------------------


def test_parquet_rows_hold_exactly_the_engines_examples(tmp_path, jsonl, docs):
    m = run(jsonl, tmp_path / "out", profile="default", seed=3)
    table = parquet_parts(tmp_path / "out")
    engine = l2t.Engine(TOKENIZER.read_text(), profile="default", seed=3)
    expected = Counter((e.doc, e.task, tuple(e.ids.tolist())) for e in engine.examples(docs))
    assert Counter(segments(table)) == expected
    assert m["complete"] and m["totals"]["documents"] == len(docs)
    assert [p["file"] for p in m["parts"]] == [f"part-{k:06d}.parquet" for k in range(4)]


def test_parquet_schema_and_row_invariants(tmp_path, jsonl):
    m = run(jsonl, tmp_path / "out", profile="default")
    table = parquet_parts(tmp_path / "out")
    schema = pq.read_schema(tmp_path / "out" / "part-000000.parquet")
    assert schema.field("input_ids").type == pa.list_(pa.uint32())
    assert schema.field("segment_tasks").type == pa.list_(pa.uint8())
    assert schema.field("loss_mask").type == pa.list_(pa.bool_())
    seq_len = m["config"]["seq_len"]
    pad = m["tokenizer"]["pad_id"]
    for row in table.to_pylist():
        used = sum(row["segment_lengths"])
        assert len(row["input_ids"]) == seq_len and used <= seq_len
        assert row["input_ids"][used:] == [pad] * (seq_len - used)
        assert row["loss_mask"] == [True] * used + [False] * (seq_len - used)


def test_manifest_totals_agree_with_the_parts(tmp_path, jsonl):
    m = run(jsonl, tmp_path / "out", profile="paper", raw_ratio=0.5)
    table = parquet_parts(tmp_path / "out")
    t = m["totals"]
    assert t["rows"] == table.num_rows == sum(p["rows"] for p in m["parts"])
    lengths = [n for row in table.column("segment_lengths").to_pylist() for n in row]
    tasks = [k for row in table.column("segment_tasks").to_pylist() for k in row]
    by_task = Counter()
    for n, k in zip(lengths, tasks, strict=True):
        by_task[l2t.task_name(k)] += n
    assert t["raw_tokens"] == by_task.pop("raw") > 0
    assert t["l2t_tokens"] == sum(by_task.values())
    assert {k: v for k, v in by_task.items() if v} == {
        k: c["tokens"] for k, c in t["counts"]["tasks"].items() if c["tokens"]
    }
    assert t["fill_rate"] == pytest.approx(sum(lengths) / (t["rows"] * m["config"]["seq_len"]))
    assert 0 < t["l2t_token_share"] < 1
    assert "loss_mask" not in pq.read_schema(tmp_path / "out" / "part-000000.parquet").names


def test_bin_parts_hold_the_parquet_rows(tmp_path, jsonl):
    run(jsonl, tmp_path / "pq", seed=1)
    m = run(jsonl, tmp_path / "bin", seed=1, format="bin")
    rows = np.concatenate([read_bin(tmp_path / "bin" / p["file"]) for p in m["parts"]])
    assert rows.dtype == np.uint16  # the vocabulary fits
    ids = parquet_parts(tmp_path / "pq").column("input_ids").to_pylist()
    assert rows.tolist() == ids


def test_bin_reader_refuses_a_truncated_file(tmp_path, jsonl):
    m = run(jsonl, tmp_path / "bin", format="bin")
    path = tmp_path / "bin" / m["parts"][0]["file"]
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(l2t.SourceError, match="truncated"):
        read_bin(path)
    path.write_bytes(b"not an l2t file at all, but long enough for a header" * 2)
    with pytest.raises(l2t.SourceError, match="magic"):
        read_bin(path)


def test_jsonl_parts_hold_examples_and_raw_documents(tmp_path, jsonl, docs):
    m = run(jsonl, tmp_path / "out", format="jsonl", raw_ratio=0.5, seed=2)
    records = [r for p in m["parts"] for r in read_jsonl(tmp_path / "out" / p["file"])]
    raw = [r for r in records if r["task"] == "raw"]
    assert {r["doc"]: r["text"] for r in raw} == {r["doc"]: docs[r["doc"]] for r in raw}
    examples = Counter(r["task"] for r in records if r["task"] != "raw")
    assert examples == Counter(
        {k: c["examples"] for k, c in m["totals"]["counts"]["tasks"].items() if c["examples"]}
    )
    for r in records:
        if r["task"] != "raw":
            assert r["prompt"] in r["text"] and r["completion"] in r["text"]
    assert len(raw) == m["totals"]["counts"]["raw_documents"]


# -- sources --------------------------------------------------------------------------------


def test_every_source_kind_gives_the_same_parts(tmp_path, docs):
    d = tmp_path / "in"
    d.mkdir()
    write_jsonl(d / "a.jsonl", docs[:70])
    with gzip.open(d / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": t}) + "\n" for t in docs[70:110])
    with pa.output_stream(str(d / "c.jsonl.zst"), compression="zstd") as f:
        f.write("".join(json.dumps({"text": t}) + "\n" for t in docs[110:]).encode())
    reference = run(d / "a.jsonl", tmp_path / "ref", max_docs=70)  # parts 0 and 1 are whole
    all_files = run(str(d), tmp_path / "dir")
    pq.write_table(pa.table({"text": docs}), tmp_path / "docs.parquet", row_group_size=33)
    parquet = run(tmp_path / "docs.parquet", tmp_path / "parquet")
    memory = run(Documents(docs), tmp_path / "memory")

    class Dataset:  # what a Hugging Face dataset looks like from the outside
        def __len__(self) -> int:
            return len(docs)

        def __getitem__(self, i: int) -> dict:
            return {"text": docs[i], "id": i}

        def __iter__(self):
            return (self[i] for i in range(len(self)))

    dataset = run(Dataset(), tmp_path / "dataset")

    def parts(m: dict, out: Path) -> dict[str, bytes]:
        return {p["file"]: (out / p["file"]).read_bytes() for p in m["parts"]}

    expected = parts(all_files, tmp_path / "dir")
    assert len(expected) == 4
    for m, out in [(parquet, "parquet"), (memory, "memory"), (dataset, "dataset")]:
        assert parts(m, tmp_path / out) == expected, out
    first = parts(reference, tmp_path / "ref")
    assert first["part-000000.parquet"] == expected["part-000000.parquet"]


def test_token_counts_from_metadata_set_the_chunk_budget(tmp_path, docs):
    long_docs = ["\n".join(docs[i : i + 6]) for i in range(0, 60, 6)]
    plain = write_jsonl(tmp_path / "plain.jsonl", long_docs)
    with (tmp_path / "meta.jsonl").open("w") as f:
        for t in long_docs:
            f.write(json.dumps({"text": t, "metadata": {"token_count": 10 * len(t)}}) + "\n")
    a = run(plain, tmp_path / "a", task_weights={"half": 1.0})
    b = run(tmp_path / "meta.jsonl", tmp_path / "b", task_weights={"half": 1.0})
    engine = l2t.Engine(TOKENIZER.read_text(), seed=0, task_weights={"half": 1.0})
    counted = engine.examples(long_docs, token_counts=[10 * len(t) for t in long_docs])
    # Larger budgets mean more chunks per document, hence more examples.
    assert b["totals"]["examples"] == len(counted) > a["totals"]["examples"]


def test_text_files_split_on_blank_lines(tmp_path, docs):
    text = tmp_path / "book.txt"
    text.write_bytes(("\ufeff" + "\r\n\r\n".join(d.replace("\n", " ") for d in docs[:30])).encode())
    m = run(text, tmp_path / "out", text_split="blank-lines", format="jsonl")
    assert m["input_rows"] == 30
    whole = run(text, tmp_path / "whole", text_split="file", format="jsonl")
    assert whole["input_rows"] == 1


# -- determinism, resume, shards ------------------------------------------------------------


def test_output_is_the_same_for_any_thread_count(tmp_path, jsonl):
    run(jsonl, tmp_path / "one", threads=1, raw_ratio=0.3)
    run(jsonl, tmp_path / "two", threads=2, raw_ratio=0.3)
    assert dir_bytes(tmp_path / "one") == dir_bytes(tmp_path / "two")


def test_union_of_three_shard_runs_equals_one_run(tmp_path, jsonl):
    run(jsonl, tmp_path / "single", raw_ratio=0.5, seed=5)
    shared = tmp_path / "shared"
    for i in (2, 0, 1):  # any order
        m = run(jsonl, shared, raw_ratio=0.5, seed=5, shard_index=i, num_shards=3)
        assert m["shard"] == {"index": i, "count": 3} and m["complete"]
        assert all(p["index"] % 3 == i for p in m["parts"])
    # The last run to finish wrote the set's manifest.
    assert dir_bytes(shared, progress=False) == dir_bytes(tmp_path / "single", progress=False)


def test_shard_runs_in_separate_directories_merge_to_one_run(tmp_path, jsonl):
    run(jsonl, tmp_path / "single", max_docs=130)
    merged = tmp_path / "merged"
    merged.mkdir()
    for i in range(3):
        out = tmp_path / f"s{i}"
        run(jsonl, out, shard_index=i, num_shards=3, max_docs=130)
        for rel, data in dir_bytes(out).items():
            (merged / rel).parent.mkdir(parents=True, exist_ok=True)
            (merged / rel).write_bytes(data)
    assert not (merged / "__l2t__" / "manifest.json").exists()  # no shard saw the whole set
    merge_directory(merged)
    assert dir_bytes(merged, progress=False) == dir_bytes(tmp_path / "single", progress=False)


def test_merge_refuses_missing_shards(tmp_path, jsonl):
    run(jsonl, tmp_path / "out", shard_index=1, num_shards=3)
    with pytest.raises(l2t.OutputError, match=r"shards \[0, 2\] of 3 have not run"):
        merge_directory(tmp_path / "out")


def test_rerun_after_completion_keeps_everything(tmp_path, jsonl):
    out = tmp_path / "out"
    run(jsonl, out)
    before = dir_bytes(out)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")}
    run(jsonl, out)
    assert dir_bytes(out) == before
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")} == stamps  # not remade


def test_a_damaged_part_is_remade(tmp_path, jsonl):
    out = tmp_path / "out"
    run(jsonl, out)
    before = dir_bytes(out)
    (out / "part-000001.parquet").write_bytes(b"damaged")
    (out / "part-000002.parquet").unlink()
    tmp = out / "__l2t__" / "tmp"
    (tmp / "part-000003.parquet.shard-00000-of-00001.tmp").write_bytes(b"left by a killed run")
    (tmp / "part-000004.parquet.shard-00001-of-00002.tmp").write_bytes(b"by a shard now gone")
    run(jsonl, out)
    assert dir_bytes(out) == before


def big_corpus(path: Path, megabytes: float) -> Path:
    docs = make_corpus(400, seed=1)
    with path.open("w", encoding="utf-8") as f:
        size, i = 0, 0
        while size < megabytes * 1e6:
            line = json.dumps({"text": docs[i % len(docs)] + f"\nCopy {i}."}) + "\n"
            f.write(line)
            size += len(line)
            i += 1
    return path


def cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "l2t.cli", *map(str, args)]


def parts_done(out: Path) -> int:
    try:
        return len(progress_of(out)["parts"])
    except (OSError, ValueError):
        return 0


def kill_when(command: list[str], ready: Callable[[], bool]) -> bool:
    """Starts `command` and SIGKILLs it as soon as `ready()`; False if it ended first."""
    proc = subprocess.Popen(command)
    while proc.poll() is None and not ready():
        time.sleep(0.005)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return killed


def test_killed_run_resumes_to_identical_output(tmp_path):
    corpus = big_corpus(tmp_path / "big.jsonl", 12)
    args = ["generate", corpus, "--tokenizer", TOKENIZER, "--threads", "1", "--shard-docs", "600"]
    args += ["--batch-docs", "200", "--raw-ratio", "0.25", "-q"]
    subprocess.run(cli(*args, "-o", tmp_path / "whole"), check=True)
    out = tmp_path / "killed"

    def writing() -> bool:
        return any(out.glob("__l2t__/tmp/part-*.tmp"))

    # Killed while writing the first part, then mid-way through later parts.
    assert kill_when(cli(*args, "-o", out), writing)
    assert kill_when(cli(*args, "-o", out), lambda: parts_done(out) >= 3 and writing())
    assert kill_when(cli(*args, "-o", out), lambda: parts_done(out) >= 6)
    assert 6 <= parts_done(out) < 18
    subprocess.run(cli(*args, "-o", out), check=True)
    assert dir_bytes(out) == dir_bytes(tmp_path / "whole")


# -- bad input and bad output directories ---------------------------------------------------


def test_bad_row_raises_with_file_and_line(tmp_path, docs):
    path = write_jsonl(tmp_path / "docs.jsonl", docs[:50])
    lines = path.read_text().splitlines()
    lines[41] = '{"text": 17}'
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(l2t.SourceError, match=r"docs\.jsonl.*line 42"):
        run(path, tmp_path / "out")
    m = progress_of(tmp_path / "out")
    assert not m["complete"] and [p["index"] for p in m["parts"]] == [0]  # part 0 was whole


def test_bad_rows_are_skipped_and_recorded(tmp_path, docs):
    path = write_jsonl(tmp_path / "docs.jsonl", docs[:50])
    lines = path.read_text().splitlines()
    lines[3] = "{not json"
    lines[44] = '{"title": "no text field"}'
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"text": "\xff\xfe broken"}\n')
    m = run(path, tmp_path / "out", on_error="skip")
    skipped = [s for p in m["parts"] for s in p["skipped"]]
    assert [s["row"] for s in skipped] == [3, 44, 50]
    assert all(s["path"].endswith("docs.jsonl") and s["reason"] for s in skipped)
    assert m["totals"]["skipped_rows"] == 3 and m["totals"]["documents"] == 51


def test_truncated_compressed_input_is_named(tmp_path, docs):
    many = [f"{t}\nCopy {i}." for i in range(20) for t in docs]  # several read buffers long
    data = gzip.compress("".join(json.dumps({"text": t}) + "\n" for t in many).encode())
    path = tmp_path / "docs.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(l2t.SourceError, match=r"docs\.jsonl\.gz"):
        run(path, tmp_path / "out")
    m = run(path, tmp_path / "skip", on_error="skip")
    assert m["complete"] and m["input_errors"][0]["path"].endswith("docs.jsonl.gz")
    assert 0 < m["input_rows"] < len(many)


def test_corrupt_parquet_is_named(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(l2t.SourceError, match=r"broken\.parquet"):
        run(path, tmp_path / "out")


def test_empty_input_gives_an_empty_complete_dataset(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    m = run(path, tmp_path / "out")
    assert m["complete"] and m["input_rows"] == 0 and m["parts"] == []


def test_directory_of_another_configuration_is_refused(tmp_path, jsonl):
    out = tmp_path / "out"
    run(jsonl, out, seed=1)
    with pytest.raises(l2t.OutputError, match=r"another configuration.*config \(seed\)"):
        run(jsonl, out, seed=2)
    run(jsonl, out, seed=2, overwrite=True)
    assert manifest_of(out)["config"]["seed"] == 2


def test_directory_with_stray_parts_is_refused(tmp_path, jsonl):
    out = tmp_path / "out"
    out.mkdir()
    (out / "part-000000.parquet").write_bytes(b"someone else's")
    with pytest.raises(l2t.OutputError, match="no l2t run recorded"):
        run(jsonl, out)


def test_disk_full_leaves_no_part_that_looks_whole(tmp_path):
    # Short documents first, long ones after: the first parts fit under the file size limit,
    # the later (larger) ones do not.
    docs = make_corpus(1200, seed=2)
    short = [d.split("\n")[0] for d in docs[:600]]
    corpus = write_jsonl(tmp_path / "docs.jsonl", short + [d * 3 for d in docs[600:]])
    out = tmp_path / "out"
    limit = 1_000_000  # bytes per file

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    args = ["generate", corpus, "--tokenizer", TOKENIZER, "--format", "bin", "-q", "-o", out]
    args += ["--shard-docs", "300", "--batch-docs", "100"]
    proc = subprocess.run(cli(*args), preexec_fn=small_disk, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "free space and rerun to resume" in proc.stderr
    m = progress_of(out)
    assert not m["complete"] and len(m["parts"]) == 2
    assert not (out / "__l2t__" / "manifest.json").exists()
    listed = {p["file"] for p in m["parts"]}
    assert {p.name for p in out.glob("part-*")} == listed  # nothing else looks like a part
    assert not list((out / "__l2t__" / "tmp").iterdir())
    subprocess.run(cli(*args), check=True)  # with room again, it resumes and finishes
    assert manifest_of(out)["complete"]


# -- options, CLI, inspect ------------------------------------------------------------------


def test_mixing_modes_show_in_the_token_share(tmp_path, jsonl):
    only = run(jsonl, tmp_path / "only")["totals"]
    shared = run(jsonl, tmp_path / "shared", mixing="shared")["totals"]
    half = run(jsonl, tmp_path / "half", raw_ratio=0.5)["totals"]
    assert only["l2t_token_share"] == 1.0 and only["raw_tokens"] == 0
    assert 0 < shared["l2t_token_share"] < 1 and 0 < half["l2t_token_share"] < 1
    assert shared["l2t_tokens"] == only["l2t_tokens"]  # shared uses every document for L2T too


def test_tasks_option_restricts_the_tasks(tmp_path, jsonl):
    m = run(jsonl, tmp_path / "out", tasks=["typo", "shuffle"])
    used = {k for k, c in m["totals"]["counts"]["tasks"].items() if c["documents"]}
    assert used == {"typo", "shuffle"}


def test_cli_generate_then_inspect(tmp_path, jsonl):
    out = tmp_path / "out"
    done = subprocess.run(
        cli(
            "generate",
            jsonl,
            "--tokenizer",
            TOKENIZER,
            "-o",
            out,
            "--raw-ratio",
            "0.5",
            "--shard-docs",
            "50",
            "--option",
            "pack_window=64",
        ),
        check=True,
        capture_output=True,
        text=True,
    )
    assert "3 parts" in done.stdout and done.stderr == ""  # no progress line off a terminal
    m = manifest_of(out)
    assert m["config"]["pack_window"] == 64
    masked = run(jsonl, tmp_path / "masked", mask_prompts=True)
    prompts = parquet_parts(tmp_path / "masked").column("segment_prompt_lengths").to_pylist()
    assert sum(map(sum, prompts)) > 0 and masked["config"]["mask_prompts"]
    shown = subprocess.run(cli("inspect", out), check=True, capture_output=True, text=True).stdout
    assert "fill rate" in shown and "--- row 0 ---" in shown and "raw" in shown
    assert render(out).splitlines()[0].startswith(str(out))


def test_cli_reports_errors_without_a_traceback(tmp_path):
    proc = subprocess.run(
        cli("generate", tmp_path / "missing.jsonl", "--tokenizer", TOKENIZER, "-o", tmp_path / "o"),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "missing.jsonl" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_default_profile_fills_99_percent_of_row_slots_on_the_novels(tmp_path):
    corpus = shared_or_skip(SHARED / "english-novels-100" / "corpus")
    tokenizer = shared_or_skip(TOKENIZERS / "mistral-7b-v0.1" / "tokenizer.json")
    with (tmp_path / "novels.jsonl").open("w", encoding="utf-8") as f:
        for path in sorted(corpus.glob("*.txt"))[:8]:  # ~6 MB, cut into ~4 KB documents
            lines = path.read_text(encoding="utf-8-sig").replace("\r", "").split("\n")
            for i in range(0, len(lines), 60):
                f.write(json.dumps({"text": "\n".join(lines[i : i + 60]).strip()}) + "\n")
    for ratio in (0.0, 0.5):
        m = generate(
            tmp_path / "novels.jsonl",
            tokenizer=tokenizer,
            output=tmp_path / f"out-{ratio}",
            raw_ratio=ratio,
            progress=False,
        )
        assert m["totals"]["fill_rate"] >= 0.99, (ratio, m["totals"]["fill_rate"])
