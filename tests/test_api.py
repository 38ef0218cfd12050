"""The public Python API: examples, packed batches, Arrow/numpy views, pickling, the CLI."""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

import l2t


def test_task_catalogue():
    tasks = l2t.tasks()
    assert [t.name for t in tasks] == [
        "char_count", "masked_char", "space", "typo", "last", "masked_word", "random_word",
        "shuffle", "token_type", "deletion", "reordering", "fill_middle", "half", "one",
    ]  # fmt: skip
    assert Counter(t.granularity for t in tasks) == {
        "character": 4, "word": 5, "sentence": 2, "discourse": 3,
    }  # fmt: skip
    assert l2t.task_id("mlm") == l2t.task_id("masked_word") == 5
    assert l2t.task_name(l2t.RAW_TASK_ID) == "raw"
    assert all(t.description for t in tasks)


def test_examples_carry_their_fields(fixture_tokenizer, fixture_docs):
    engine = l2t.Engine(fixture_tokenizer, seed=0)
    examples = engine.examples(fixture_docs[:4], task="sentence_reordering")
    assert examples
    assert all(e.task == "reordering" and 0 <= e.doc < 4 for e in examples)
    assert all(e.ids[-1] == engine.eos_id for e in examples)  # default profile appends EOS


def test_engine_pickles_by_config(fixture_tokenizer, fixture_docs):
    engine = l2t.Engine(fixture_tokenizer, profile="paper", seed=4, seq_len=1024)
    clone = pickle.loads(pickle.dumps(engine))
    assert clone.config == engine.config
    a, b = engine.examples(fixture_docs[:5]), clone.examples(fixture_docs[:5])
    assert [e.text for e in a] == [e.text for e in b]


@pytest.mark.parametrize("profile", ["paper", "default"])
def test_generate_packs_every_example_once(fixture_tokenizer, fixture_docs, profile):
    engine = l2t.Engine(fixture_tokenizer, profile=profile, seed=3, seq_len=1024)
    examples = engine.examples(fixture_docs)
    batch = engine.generate(fixture_docs)
    assert batch.input_ids.shape == (batch.num_rows, 1024)
    assert batch.input_ids.dtype == np.uint32
    assert len(batch.row_offsets) == batch.num_rows + 1
    # Rebuild each segment's ids from the rows and compare with the examples.
    segments = []
    for r in range(batch.num_rows):
        lo, hi = batch.row_offsets[r], batch.row_offsets[r + 1]
        pos = 0
        for s in range(lo, hi):
            n = int(batch.segment_lengths[s])
            ids = tuple(batch.input_ids[r, pos : pos + n].tolist())
            segments.append(
                (int(batch.segment_docs[s]), l2t.task_name(batch.segment_tasks[s]), ids)
            )
            pos += n
        assert (batch.input_ids[r, pos:] == batch.pad_id).all()
    expected = [(e.doc, e.task, tuple(e.ids.tolist())) for e in examples]
    assert Counter(segments) == Counter(expected)
    assert batch.stats["rows"] == batch.num_rows
    assert batch.stats["pad_tokens"] == batch.input_ids.size - sum(len(s[2]) for s in segments)


def test_best_fit_fills_rows_better_than_worst_fit(fixture_tokenizer, fixture_docs):
    docs = fixture_docs * 4
    worst = l2t.Engine(fixture_tokenizer, profile="paper", seed=1, seq_len=1024).generate(docs)
    best = l2t.Engine(
        fixture_tokenizer, profile="paper", seed=1, seq_len=1024, packing="best_fit"
    ).generate(docs)
    assert best.num_rows <= worst.num_rows
    assert best.fill_rate() >= worst.fill_rate()


def test_disjoint_mixing_splits_documents_exactly(fixture_tokenizer, fixture_docs):
    docs = fixture_docs * 2  # 48 documents
    engine = l2t.Engine(fixture_tokenizer, profile="paper", seed=1, raw_ratio=0.5, mix_block=20)
    batch = engine.generate(docs)
    # Blocks of 20, 20 and 8 documents send ceil(r * n) documents each to raw text.
    assert batch.stats["raw_documents"] == 10 + 10 + 4
    raw = batch.segment_tasks == l2t.RAW_TASK_ID
    raw_docs = set(batch.segment_docs[raw].tolist())
    l2t_docs = set(batch.segment_docs[~raw].tolist())
    assert not raw_docs & l2t_docs
    # Raw rows are full: the remainder of each block is dropped and counted.
    for r in range(batch.num_rows):
        tasks = batch.segment_tasks[batch.row_offsets[r] : batch.row_offsets[r + 1]]
        if (tasks == l2t.RAW_TASK_ID).all():
            lengths = batch.segment_lengths[batch.row_offsets[r] : batch.row_offsets[r + 1]]
            assert lengths.sum() == batch.seq_len


def test_shared_mixing_uses_every_document_twice(fixture_tokenizer, fixture_docs):
    engine = l2t.Engine(fixture_tokenizer, profile="paper", seed=1, mixing="shared")
    batch = engine.generate(fixture_docs)
    assert batch.stats["raw_documents"] == len(fixture_docs)
    assert batch.stats["documents"] == len(fixture_docs)
    tok = l2t.Tokenizer(fixture_tokenizer)
    total = sum(len(tok.encode(d)) for d in fixture_docs)
    assert batch.stats["raw_tokens"] == total
    assert batch.stats["raw_tokens_dropped"] == total % batch.seq_len


def test_views_labels_positions_and_arrow(fixture_tokenizer, fixture_docs):
    pa = pytest.importorskip("pyarrow")
    engine = l2t.Engine(fixture_tokenizer, seed=1)
    batch = engine.generate(fixture_docs[:6])
    # numpy views share the Rust buffer.
    assert not batch.input_ids.flags.owndata
    seg = batch.segment_ids()
    labels = batch.labels()
    assert ((labels == -100) == (seg == 0)).all()
    assert (batch.labels(ignore_pads=False) == batch.input_ids).all()
    pos = batch.position_ids()
    first = batch.segment_lengths[batch.row_offsets[0]]
    assert pos[0, 0] == 0 and pos[0, first] == 0 and pos[0, first - 1] == first - 1
    table = batch.to_arrow()
    assert table.num_rows == batch.num_rows
    assert table.schema.field("input_ids").type == pa.list_(pa.uint32(), 2048)
    assert pa.table(batch).equals(table)  # through the Arrow PyCapsule stream
    row0 = table.column("segment_lengths")[0].as_py()
    assert row0 == batch.segment_lengths[: batch.row_offsets[1]].tolist()


def test_token_counts_drive_chunking(fixture_tokenizer, fixture_docs):
    engine = l2t.Engine(fixture_tokenizer, profile="paper", seed=0)
    doc = fixture_docs[0]
    one_chunk = engine.examples([doc], task="half", token_counts=[100])
    many = engine.examples([doc], task="half", token_counts=[512 * 3])
    assert len(one_chunk) == 1
    assert len(many) > 1


def test_cli_tasks_and_preview(tmp_path, fixture_tokenizer, fixture_docs):
    tok = tmp_path / "tokenizer.json"
    tok.write_text(fixture_tokenizer)
    run = [sys.executable, "-m", "l2t.cli"]
    out = subprocess.run([*run, "tasks"], capture_output=True, text=True, check=True).stdout
    assert "fill_middle" in out and "passage_completion" in out
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("\n".join(__import__("json").dumps({"text": d}) for d in fixture_docs))
    out = subprocess.run(
        [*run, "preview", "--tokenizer", str(tok), "--task", "shuffle", str(corpus)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "=== shuffle" in out
    bad = subprocess.run([*run, "preview", "--tokenizer", str(tmp_path / "nope.json")],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "nope.json" in bad.stderr


def test_documents_given_as_token_ids(fixture_tokenizer, fixture_docs):
    """An id corpus is decoded with the vocabulary and gives the same examples as its text."""
    tok = l2t.Tokenizer(fixture_tokenizer)
    engine = l2t.Engine(fixture_tokenizer, profile="paper", seed=8)
    as_ids = [np.asarray(tok.encode(d), dtype=np.uint32) for d in fixture_docs[:5]]
    from_text = engine.examples(fixture_docs[:5])
    from_ids = engine.examples(as_ids)
    assert [e.text for e in from_ids] == [e.text for e in from_text]
    with pytest.raises(l2t.VocabError, match="document 1"):
        engine.examples([[1, 2], [tok.vocab_size + 1]])


def test_segment_and_position_ids_follow_segments(fixture_tokenizer, fixture_docs):
    batch = l2t.Engine(fixture_tokenizer, seed=2, seq_len=1024, raw_ratio=0.5).generate(
        fixture_docs * 2
    )
    seg, pos = batch.segment_ids(), batch.position_ids()
    for r in range(batch.num_rows):
        lengths = batch.segment_lengths[batch.row_offsets[r] : batch.row_offsets[r + 1]]
        expected_seg = np.zeros(batch.seq_len, dtype=np.int32)
        expected_pos = np.zeros(batch.seq_len, dtype=np.int64)
        start = 0
        for k, n in enumerate(lengths, 1):
            expected_seg[start : start + n] = k
            expected_pos[start : start + n] = np.arange(n)
            start += n
        expected_pos[start:] = np.arange(batch.seq_len - start)
        assert (seg[r] == expected_seg).all()
        assert (pos[r] == expected_pos).all()
