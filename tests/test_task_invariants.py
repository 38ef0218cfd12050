"""Invariants of each task, checked with a small pure-Python oracle of the specification.

Each example of each task must be explainable from its chunk by the task's rule (TASKS.md §1.4):
shuffle keeps the word multiset, typo changes only alphanumeric characters, reordering is a
permutation, one/half/fill_middle reassemble the chunk, counts are right, and the text is the
prompt and completion joined through one of the seven anchors.
"""

from __future__ import annotations

import string
from collections import Counter
from pathlib import Path

import pytest

import l2t
from conftest import ROOT

MASKS = ["[MASK]", "___", "@@@", "###", "+++", "<<>>", "(())", "$$$"]
ANCHORS = ["Answer:", "Response:", "A:", "(A)", "A)", "A.", ""]
DATA = ROOT / "rust" / "l2t-core" / "data"
STOP = set(Path(DATA / "stopwords-en-nltk179.txt").read_text().split())
RANDOM_WORDS = set(Path(DATA / "wordnet30-first-lemmas-nva.txt").read_text().split())
LOWER_RANDOM_WORDS = {w.lower() for w in RANDOM_WORDS}
SEEDS = (0, 1, 2)


def examples_of(tokenizer: str, docs: list[str], task: str) -> list[l2t.Example]:
    out = []
    for seed in SEEDS:
        out += l2t.Engine(tokenizer, profile="paper", seed=seed).examples(docs, task=task)
    assert out, f"no {task} examples"
    return out


def split_instruction(prompt: str) -> tuple[str, str]:
    """(instruction, chunk) of a prompt joined with a blank line in either order."""
    first, second = prompt.split("\n\n")
    # Chunks hold at least 20 words; instructions are one short line.
    return (first, second) if len(first.split()) < len(second.split()) else (second, first)


@pytest.fixture(scope="module")
def make(fixture_tokenizer, fixture_docs):
    return lambda task: examples_of(fixture_tokenizer, fixture_docs, task)


def test_text_is_prompt_anchor_completion(make):
    seen = Counter()
    for task in [t.name for t in l2t.tasks()]:
        for ex in make(task):
            matches = [
                a
                for a in ANCHORS
                if ex.text
                == ex.prompt
                + "\n\n"
                + a
                + (" " if a and not ex.completion.startswith(" ") else "")
                + ex.completion
            ]
            assert matches, ex.text[-200:]
            seen[matches[-1]] += 1
    assert set(seen) == set(ANCHORS)


def test_char_count(make):
    for ex in make("char_count"):
        _, chunk = split_instruction(ex.prompt)
        assert int(ex.completion) == len(chunk)
        assert len(chunk.split()) >= 20
        assert "\n" not in chunk


def test_masked_char(make):
    for ex in make("masked_char"):
        chunk, prompt = ex.completion, ex.prompt
        valid = [c for c in chunk if c.isalnum() and not c.isdigit()]
        mask = next(m for m in MASKS if m in prompt and m not in chunk) if valid else None
        j = masked = 0
        for c in chunk:
            if prompt.startswith(c, j):
                j += 1
            else:
                assert c.isalnum() and not c.isdigit() and prompt.startswith(mask, j)
                j += len(mask)
                masked += 1
        assert j == len(prompt)
        assert masked == round(0.15 * len(valid))


def test_space(make):
    for ex in make("space"):
        assert ex.prompt == ex.completion.replace(" ", "")


def test_typo(make):
    for ex in make("typo"):
        src, out = ex.completion, ex.prompt
        assert len(src) == len(out)
        n_valid = sum(c.isalnum() for c in src)
        changed = [(a, b) for a, b in zip(src, out, strict=True) if a != b]
        assert len(changed) <= max(1, round(n_valid * 0.08))
        for a, b in changed:
            assert a.isalnum()
            assert b in (string.ascii_uppercase if a.isupper() else string.ascii_lowercase)


def test_last(make):
    for ex in make("last"):
        lines = ex.prompt.split("\n")
        assert ex.completion in lines[-2:]
        assert any(m in ex.prompt for m in MASKS)


def test_masked_word(make):
    for ex in make("masked_word"):
        words, masked = ex.completion.split(), ex.prompt.split()
        assert len(words) == len(masked)
        changed = [(a, b) for a, b in zip(words, masked, strict=True) if a != b]
        k = round(0.15 * len(words))
        already = sum(w in MASKS for w in words)
        assert k - already <= len(changed) <= k
        assert all(b in MASKS for _, b in changed)


def test_random_word(make):
    for ex in make("random_word"):
        words, out = ex.completion.split(), ex.prompt.split()
        assert ex.completion == " ".join(words)
        assert len(words) == len(out)
        changed = [(a, b) for a, b in zip(words, out, strict=True) if a != b]
        # A replacement can equal the original word, so fewer changes than draws are possible.
        assert len(changed) <= max(1, round(len(words) * 0.10))
        for a, b in changed:
            assert b == (b.capitalize() if a[0].isupper() else b.lower())
            assert b.lower() in LOWER_RANDOM_WORDS


def test_shuffle(make):
    for ex in make("shuffle"):
        words, out = ex.completion.split(), ex.prompt.split()
        assert Counter(words) == Counter(out)
        moved = sum(a != b for a, b in zip(words, out, strict=True))
        assert moved <= 2 * max(1, round(len(words) * 0.10))


def count_oracle(chunk: str) -> dict[str, int]:
    tokens = chunk.split()
    return {
        "content": sum(t.isalnum() and t.lower() not in STOP for t in tokens),
        "stop": sum(t.lower() in STOP for t in tokens),
        "digits": sum(c.isdigit() for c in chunk),
        "punctuation": sum(c in string.punctuation for c in chunk),
    }


def test_token_type(make):
    kinds = Counter()
    for ex in make("token_type"):
        instruction, chunk = split_instruction(ex.prompt)
        counts = count_oracle(chunk)
        matching = [k for k, v in counts.items() if v == int(ex.completion)]
        assert matching, (instruction, ex.completion, counts)
        kinds.update(matching)
    assert len(kinds) == 4


def test_deletion(make):
    for ex in make("deletion"):
        assert len(ex.prompt) > len(ex.completion)
        assert not Counter(ex.completion.split()) - Counter(ex.prompt.split())


def test_reordering(make):
    for ex in make("reordering"):
        assert len(ex.prompt) == len(ex.completion)
        assert Counter(ex.prompt.split()) == Counter(ex.completion.split())


def test_fill_middle(make):
    labels = [
        ("[1] ", "[3] "), ("[A] ", "[C] "), ("[a] ", "[c] "), ("[i] ", "[iii] "),
        ("[First] ", "[Third] "), ("[Opening] ", "[Closing] "), ("1. ", "3. "), ("A. ", "C. "),
        ("a. ", "c. "), ("i. ", "iii. "), ("1: ", "3: "), ("A: ", "C: "), ("a: ", "c: "),
        ("i: ", "iii: "), ("First: ", "Third: "), ("Opening: ", "Closing: "), ("(1) ", "(3) "),
        ("(A) ", "(C) "), ("(a) ", "(c) "), ("(i) ", "(iii) "), ("1) ", "3) "), ("A) ", "C) "),
        ("a) ", "c) "), ("i) ", "iii) "),
    ]  # fmt: skip
    for ex in make("fill_middle"):
        first, third = ex.prompt.split("\n")
        for l1, l3 in [("", ""), *labels]:
            if first.startswith(l1) and third.startswith(l3):
                a, c = first[len(l1) :], third[len(l3) :]
                t = len(a.split(" "))
                if len(ex.completion.split(" ")) == t and len(c.split(" ")) >= t:
                    break
        else:
            pytest.fail(f"not a thirds split: {ex.prompt[:80]!r}")
        assert all(len(p.split()) >= 20 for p in (a, ex.completion, c))


def test_half(make):
    for ex in make("half"):
        assert ex.completion.startswith(" ")
        n_first, n_second = len(ex.prompt.split()), len(ex.completion.split())
        assert n_second - n_first in (0, 1)


def test_one(make):
    for ex in make("one"):
        assert ex.prompt == ex.completion.split(" ")[0]
        assert len(ex.completion.split()) >= 20
