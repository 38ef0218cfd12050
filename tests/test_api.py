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


def packed_segments(batch: l2t.PackedBatch) -> list[tuple[int, str, tuple[int, ...]]]:
    """Each segment of the rows as (doc, task name, ids); checks that the rest of a row is pads."""
    segments = []
    for r in range(batch.num_rows):
        lo, hi = batch.row_offsets[r], batch.row_offsets[r + 1]
        pos = 0
        for s in range(lo, hi):
            n = int(batch.segment_lengths[s])
            ids = tuple(batch.input_ids[r, pos : pos + n].tolist())
            task = batch.segment_tasks[s]
            name = "raw" if task == l2t.RAW_TASK_ID else l2t.task_name(task)
            segments.append((int(batch.segment_docs[s]), name, ids))
            pos += n
        assert (batch.input_ids[r, pos:] == batch.pad_id).all()
    return segments


def example_keys(examples: list[l2t.Example]) -> list[tuple[int, str, tuple[int, ...]]]:
    return [(e.doc, e.task, tuple(e.ids.tolist())) for e in examples]


@pytest.mark.parametrize("profile", ["paper", "default"])
def test_generate_packs_every_example_once(fixture_tokenizer, fixture_docs, profile):
    engine = l2t.Engine(fixture_tokenizer, profile=profile, seed=3, seq_len=1024)
    examples = engine.examples(fixture_docs)
    batch = engine.generate(fixture_docs)
    assert batch.input_ids.shape == (batch.num_rows, 1024)
    assert batch.input_ids.dtype == np.uint32
    assert len(batch.row_offsets) == batch.num_rows + 1
    segments = packed_segments(batch)
    assert Counter(segments) == Counter(example_keys(examples))
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


def varied_docs(docs: list[str], n: int) -> list[str]:
    """Documents of very different lengths: two sentences (often emptied by the word filter), one
    fixture document, four joined, eight sentences, in turn."""
    sentences = [s for d in docs for s in l2t._l2t.split_sentences(d)]

    def run(start: int, k: int) -> str:
        start %= len(sentences) - k
        return " ".join(sentences[start : start + k])

    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            out.append(run(3 * i, 2))
        elif kind == 1:
            out.append(docs[i % len(docs)])
        elif kind == 2:
            out.append("\n\n".join(docs[(i + j) % len(docs)] for j in range(4)))
        else:
            out.append(run(7 * i, 8))
    return out


def test_streaming_positions_give_the_examples_of_one_call(fixture_tokenizer, fixture_docs):
    docs = fixture_docs * 2
    engine = l2t.Engine(fixture_tokenizer, profile="paper", seed=6)
    whole = engine.examples(docs)
    cut = 17
    head = engine.examples(docs[:cut])
    tail, stats = engine.examples_with_stats(docs[cut:], first_doc=cut, previous=docs[cut - 1])
    assert [(e.doc, e.task, e.text) for e in head + tail] == [
        (e.doc, e.task, e.text) for e in whole
    ]
    assert example_keys(head + tail) == example_keys(whole)
    assert stats["documents"] == len(docs) - cut
    # generate places its documents by first_doc and is reproducible for a given position.
    gen = l2t.Engine(fixture_tokenizer, seed=6, raw_ratio=0.3, seq_len=512)
    one = gen.generate(docs[cut:], first_doc=cut, previous=docs[cut - 1], batch=4)
    two = gen.generate(docs[cut:], first_doc=cut, previous=docs[cut - 1], batch=4)
    assert packed_segments(one) == packed_segments(two)
    assert (one.input_ids == two.input_ids).all()
    assert one.segment_docs.min() >= cut and one.segment_docs.max() < len(docs)


@pytest.mark.parametrize(
    ("profile", "mixing"),
    [
        ("paper", {"raw_ratio": 0.5}),
        ("default", {"raw_ratio": 0.3, "mix_by": "tokens"}),
        ("default", {"mixing": "shared"}),
        ("paper", {"raw_ratio": 0.0, "mix_by": "tokens"}),
    ],
)
def test_mixed_examples_are_what_generate_packs(fixture_tokenizer, fixture_docs, profile, mixing):
    docs = varied_docs(fixture_docs, 60)
    engine = l2t.Engine(
        fixture_tokenizer, profile=profile, seed=4, seq_len=512, mix_block=25, **mixing
    )
    previous = fixture_docs[0]
    examples, raw, stats = engine.mixed_examples(docs, first_doc=100, previous=previous)
    batch = engine.generate(docs, first_doc=100, previous=previous, batch=2)
    segments = packed_segments(batch)
    assert Counter(s for s in segments if s[1] != "raw") == Counter(example_keys(examples))
    assert [e.doc for e in examples] == sorted(e.doc for e in examples)  # document order
    assert {s[0] for s in segments if s[1] == "raw"} <= set(raw)
    assert raw == sorted(raw) and all(100 <= g < 160 for g in raw)
    if mixing.get("mixing") != "shared":
        assert not {e.doc for e in examples} & set(raw)
    for key in ("documents", "raw_documents", "raw_tokens", "raw_tokens_dropped", "tasks"):
        assert stats[key] == batch.stats[key], key
    assert stats["rows"] == stats["pad_tokens"] == 0


def test_token_mixing_meets_the_raw_token_share(fixture_tokenizer, fixture_docs):
    docs = varied_docs(fixture_docs, 200)

    def raw_share(stats: dict) -> float:
        raw = stats["raw_tokens"] - stats["raw_tokens_dropped"]
        return raw / (raw + sum(t["tokens"] for _, t in stats["tasks"]))

    by = {}
    for mix_by in ("documents", "tokens"):
        engine = l2t.Engine(
            fixture_tokenizer, seed=1, raw_ratio=0.5, mix_by=mix_by, mix_block=50, seq_len=512
        )
        by[mix_by] = engine.generate(docs).stats
    assert abs(raw_share(by["tokens"]) - 0.5) <= 0.05
    # By documents each block of 50 sends exactly 25 to raw text, whatever their tokens.
    assert by["documents"]["raw_documents"] == 4 * 25
    assert abs(raw_share(by["documents"]) - 0.5) > 0.1


def test_token_mixing_is_deterministic_and_streams_by_block(fixture_tokenizer, fixture_docs):
    docs = varied_docs(fixture_docs, 80)

    def engine(threads: int) -> l2t.Engine:
        return l2t.Engine(
            fixture_tokenizer, seed=3, raw_ratio=0.4, mix_by="tokens", mix_block=20, threads=threads
        )

    one, two = engine(1).generate(docs, batch=1), engine(2).generate(docs, batch=1)
    for name in ("input_ids", "row_offsets", "segment_lengths", "segment_tasks", "segment_docs"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    assert one.stats == two.stats
    # Each document's examples depend on itself and its predecessor only, and blocks follow the
    # global index: calls cut at a block boundary split and emit exactly as one call does.
    whole = engine(2).mixed_examples(docs)
    head = engine(1).mixed_examples(docs[:40])
    tail = engine(1).mixed_examples(docs[40:], first_doc=40, previous=docs[39])
    assert example_keys(head[0] + tail[0]) == example_keys(whole[0])
    assert head[1] + tail[1] == whole[1]


def test_token_mixing_raw_rows_are_the_documents_encodings(fixture_tokenizer, fixture_docs):
    docs = varied_docs(fixture_docs, 40)
    engine = l2t.Engine(fixture_tokenizer, seed=2, raw_ratio=0.6, mix_by="tokens", seq_len=256)
    _, raw, stats = engine.mixed_examples(docs)
    batch = engine.generate(docs)
    tok = l2t.Tokenizer(fixture_tokenizer)
    # One block (mix_block 1000): the raw documents' ids, each followed by EOS, cut into rows.
    stream = [i for g in raw for i in [*tok.encode(docs[g]), engine.eos_id]]
    assert stats["raw_tokens"] == len(stream)
    full = len(stream) // 256 * 256
    expected = [tuple(stream[i : i + 256]) for i in range(0, full, 256)]
    raw_rows = [
        tuple(batch.input_ids[r].tolist())
        for r in range(batch.num_rows)
        if (
            batch.segment_tasks[batch.row_offsets[r] : batch.row_offsets[r + 1]] == l2t.RAW_TASK_ID
        ).all()
    ]
    assert Counter(raw_rows) == Counter(expected)
    assert stats["raw_tokens_dropped"] == len(stream) - full


def test_raw_ratio_edges_with_token_mixing(fixture_tokenizer, fixture_docs):
    docs = varied_docs(fixture_docs, 30)
    all_raw = l2t.Engine(fixture_tokenizer, seed=1, raw_ratio=1.0, mix_by="tokens")
    examples, raw, stats = all_raw.mixed_examples(docs)
    assert examples == [] and raw == list(range(30)) and stats["documents"] == 0
    assert (all_raw.generate(docs).segment_tasks == l2t.RAW_TASK_ID).all()
    none_raw = l2t.Engine(fixture_tokenizer, seed=1, raw_ratio=0.0, mix_by="tokens")
    by_docs = l2t.Engine(fixture_tokenizer, seed=1, raw_ratio=0.0)
    assert example_keys(none_raw.mixed_examples(docs)[0]) == example_keys(by_docs.examples(docs))
    for bad in (-0.1, 1.01):
        with pytest.raises(l2t.ConfigError, match="raw_ratio"):
            l2t.Engine(fixture_tokenizer, raw_ratio=bad)
    with pytest.raises(l2t.ConfigError):
        l2t.Engine(fixture_tokenizer, mix_by="bytes")
    assert l2t.Engine(fixture_tokenizer).config["mix_by"] == "documents"


def test_prompt_lengths_are_the_ids_the_prompt_encodes_to(fixture_tokenizer, fixture_docs):
    tok = l2t.Tokenizer(fixture_tokenizer)
    plain = l2t.Engine(fixture_tokenizer, seed=1).examples(fixture_docs)
    masked = l2t.Engine(fixture_tokenizer, seed=1, mask_prompts=True).examples(fixture_docs)
    assert [e.ids.tolist() for e in plain] == [e.ids.tolist() for e in masked]
    assert all(e.prompt_len == 0 for e in plain)
    for e in masked:
        alone = tok.encode(e.text[: len(e.text) - len(e.completion)])
        shared = 0
        while shared < min(len(alone), len(e.ids)) and alone[shared] == e.ids[shared]:
            shared += 1
        assert e.prompt_len == shared > 0, e.task
        assert e.prompt_len < len(e.ids)  # a completion always follows


def test_prompt_mask_marks_each_segments_prompt(fixture_tokenizer, fixture_docs):
    engine = l2t.Engine(fixture_tokenizer, seed=2, mask_prompts=True, raw_ratio=0.5)
    batch = engine.generate(fixture_docs)
    mask = batch.prompt_mask()
    seg = batch.segment_ids()
    for r in range(batch.num_rows):
        first = batch.row_offsets[r]
        for n in range(1, batch.row_offsets[r + 1] - first + 1):
            in_segment = seg[r] == n
            prompt = int(batch.segment_prompt_lengths[first + n - 1])
            assert mask[r][in_segment].sum() == prompt
            assert mask[r][in_segment][:prompt].all()  # the prompt leads its segment
    raw = batch.segment_tasks == l2t.RAW_TASK_ID
    assert (batch.segment_prompt_lengths[raw] == 0).all()
    assert (batch.segment_prompt_lengths[~raw] > 0).all()
