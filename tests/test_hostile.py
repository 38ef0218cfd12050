"""``l2t generate`` as a hostile user drives it: many writers, kills at every step, bad options.

Race tests start real processes at the same moment and run several rounds; kill tests stop a run
at the named points of the writing protocol (``L2T_KILL_AT``, see :mod:`l2t.faults`) and
check that the rerun ends byte-identical to an uninterrupted run. The hostile *inputs* (rows,
files, tokenizers given wrongly) are in ``test_hostile_inputs.py``, the streaming edge cases in
``test_hostile_stream.py``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

import l2t
from conftest import FIXTURES, make_corpus, write_jsonl
from l2t import _l2t
from l2t.drops import DroppedExamplesWarning
from l2t.generate import Layout, generate
from l2t.summary import verify

TOKENIZER = FIXTURES / "bpe-pydoc-2k.json"
SMALL = Layout(shard_docs=40, batch_docs=15)
SHARD_ARGS = ["--shard-docs", "40", "--batch-docs", "15", "--threads", "1", "-q"]


def cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "l2t.cli", *map(str, args)]


def dataset_bytes(d: Path) -> dict[str, bytes]:
    """The dataset: parts, manifest and tokenizer (not the writers' locks and progress)."""
    files = {p.name: p.read_bytes() for p in d.glob("part-*")}
    for name in ("manifest.json", "tokenizer.json"):
        path = d / "__l2t__" / name
        if path.exists():
            files[f"__l2t__/{name}"] = path.read_bytes()
    leftovers = list((d / "__l2t__" / "tmp").iterdir())
    assert not leftovers, f"temporary files left behind: {leftovers}"
    return files


def manifest_of(d: Path) -> dict:
    return json.loads((d / "__l2t__" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("in") / "docs.jsonl", make_corpus(200, seed=3))


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> dict[str, bytes]:
    """One uninterrupted run through the CLI: what every other run must reproduce."""
    out = tmp_path_factory.mktemp("single") / "out"
    command = cli("generate", corpus, "--tokenizer", TOKENIZER, "-o", out, *SHARD_ARGS)
    subprocess.run(command, check=True)
    return dataset_bytes(out)


def big_corpus(path: Path, docs: int) -> Path:
    base = make_corpus(300, seed=4)
    return write_jsonl(path, [f"{base[i % 300]}\nCopy {i}." for i in range(docs)])


# -- many writers ----------------------------------------------------------------------------


@pytest.mark.parametrize("round_", range(3))
def test_shard_runs_started_together_make_the_single_run(tmp_path, corpus, single, round_):
    shards = 2 + round_  # 2, 3 and 4 writers
    out = tmp_path / "out"
    args = ["generate", corpus, "--tokenizer", TOKENIZER, "-o", out, *SHARD_ARGS]
    commands = [cli(*args, "--shard-index", i, "--num-shards", shards) for i in range(shards)]
    procs = [subprocess.Popen(c, stderr=subprocess.PIPE, text=True) for c in commands]
    errors = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * shards, errors
    assert dataset_bytes(out) == single  # the manifest too: written by whichever finished last
    assert verify(out) == []


def test_a_second_run_of_the_same_shard_names_the_holder(tmp_path):
    corpus = big_corpus(tmp_path / "big.jsonl", 3000)
    out = tmp_path / "out"
    command = cli("generate", corpus, "--tokenizer", TOKENIZER, "-o", out, *SHARD_ARGS)
    first = subprocess.Popen(command)
    lock = out / "__l2t__" / "locks" / "shard-00000-of-00001.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.run(command, capture_output=True, text=True)
    assert first.wait() == 0
    assert second.returncode == 2, second.stderr
    assert "being written by another l2t generate" in second.stderr
    assert f"host {socket.gethostname()}, pid {first.pid}" in second.stderr
    assert verify(out) == [] and manifest_of(out)["complete"]
    # Once the holder has gone, the same command runs (and keeps every part).
    subprocess.run(command, check=True)


def test_overwrite_is_refused_while_another_run_writes(tmp_path):
    corpus = big_corpus(tmp_path / "big.jsonl", 3000)
    out = tmp_path / "out"
    args = ["generate", corpus, "--tokenizer", TOKENIZER, "-o", out, *SHARD_ARGS]
    first = subprocess.Popen(cli(*args, "--shard-index", 0, "--num-shards", 2))
    lock = out / "__l2t__" / "locks" / "shard-00000-of-00002.lock"
    while first.poll() is None and not (lock.exists() and lock.read_text()):
        time.sleep(0.01)
    other = subprocess.run(
        cli(*args, "--shard-index", 1, "--num-shards", 2, "--overwrite", "--seed", 9),
        capture_output=True, text=True,
    )  # fmt: skip
    first.kill()
    first.wait()
    assert other.returncode == 2
    assert "overwrite needs the directory to itself" in other.stderr
    assert "shard-00000-of-00002" in other.stderr


# -- kills at every step ---------------------------------------------------------------------

KILL_POINTS = [
    "intent-written",
    "part-written",
    "part-renamed",
    "progress-saved",
    "before-manifest",
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_kill_at_any_step_resumes_to_the_same_bytes(tmp_path, corpus, single, point):
    out = tmp_path / "out"
    command = cli("generate", corpus, "--tokenizer", TOKENIZER, "-o", out, *SHARD_ARGS)
    nth = "@3" if point.startswith(("part", "progress")) else ""  # mid-way through the parts
    killed = subprocess.run(command, env={**os.environ, "L2T_KILL_AT": point + nth})
    assert killed.returncode == -signal.SIGKILL
    assert not (out / "__l2t__" / "manifest.json").exists()
    subprocess.run(command, check=True)
    assert dataset_bytes(out) == single


def test_killed_shard_of_a_set_resumes_and_completes_it(tmp_path, corpus, single):
    out = tmp_path / "out"
    args = ["generate", corpus, "--tokenizer", TOKENIZER, "-o", out, *SHARD_ARGS]
    shard = ["--num-shards", 2, "--shard-index"]
    kill = {**os.environ, "L2T_KILL_AT": "part-renamed@2"}
    assert subprocess.run(cli(*args, *shard, 0), env=kill).returncode == -signal.SIGKILL
    subprocess.run(cli(*args, *shard, 1), check=True)
    assert not (out / "__l2t__" / "manifest.json").exists()  # shard 0 is unfinished
    subprocess.run(cli(*args, *shard, 0), check=True)
    assert dataset_bytes(out) == single


# -- what is written -------------------------------------------------------------------------


def test_inspect_verify_names_a_damaged_part(tmp_path, corpus):
    out = tmp_path / "out"
    generate(corpus, tokenizer=TOKENIZER, output=out, layout=SMALL, progress=False)
    ok = subprocess.run(cli("inspect", out, "--verify"), capture_output=True, text=True)
    assert ok.returncode == 0 and "5 of 5 parts as the manifest says" in ok.stdout
    part = out / "part-000002.parquet"
    data = bytearray(part.read_bytes())
    data[len(data) // 3] ^= 0x40
    part.write_bytes(bytes(data))
    bad = subprocess.run(cli("inspect", out, "--verify"), capture_output=True, text=True)
    assert bad.returncode == 1
    assert "part-000002.parquet: SHA-256 differs" in bad.stderr
    assert "4 of 5 parts" in bad.stdout


def test_a_flipped_byte_in_a_parquet_page_is_an_error_not_garbage(tmp_path, corpus):
    out = tmp_path / "out"
    generate(corpus, tokenizer=TOKENIZER, output=out, layout=SMALL, progress=False)
    part = out / "part-000000.parquet"
    meta = pq.ParquetFile(part).metadata
    column = meta.row_group(0).column(0)  # input_ids: its first data page
    data = bytearray(part.read_bytes())
    data[column.data_page_offset + column.total_compressed_size // 2] ^= 0x01
    part.write_bytes(bytes(data))
    with pytest.raises(l2t.SourceError, match=r"part-000000\.parquet"):
        l2t.shards.read_parquet_rows(part)


def test_an_output_directory_is_a_dataset_as_it_stands(tmp_path, corpus):
    out = tmp_path / "out"
    m = generate(corpus, tokenizer=TOKENIZER, output=out, layout=SMALL, progress=False)
    assert pads.dataset(out).count_rows() == m["totals"]["rows"]
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed")
    query = f"SELECT count(*) FROM read_parquet('{out}/*.parquet')"
    assert duckdb.sql(query).fetchall() == [(m["totals"]["rows"],)]
    datasets = pytest.importorskip("datasets", reason="datasets is not installed")
    loaded = datasets.load_dataset("parquet", data_dir=str(out), cache_dir=str(tmp_path / "hf"))
    assert loaded["train"].num_rows == m["totals"]["rows"]


def test_the_earlier_layout_is_read_and_not_written_over(tmp_path, corpus):
    out = tmp_path / "out"
    generate(corpus, tokenizer=TOKENIZER, output=out, layout=SMALL, progress=False)
    for name in ("manifest.json", "tokenizer.json"):  # as l2t 0.1 laid them out
        (out / "__l2t__" / name).rename(out / name)
    for sub in ("progress", "locks", "tmp"):
        for p in (out / "__l2t__" / sub).iterdir():
            p.unlink()
        (out / "__l2t__" / sub).rmdir()
    (out / "__l2t__").rmdir()
    shown = subprocess.run(cli("inspect", out, "--verify"), capture_output=True, text=True)
    assert shown.returncode == 0 and "complete l2t dataset" in shown.stdout
    with pytest.raises(l2t.OutputError, match="layout of an earlier l2t"):
        generate(corpus, tokenizer=TOKENIZER, output=out, layout=SMALL, progress=False)
    generate(corpus, tokenizer=TOKENIZER, output=out, layout=SMALL, progress=False, overwrite=True)
    assert not (out / "manifest.json").exists() and verify(out) == []


def test_nothing_to_write_is_a_complete_empty_dataset(tmp_path):
    short = write_jsonl(tmp_path / "short.jsonl", ["Too short to be used."] * 30)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": 1}\n' * 5)
    for source, rows, skipped in ((short, 30, 0), (empty, 0, 0), (bad, 5, 5)):
        out = tmp_path / source.stem
        for _ in range(2):  # and a rerun finds it complete
            m = generate(
                source, tokenizer=TOKENIZER, output=out, layout=SMALL, progress=False,
                on_error="skip",
            )  # fmt: skip
            t = manifest_of(out)["totals"]
            assert m["complete"] and m["input_rows"] == rows
            assert t["skipped_rows"] == skipped and t["examples"] == 0
            assert t["l2t_token_share"] == 0.0 and t["rows"] == 0


def test_a_full_disk_while_copying_the_tokenizer_leaves_nothing_behind(tmp_path, corpus):
    out = tmp_path / "out"
    limit = TOKENIZER.stat().st_size // 2

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = cli("generate", corpus, "--tokenizer", TOKENIZER, "-o", out, *SHARD_ARGS)
    proc = subprocess.run(command, preexec_fn=small_disk, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "free space and rerun" in proc.stderr and "Traceback" not in proc.stderr
    assert not list((out / "__l2t__" / "tmp").iterdir())
    subprocess.run(command, check=True)
    assert verify(out) == []


def test_a_corrupt_progress_file_is_named_not_called_another_configuration(tmp_path, corpus):
    out = tmp_path / "out"
    generate(corpus, tokenizer=TOKENIZER, output=out, layout=SMALL, progress=False)
    (out / "__l2t__" / "manifest.json").write_text('{"l2t_manifest": 1, "config": ')
    with pytest.raises(l2t.OutputError, match="unreadable manifest") as e:
        generate(corpus, tokenizer=TOKENIZER, output=out, layout=SMALL, progress=False)
    assert "another configuration" not in str(e.value)


# -- tokenizers ------------------------------------------------------------------------------


def test_a_dropout_tokenizer_is_refused(tmp_path):
    spec = json.loads(TOKENIZER.read_text())
    spec["model"]["dropout"] = 0.1
    with pytest.raises(l2t.ConfigError, match=r"dropout 0\.1"):
        l2t.Engine(json.dumps(spec))


def test_padding_and_truncation_are_turned_off_and_recorded(tmp_path, corpus):
    spec = json.loads(TOKENIZER.read_text())
    spec["padding"] = {"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": None,
                       "pad_id": 0, "pad_type_id": 0, "pad_token": "<|endoftext|>"}  # fmt: skip
    spec["truncation"] = {"direction": "Right", "max_length": 128, "strategy": "LongestFirst",
                          "stride": 0}  # fmt: skip
    padded = json.dumps(spec)
    m = generate(corpus, tokenizer=padded, output=tmp_path / "out", layout=SMALL, progress=False)
    assert m["tokenizer"]["disabled"] == ["padding", "truncation"]
    long_text = " ".join(["word"] * 500)
    assert len(l2t.Tokenizer(padded).encode(long_text)) > 128  # not truncated, not padded


# -- options out of range --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--seq-len", 1099511627776], "seq_len must be in [1, 1048576]"),
        (["--threads", 10000], "threads must be in [1, 1024]"),
        (["--seq-len", 0], "seq_len must be in [1, 1048576]"),
        (["--shard-docs", 0], "shard_docs must be an integer in [1, "),
        (["--batch-docs", 1 << 30], "batch_docs must be an integer in [1, "),
        (["--batch-mb", "nan"], "--batch-mb must be a positive number"),
        (["--num-shards", 0], "num_shards must be in [1, 99999]"),
        (["--shard-index", 3, "--num-shards", 2], "shard_index 3 is not in [0, 2)"),
        (["--max-docs", -1], "max_docs must be >= 0"),
        (["--task-weights", "{bad"], "--task-weights is not a JSON object"),
        (["--tasks", ""], "--tasks names no task"),
        (["--tasks", ",,"], "--tasks names no task"),
    ],
)
def test_out_of_range_options_are_clear_errors(tmp_path, corpus, options, message):
    command = cli("generate", corpus, "--tokenizer", TOKENIZER, "-o", tmp_path / "o", *options)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_most_examples_dropped_for_length_is_a_warning(tmp_path, corpus):
    with pytest.warns(DroppedExamplesWarning, match=r"generate dropped .* than 64 tokens"):
        m = generate(corpus, tokenizer=TOKENIZER, output=tmp_path / "o", seq_len=64, layout=SMALL)
    assert m["totals"]["examples"] < sum(
        t["too_long"] for t in m["totals"]["counts"]["tasks"].values()
    )
    shown = subprocess.run(
        cli("generate", corpus, "--tokenizer", TOKENIZER, "-o", tmp_path / "cli", "--seq-len", 64,
            *SHARD_ARGS),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert shown.stderr.startswith("l2t: warning: ") and "dropped" in shown.stderr


def test_a_negative_option_names_the_option(fixture_tokenizer):
    with pytest.raises(l2t.ConfigError, match="invalid value -1 for threads"):
        l2t.Engine(fixture_tokenizer, threads=-1)


def test_max_length_follows_seq_len_unless_set(fixture_tokenizer):
    assert l2t.Engine(fixture_tokenizer, seq_len=128).config["max_length"] == 128
    both = l2t.Engine(fixture_tokenizer, seq_len=128, max_length=64).config
    assert (both["seq_len"], both["max_length"]) == (128, 64)


def test_a_panic_in_the_core_is_an_l2t_error():
    with pytest.raises(l2t.L2TError, match="internal error: boom"):
        _l2t.panic_inside_core("boom")
