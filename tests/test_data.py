"""Streaming L2T in torch DataLoaders: sharding, exact resume, fork/spawn, errors, tensors."""

from __future__ import annotations

import json
import pickle
from collections import Counter

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (make install-test adds it)")

import l2t  # noqa: E402
from conftest import FIXTURES, make_corpus, write_jsonl  # noqa: E402
from l2t.data import POSITION, L2TCollator, L2TLoader, L2TStream, collate  # noqa: E402
from l2t.sources import Documents  # noqa: E402

# Three workers on a two-core machine are the point of some tests, not a mistake.
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

TOKENIZER = str(FIXTURES / "bpe-pydoc-2k.json")
DOCS = make_corpus(240)


def stream(**kw) -> L2TStream:
    kw.setdefault("seq_len", 512)
    kw.setdefault("batch_docs", 16)
    return L2TStream(Documents(DOCS), TOKENIZER, **kw)


def rows_of(items) -> list[tuple[int, ...]]:
    """Every row (input ids) of a sequence of items, batched or not."""
    out = []
    for item in items:
        ids = item["input_ids"]
        for row in ids.reshape(-1, ids.shape[-1]).tolist():
            out.append(tuple(row))
    return out


def same_items(a, b) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        keys = {k for k in x if k != POSITION}
        if keys != {k for k in y if k != POSITION}:
            return False
        for k in keys:
            if isinstance(x[k], torch.Tensor):
                if not torch.equal(x[k], y[k]):
                    return False
            elif x[k] != y[k]:
                return False
    return True


def test_rows_are_the_engines_rows_unit_by_unit():
    s = stream(seed=4)
    engine = l2t.Engine(TOKENIZER, seed=4, seq_len=512)
    expected = []
    for u in range(0, len(DOCS) // 16):
        docs = DOCS[u * 16 : (u + 1) * 16]
        previous = DOCS[u * 16 - 1] if u else None
        packed = engine.generate(docs, first_doc=u * 16, previous=previous, batch=u)
        expected += [tuple(r) for r in packed.input_ids.astype(int).tolist()]
    assert rows_of(list(s)) == expected


def test_ranks_and_workers_split_the_rows_without_overlap_or_gaps():
    everything = Counter(rows_of(list(stream())))
    union: Counter = Counter()
    for rank in range(2):
        loader = L2TLoader(stream(rank=rank, world_size=2), num_workers=3)
        union.update(rows_of(list(loader)))
    assert union == everything


@pytest.mark.parametrize("workers", [0, 2, 3])
@pytest.mark.parametrize("shuffle", [0, 50])
def test_resume_continues_with_exactly_the_next_batches(workers, shuffle):
    def loader():
        return L2TLoader(stream(shuffle_buffer=shuffle), batch_size=3, num_workers=workers)

    full = list(loader())
    assert len(full) > 12
    first = loader()
    it = iter(first)
    head = [next(it) for _ in range(7)]
    state = json.loads(json.dumps(first.state_dict()))  # states survive JSON
    del it
    resumed = loader()
    resumed.load_state_dict(state)
    assert same_items(head + list(resumed), full)


def test_stream_state_dict_resumes_in_process():
    full = list(stream(batch_size=4, epochs=2))
    s = stream(batch_size=4, epochs=2)
    it = iter(s)
    head = [next(it) for _ in range(len(full) // 2 + 1)]  # into the second epoch
    state = s.state_dict()
    again = stream(batch_size=4, epochs=2)
    again.load_state_dict(state)
    assert same_items(head + list(again), full)


def test_mismatched_state_is_refused():
    loader = L2TLoader(stream(world_size=2, rank=0), num_workers=2)
    next(iter(loader))
    state = loader.state_dict()
    with pytest.raises(l2t.ConfigError, match="world size 2"):
        L2TLoader(stream(world_size=4, rank=0), num_workers=2).load_state_dict(state)
    with pytest.raises(l2t.ConfigError, match="2 workers"):
        L2TLoader(stream(world_size=2, rank=0), num_workers=3).load_state_dict(state)
    with pytest.raises(l2t.ConfigError, match="another configuration"):
        L2TLoader(stream(world_size=2, rank=0, seed=9), num_workers=2).load_state_dict(state)
    with pytest.raises(l2t.ConfigError, match="persistent workers"):
        L2TLoader(stream(), num_workers=2, persistent_workers=True)
    with pytest.raises(l2t.ConfigError, match="version"):
        L2TLoader(stream(world_size=2, rank=0), num_workers=2).load_state_dict(
            {**state, "version": 99}
        )


def test_spawned_workers_give_what_forked_workers_give():
    s = stream(seed=2)
    assert pickle.loads(pickle.dumps(s)).fingerprint() == s.fingerprint()
    forked = list(L2TLoader(s, batch_size=2, num_workers=2, multiprocessing_context="fork"))
    spawned = list(L2TLoader(s, batch_size=2, num_workers=2, multiprocessing_context="spawn"))
    assert same_items(forked, spawned)


def test_a_failing_worker_surfaces_the_error_with_its_cause(tmp_path):
    path = write_jsonl(tmp_path / "docs.jsonl", DOCS[:100])
    lines = path.read_text().splitlines()
    lines[70] = '{"text": null}'
    path.write_text("\n".join(lines) + "\n")
    loader = L2TLoader(L2TStream(path, TOKENIZER, seq_len=512, batch_docs=16), num_workers=2)
    with pytest.raises(l2t.SourceError, match=r"docs\.jsonl: line 71"):
        list(loader)
    skipping = L2TStream(path, TOKENIZER, seq_len=512, batch_docs=16, on_error="skip")
    assert len(list(L2TLoader(skipping, num_workers=2))) > 0


def test_tensors_isolate_examples():
    batch = next(iter(L2TLoader(stream(), batch_size=4)))
    ids, labels, pos, docs = (batch[k] for k in ("input_ids", "labels", "position_ids", "doc_ids"))
    assert ids.dtype == labels.dtype == pos.dtype == torch.int64 and ids.shape == (4, 512)
    pads = docs == 0
    assert (labels[pads] == -100).all()
    starts = (pos == 0) & ~pads
    assert (labels[starts] == -100).all()  # no example's first token is a target
    inner = ~pads & ~starts
    assert torch.equal(labels[inner], ids[inner])
    # Positions count up within a segment and the segment id changes exactly where they restart.
    same = docs[:, 1:] == docs[:, :-1]
    assert torch.equal(pos[:, 1:][same], pos[:, :-1][same] + 1)
    flat = pos.reshape(-1)
    cu = batch["cu_seqlens"].long()
    assert cu[0] == 0 and cu[-1] == flat.numel()
    assert torch.equal(torch.nonzero(flat == 0).flatten(), cu[:-1])
    assert batch["max_seqlen"] == int((cu[1:] - cu[:-1]).max())


def test_paper_profile_lets_examples_see_each_other():
    item = next(iter(stream(profile="paper")))
    assert torch.equal(item["position_ids"], torch.arange(512))
    assert torch.equal(item["labels"], item["input_ids"])  # pads trained on, as the reference
    assert (item["doc_ids"] == 1).all()


def test_epochs_draw_new_tasks_and_shuffle_is_seeded():
    one = rows_of(list(stream(epochs=2)))
    half = len(one) // 2
    assert set(one[:half]) != set(one[half:])
    a, b = rows_of(list(stream(shuffle_buffer=64))), rows_of(list(stream(shuffle_buffer=64)))
    assert a == b and a != rows_of(list(stream()))


def test_hf_collator_drops_the_position_and_can_flatten():
    rows = [item for _, item in zip(range(3), stream(), strict=False)]
    batch = L2TCollator()(rows)
    assert (
        POSITION not in batch and "cu_seqlens" not in batch and batch["input_ids"].shape == (3, 512)
    )
    flat = L2TCollator(flatten=True, with_cu_seqlens=True)(rows)
    assert flat["input_ids"].shape == (1, 3 * 512) and flat["position_ids"].shape == (1, 1536)
    assert torch.equal(flat["cu_seqlens"], collate(rows)["cu_seqlens"])


def test_prompts_can_be_left_out_of_the_loss():
    plain = next(iter(stream(batch_size=2)))
    masked = next(iter(stream(batch_size=2, ignore_prompts=True)))
    assert torch.equal(plain["input_ids"], masked["input_ids"])
    dropped = (plain["labels"] != -100) & (masked["labels"] == -100)
    assert dropped.sum() > 0
    assert ((masked["labels"] == -100) | (masked["labels"] == masked["input_ids"])).all()


def test_hugging_face_trainer_trains_on_the_stream(tmp_path):
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    pytest.importorskip("accelerate", reason="the HF Trainer needs accelerate")
    config = transformers.Qwen2Config(
        vocab_size=2048,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
    )
    model = transformers.Qwen2ForCausalLM(config)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        max_steps=3,
        learning_rate=1e-3,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        dataloader_num_workers=0,
    )
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=stream(), data_collator=L2TCollator()
    )
    result = trainer.train()
    assert result.global_step == 3
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(0 < x < 20 for x in losses)
