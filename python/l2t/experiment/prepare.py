"""The experiment's documents: books cut into documents, whole books held out for validation.

Validation text must not share a book with training text (a novel's names and style would leak),
so the split is by book, then each side is cut into documents of whole paragraphs. The held-out
books are a seeded sample of the sorted file names and the training documents are shuffled once
with the same fixed seed: the same files for every arm and every seed of one experiment.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from l2t._l2t import ConfigError
from l2t.corpus import documents_from_text

# The held-out books are drawn with this seed (not the training seeds): every seed of an
# experiment must validate on the same text.
SPLIT_SEED = 0
TRAIN_FILE = "train.jsonl"
VAL_FILE = "val.jsonl"


@dataclass(frozen=True)
class Prepared:
    """Where the prepared documents are, and how much text each side has."""

    train: Path
    val: Path
    train_books: list[str]
    val_books: list[str]
    train_docs: int
    val_docs: int
    train_bytes: int

    def summary(self) -> dict[str, Any]:
        """What a report says of the split: counts, and which books were held out."""
        return {
            "train_books": len(self.train_books),
            "val_books": self.val_books,
            "train_docs": self.train_docs,
            "val_docs": self.val_docs,
            "train_bytes": self.train_bytes,
        }


def _write_docs(path: Path, docs: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")
    tmp.replace(path)  # a reader never sees half a file


def split_books(
    books_dir: str | Path,
    out_dir: str | Path,
    *,
    holdout: int,
    doc_chars: int = 4000,
    max_train_bytes: int | None = None,
) -> Prepared:
    """Writes ``train.jsonl`` and ``val.jsonl`` documents from a directory of ``.txt`` books.

    Args:
        books_dir: plain-text books, one per file (a BOM and CRLF line ends are fine).
        out_dir: where the two files go.
        holdout: how many books to hold out for validation.
        doc_chars: about how many characters per document (whole paragraphs).
        max_train_bytes: about this many UTF-8 bytes of training documents (the same leading
            share of every training book); None: all.

    Raises:
        ConfigError: when there are not enough books for the split.

    """
    books = sorted(Path(books_dir).glob("*.txt"))
    if len(books) <= holdout or holdout < 1:
        raise ConfigError(
            f"{books_dir}: {len(books)} .txt books cannot hold out {holdout} and keep one"
        )
    rng = random.Random(SPLIT_SEED)
    val_books = set(rng.sample(range(len(books)), holdout))
    # Each training book's documents with their UTF-8 sizes, measured once.
    per_book: list[list[tuple[str, int]]] = []
    val: list[str] = []
    for i, book in enumerate(books):
        docs = list(documents_from_text(book.read_text(encoding="utf-8"), target_chars=doc_chars))
        if i in val_books:
            val.extend(docs)
        else:
            per_book.append([(d, len(d.encode("utf-8"))) for d in docs])
    total = sum(n for docs in per_book for _, n in docs)
    # A budget takes the same leading share of every book, not the first books whole: the
    # sorted names would otherwise pick authors by the alphabet.
    share = 1.0 if max_train_bytes is None else min(1.0, max_train_bytes / max(total, 1))
    train: list[str] = []
    size = 0
    for docs in per_book:
        budget = share * sum(n for _, n in docs)
        taken = 0
        for doc, n in docs:
            if taken >= budget:
                break
            train.append(doc)
            taken += n
        size += taken
    # One seeded shuffle, the same for every arm and seed: the stream reads documents in file
    # order, and book after book would make the curves follow the authors.
    rng.shuffle(train)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_docs(out / TRAIN_FILE, train)
    _write_docs(out / VAL_FILE, val)
    return Prepared(
        train=out / TRAIN_FILE,
        val=out / VAL_FILE,
        train_books=[b.name for i, b in enumerate(books) if i not in val_books],
        val_books=[b.name for i, b in enumerate(books) if i in val_books],
        train_docs=len(train),
        val_docs=len(val),
        train_bytes=size,
    )
