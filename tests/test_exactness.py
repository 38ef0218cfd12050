"""The contract: every example's ids equal the tokenizer's own encoding of its text.

Checked for every task and both profiles, on the fixture tokenizer (always) and on the real GPT-2
(byte-level BPE), Mistral (SentencePiece BPE with byte fallback) and BERT (WordPiece with a
normalizer) tokenizers when the shared data is present.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import l2t
from conftest import MAX_EXAMPLES, REAL_TOKENIZERS, TOKENIZERS, hf_tokenizer

TASKS = [t.name for t in l2t.tasks()]


def check_examples(engine: l2t.Engine, hf, docs: list[str], task: str) -> int:
    examples = engine.examples(docs, task=task)
    for ex in examples:
        expected = hf.encode(ex.text).ids
        if engine.config["eos_per_example"]:
            expected = [*expected, engine.eos_id]
        assert ex.ids.dtype == np.uint32
        assert ex.ids.tolist() == expected, (task, ex.doc, ex.text[:200])
    return len(examples)


@pytest.mark.parametrize("profile", ["paper", "default"])
@pytest.mark.parametrize("task", TASKS)
def test_fixture_tokenizer_is_exact(fixture_tokenizer, fixture_docs, profile, task):
    from tokenizers import Tokenizer

    hf = Tokenizer.from_str(fixture_tokenizer)
    engine = l2t.Engine(fixture_tokenizer, profile=profile, seed=1)
    assert check_examples(engine, hf, fixture_docs, task) > 0


@pytest.mark.parametrize("name", REAL_TOKENIZERS)
@pytest.mark.parametrize("profile", ["paper", "default"])
def test_real_tokenizers_are_exact_on_every_task(name, profile, fixture_docs):
    hf = hf_tokenizer(name)
    tok = l2t.Tokenizer(hf)
    assert tok.fast_path != "hf", f"{name} should have a proven fast path"
    overrides = {} if tok.eos_id is not None else {"eos_per_example": False}
    engine = l2t.Engine(hf, profile=profile, seed=2, **overrides)
    total = sum(check_examples(engine, hf, fixture_docs, task) for task in TASKS)
    assert total > len(TASKS) * 10


@pytest.mark.parametrize("name", REAL_TOKENIZERS)
def test_mixed_generation_is_exact_on_reference_docs(name, reference_docs):
    """Whole documents (raw text) and the task mixture, on the reference documents."""
    hf = hf_tokenizer(name)
    engine = l2t.Engine(hf, profile="paper", seed=3)
    docs = reference_docs[:120]
    for ex in engine.examples(docs):
        assert ex.ids.tolist() == hf.encode(ex.text).ids
    tok = l2t.Tokenizer(hf)
    for doc in docs:
        assert tok.encode(doc) == hf.encode(doc).ids


def test_tokenizer_inputs_are_equivalent(fixture_tokenizer, tmp_path):
    from tokenizers import Tokenizer

    path = tmp_path / "tokenizer.json"
    path.write_text(fixture_tokenizer, encoding="utf-8")
    hf = Tokenizer.from_str(fixture_tokenizer)
    text = "Same ids, whatever form the tokenizer comes in."
    forms = [str(path), path, tmp_path, hf, fixture_tokenizer, l2t.Tokenizer(path)]
    results = {tuple(l2t.Tokenizer(f).encode(text)) for f in forms}
    assert results == {tuple(hf.encode(text).ids)}


WORD = st.text(
    alphabet=st.sampled_from(
        list("abcxyzABCXYZ0189.,;:!?'\"-()[]_@#$+<>") + list("éßİǆΣ½²日本😀ع\u0301\u00a0\t")
    ),
    min_size=1,
    max_size=12,
)
DOC = st.lists(st.lists(WORD, min_size=1, max_size=15), min_size=1, max_size=12).map(
    lambda sentences: " ".join(" ".join(s) + "." for s in sentences)
)


@cache
def random_doc_engines(fixture_tokenizer: str) -> list[tuple[l2t.Engine, object]]:
    """Engines that accept any chunk (min_words=1), each with its HF tokenizer as the oracle."""
    from tokenizers import Tokenizer

    pairs = [
        (
            l2t.Engine(fixture_tokenizer, profile="default", min_words=1),
            Tokenizer.from_str(fixture_tokenizer),
        )
    ]
    for name in REAL_TOKENIZERS:
        if (TOKENIZERS / name).exists():
            real = hf_tokenizer(name)
            pairs.append((l2t.Engine(real, profile="paper", min_words=1), real))
    return pairs


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(docs=st.lists(DOC, min_size=2, max_size=4), task=st.sampled_from(TASKS))
def test_random_documents_are_exact(fixture_tokenizer, docs, task):
    for engine, hf in random_doc_engines(fixture_tokenizer):
        check_examples(engine, hf, docs, task)
