"""Shared fixtures: the repository's own fixtures, and the shared data when it is present.

Tests that need ``../shared/data`` (real tokenizers, reference samples, BLiMP, the novels) skip
with the reason when it is absent; the core suite runs on ``tests/fixtures`` alone.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = Path(os.environ.get("L2T_SHARED_DATA", ROOT.parent / "shared" / "data"))
TOKENIZERS = SHARED / "tokenizers"
REFERENCE = SHARED / "reference-samples"
MAX_EXAMPLES = int(os.environ.get("L2T_MAX_EXAMPLES", "40"))

REAL_TOKENIZERS = ("gpt2", "mistral-7b-v0.1", "bert-base-uncased")


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def shared_or_skip(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not present: {path} (set L2T_SHARED_DATA to run this test)")
    return path


@pytest.fixture(scope="session")
def fixture_docs() -> list[str]:
    return [r["text"] for r in read_jsonl(FIXTURES / "docs.jsonl")]


@pytest.fixture(scope="session")
def fixture_tokenizer() -> str:
    return (FIXTURES / "bpe-pydoc-2k.json").read_text(encoding="utf-8")


def hf_tokenizer(name: str):
    """A `tokenizers.Tokenizer` for a shared tokenizer, padding and truncation disabled."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(shared_or_skip(TOKENIZERS / name / "tokenizer.json")))
    tok.no_padding()
    tok.no_truncation()
    return tok


@pytest.fixture(scope="session")
def reference_docs() -> list[str]:
    return [r["text"] for r in read_jsonl(shared_or_skip(REFERENCE / "docs.jsonl"))]


def make_corpus(n_docs: int, seed: int = 0) -> list[str]:
    """Documents of 2 to 12 fixture paragraphs each, recombined reproducibly."""
    paragraphs = [
        line
        for r in read_jsonl(FIXTURES / "docs.jsonl")
        for line in r["text"].split("\n")
        if len(line.split()) >= 4
    ]
    rng = random.Random(seed)
    return ["\n".join(rng.sample(paragraphs, rng.randint(2, 12))) for _ in range(n_docs)]


def write_jsonl(path: Path, docs: list[str], **extra: object) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d, **extra}) + "\n")
    return path
