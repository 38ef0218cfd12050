#!/usr/bin/env python3
"""Agreement of the native sentence splitter with the L2T reference splitter.

The reference is ``blingfire.text_to_sentences(doc)`` (blingfire 0.1.8) followed by
``[s for s in out.split("\\n") if s.strip() != ""]``. The native splitter is
``l2t._l2t.split_sentences`` (``rust/l2t-core/src/text/sentences.rs`` exposed through the
Python bindings). A document counts as identical when both give exactly the same list of
sentences.

Usage:
    python benches/sentence_agreement.py [DOCS_JSONL] [--out RESULT.json] [--show N]
        [--novels CORPUS_DIR [--chunks 2000] [--seed 777]]

DOCS_JSONL defaults to ``../shared/data/reference-samples/docs.jsonl`` relative to the
repository root (one JSON object per line with a ``text`` field). ``--out`` writes
``{"docs": N, "identical": K, "ratio": K / N}``; with ``--novels`` the same figures for the
novel chunks are added under ``"novels"``. ``--novels`` samples random ~4 KB chunks of
consecutive lines from the ``*.txt`` files of a corpus directory (UTF-8 with BOM and CRLF:
the BOM and ``\\r`` are removed, lines are joined with ``\\n``), the way the figures in the
module documentation were measured.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DOCS = REPO_ROOT / ".." / "shared" / "data" / "reference-samples" / "docs.jsonl"


def load_native():
    try:
        from l2t._l2t import split_sentences
    except ImportError as err:
        sys.exit(
            f"cannot import l2t._l2t.split_sentences ({err}).\n"
            "Build and install the Python package first (`make install`, or\n"
            "`maturin develop --release` at the repository root), then rerun this script."
        )
    return split_sentences


def load_reference():
    try:
        import blingfire
    except ImportError as err:
        sys.exit(f"cannot import blingfire ({err}): pip install blingfire==0.1.8")

    def reference(text):
        return [s for s in blingfire.text_to_sentences(text).split("\n") if s.strip() != ""]

    return reference


def read_docs(path):
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def novel_chunks(corpus_dir, count, seed, chunk_chars=4000):
    """Random runs of consecutive lines, about `chunk_chars` characters each."""
    books = []
    for path in sorted(Path(corpus_dir).glob("*.txt")):
        text = path.read_text(encoding="utf-8").lstrip("\ufeff").replace("\r", "")
        books.append(text.split("\n"))
    if not books:
        sys.exit(f"no *.txt files in {corpus_dir}")
    rng = random.Random(seed)
    chunks = []
    while len(chunks) < count:
        lines = rng.choice(books)
        i = rng.randrange(len(lines))
        picked, size = [], 0
        while i < len(lines) and size < chunk_chars:
            picked.append(lines[i])
            size += len(lines[i]) + 1
            i += 1
        chunk = "\n".join(picked)
        if chunk.strip():
            chunks.append(chunk)
    return chunks


def compare(name, docs, native, reference, show):
    identical = 0
    shown = 0
    for index, doc in enumerate(docs):
        got = native(doc)
        want = reference(doc)
        if got == want:
            identical += 1
            continue
        if shown < show:
            shown += 1
            k = 0
            while k < min(len(got), len(want)) and got[k] == want[k]:
                k += 1
            print(f"--- {name} #{index}: first difference at sentence {k}")
            print("  reference:", [s[-80:] for s in want[max(0, k - 1) : k + 2]])
            print("  native:   ", [s[-80:] for s in got[max(0, k - 1) : k + 2]])
    n = len(docs)
    ratio = identical / n if n else 0.0
    print(f"{name}: {identical}/{n} documents identical ({ratio:.2%})")
    return {"docs": n, "identical": identical, "ratio": ratio}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "docs", nargs="?", default=str(DEFAULT_DOCS), help="JSON-lines file with a 'text' field"
    )
    parser.add_argument("--out", help="write the result as JSON to this path")
    parser.add_argument("--show", type=int, default=5, help="print up to N differing documents")
    parser.add_argument("--novels", metavar="CORPUS_DIR", help="also compare novel chunks")
    parser.add_argument("--chunks", type=int, default=2000, help="number of novel chunks")
    parser.add_argument("--seed", type=int, default=777, help="seed for choosing the chunks")
    args = parser.parse_args()

    native = load_native()
    reference = load_reference()

    result = compare(Path(args.docs).name, read_docs(args.docs), native, reference, args.show)
    if args.novels:
        chunks = novel_chunks(args.novels, args.chunks, args.seed)
        result["novels"] = compare("novel chunks", chunks, native, reference, args.show)

    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
