"""Small document helpers shared by the CLI and the demo: cutting text into documents.

The embedded default corpus is the English documentation that ships with every CPython
(``pydoc_data.topics``): real prose with code, present everywhere, no download.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path


def _units(text: str, target_chars: int) -> Iterator[str]:
    """Paragraphs (blank-line separated), or the lines of one too long to be a document piece.

    Some books put one paragraph per line with no blank line between them: a whole book would
    otherwise be one "paragraph", and one document.
    """
    for para in text.split("\n\n"):
        para = para.strip("\n")
        if not para.strip():
            continue
        if len(para) <= target_chars:
            yield para
        else:
            yield from (line for line in para.split("\n") if line.strip())


def documents_from_text(text: str, *, target_chars: int = 4000) -> Iterator[str]:
    """Cuts text into documents of whole paragraphs of ~`target_chars` characters.

    Paragraphs are blank-line separated; one longer than `target_chars` is cut at its line
    ends. A document ends at the first paragraph (or line) that takes it past the target.
    """
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    buf: list[str] = []
    size = 0
    for unit in _units(text, target_chars):
        buf.append(unit)
        size += len(unit)
        if size >= target_chars:
            yield "\n".join(buf)
            buf, size = [], 0
    if buf:
        yield "\n".join(buf)


def documents_from_file(path: str | Path, *, text_field: str = "text") -> list[str]:
    """Documents of a ``.jsonl`` file (one JSON object per line) or of a plain-text file."""
    path = Path(path)
    if path.suffix in (".jsonl", ".json"):
        docs = []
        with path.open(encoding="utf-8") as f:
            for row, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    docs.append(json.loads(line)[text_field])
                except (json.JSONDecodeError, KeyError, TypeError) as e:
                    from l2t import InputError

                    raise InputError(f"{path}, line {row}: no {text_field!r} string: {e}") from e
        return docs
    return list(documents_from_text(path.read_text(encoding="utf-8")))


def pydoc_documents() -> list[str]:
    """The embedded default corpus: CPython's pydoc topics, cut into ~4 KB documents."""
    from pydoc_data.topics import topics

    out: list[str] = []
    for name in sorted(topics):
        out.extend(documents_from_text(topics[name]))
    return out


def train_demo_tokenizer(docs: Iterable[str], vocab_size: int = 8000) -> str:
    """A byte-level BPE tokenizer trained on `docs` on the spot; returns its JSON."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(docs, trainer=trainer)
    return str(tok.to_str())
