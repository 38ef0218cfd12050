"""Bad input: a typed error naming the problem, or a counted skip; never a panic or silent drop."""

from __future__ import annotations

import pytest

import l2t


@pytest.fixture(scope="module")
def engine(fixture_tokenizer):
    return l2t.Engine(fixture_tokenizer, profile="paper", seed=0)


def test_empty_and_whitespace_documents_are_counted(engine, fixture_docs):
    docs = ["", "   \n\t ", fixture_docs[0], "\u3000\u00a0"]
    examples, stats = engine.examples_with_stats(docs)
    assert stats["documents"] == 4
    assert stats["empty_documents"] == 3
    assert {e.doc for e in examples} <= {2}
    batch = engine.generate(["", " "])
    assert batch.num_rows == 0
    assert batch.stats["empty_documents"] == 2


def test_document_without_sentence_end(engine):
    doc = " ".join(["word"] * 300)  # no terminal punctuation at all
    for task in ("half", "typo", "reordering", "fill_middle"):
        examples = engine.examples([doc], task=task)
        for ex in examples:
            assert ex.ids.size > 0


def test_short_chunks_are_filtered_and_counted(engine):
    examples, stats = engine.examples_with_stats(["Too short. Really."], task="shuffle")
    assert examples == []
    shuffle = dict(stats["tasks"])["shuffle"]
    assert shuffle["chunks_filtered"] == 1
    assert shuffle["examples"] == 0


def test_any_script_and_control_characters(engine):
    docs = [
        "日本語の文章です。これは二番目の文です。" * 20,
        "هذه جملة عربية. وهذه جملة أخرى طويلة بما يكفي. " * 10,
        "Emoji 😀 text 👩‍👩‍👧 with flags 🇫🇷 and more words here. " * 10,
        "Control \x00\x01\x07\x1b chars\x0b and\x0c forms \x1c\x1d\x1e\x1f here. " * 10,
        "Zero\u200bwidth and com\u0301bining ma\u0308rks and \ufeffBOM. " * 10,
    ]
    for task in [t.name for t in l2t.tasks()]:
        for ex in engine.examples(docs, task=task):
            assert ex.ids.size > 0


def test_lone_surrogate_is_a_typed_error_naming_the_document(engine):
    with pytest.raises(l2t.InputError, match="document 1"):
        engine.examples(["fine", "bad \ud800 text"])


def test_non_string_document_is_a_typed_error(engine):
    with pytest.raises(l2t.InputError, match="document 2 is a int"):
        engine.examples(["a", "b", 3])
    with pytest.raises(l2t.InputError, match="bytes"):
        engine.generate([b"bytes are not text"])


def test_ids_outside_the_vocabulary(fixture_tokenizer):
    tok = l2t.Tokenizer(fixture_tokenizer)
    with pytest.raises(l2t.VocabError, match=str(tok.vocab_size + 5)):
        tok.decode([1, 2, tok.vocab_size + 5])
    assert isinstance(tok.decode([100, 200]), str)


def test_unparsable_tokenizer(tmp_path):
    with pytest.raises(l2t.TokenizerError):
        l2t.Tokenizer('{"not": "a tokenizer"}')
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{ truncated")
    with pytest.raises(l2t.TokenizerError):
        l2t.Engine(bad)
    with pytest.raises(l2t.TokenizerError, match=r"missing\.json"):
        l2t.Engine(tmp_path / "missing.json")
    with pytest.raises(TypeError):
        l2t.Engine(12345)


def test_bad_configuration(fixture_tokenizer):
    with pytest.raises(l2t.ConfigError, match="unknown option"):
        l2t.Engine(fixture_tokenizer, seq_lenght=10)
    with pytest.raises(l2t.ConfigError, match="raw_ratio"):
        l2t.Engine(fixture_tokenizer, raw_ratio=1.5)
    with pytest.raises(l2t.ConfigError, match="unknown task"):
        l2t.Engine(fixture_tokenizer).examples(["x"], task="nonsense")
    with pytest.raises(l2t.ConfigError, match="profile"):
        l2t.Engine(fixture_tokenizer, profile="fast")
    with pytest.raises(l2t.ConfigError, match="task weight"):
        l2t.Engine(fixture_tokenizer, task_weights={"half": -1})


def test_errors_share_one_base():
    for exc in (l2t.ConfigError, l2t.TokenizerError, l2t.InputError, l2t.VocabError):
        assert issubclass(exc, l2t.L2TError)
    assert issubclass(l2t.VocabError, l2t.InputError)


@pytest.mark.slow
def test_fifty_megabyte_document(engine):
    sentence = "This is one sentence of a very long document, and it goes on. "
    doc = sentence * (50_000_000 // len(sentence))
    examples, stats = engine.examples_with_stats([doc], task="half")
    assert stats["documents"] == 1
    assert len(examples) > 1000  # cut into many chunks by the token budget
    assert all(len(e.ids) <= 2048 for e in examples)
