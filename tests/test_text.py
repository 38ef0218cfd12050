"""The text layer: Python-compatible characters, and the sentence splitter against blingfire."""

from __future__ import annotations

import string
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, read_jsonl
from l2t import _l2t

PUNCT = set(string.punctuation)


def python_flags(cp: int) -> int:
    if 0xD800 <= cp <= 0xDFFF:
        return 0
    c = chr(cp)
    return (
        c.isspace()
        | c.isalnum() << 1
        | c.isalpha() << 2
        | c.isdigit() << 3
        | c.isupper() << 4
        | (c in PUNCT) << 5
    )


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="tables are generated from Python 3.11")
def test_character_classes_match_python_on_every_code_point():
    got = _l2t.char_classes(0, 0x110000)
    mismatches = [cp for cp in range(0x110000) if got[cp] != python_flags(cp)]
    assert not mismatches, [hex(cp) for cp in mismatches[:20]]


EDGE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u200a\u200b\u2028\u2029\u202f\u205f\u3000"
)


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("aAzZ ßİǆΣσςﬁ½²٣Kk\u0301") + list(EDGE))))
def test_string_operations_match_python(s):
    lower, capitalize, words = _l2t.py_string_ops(s)
    assert (lower, capitalize, words) == (s.lower(), s.capitalize(), s.split())


def test_splitter_behaviour():
    split = _l2t.split_sentences
    assert split("") == []
    assert split("   \n  ") == []
    assert split("One line\nand more. Second one!") == ["One line and more.", "Second one!"]
    assert split("Para one.\n\nPara two.") == ["Para one.", "Para two."]
    # Leading whitespace goes; as in blingfire, trailing whitespace stays after an unfinished one.
    assert split("  no end at all  ") == ["no end at all  "]
    assert split("Ends here.  ") == ["Ends here."]
    assert split("Mr. Smith went to Washington. He came back.") == [
        "Mr. Smith went to Washington.",
        "He came back.",
    ]


def blingfire_sentences(text: str) -> list[str]:
    blingfire = pytest.importorskip("blingfire")
    return [s for s in blingfire.text_to_sentences(text).split("\n") if s.strip()]


def agreement(docs: list[str]) -> float:
    same = sum(_l2t.split_sentences(d) == blingfire_sentences(d) for d in docs)
    return same / len(docs)


def test_splitter_agrees_with_blingfire_on_fixture_docs():
    docs = [r["text"] for r in read_jsonl(FIXTURES / "docs.jsonl")]
    assert agreement(docs) >= 0.97


def test_splitter_agrees_with_blingfire_on_reference_docs(reference_docs):
    assert agreement(reference_docs) >= 0.97
