"""The ``l2t`` command: ``tasks``, ``preview`` and ``demo`` (more subcommands join as they land)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import l2t
from l2t.corpus import documents_from_file, pydoc_documents, train_demo_tokenizer


def _tasks(_: argparse.Namespace) -> int:
    for t in l2t.tasks():
        print(f"{t.id:>2}  {t.name:<12} {t.granularity:<10} {t.description}  [{t.reference_name}]")
    return 0


def _shorten(text: str, limit: int) -> str:
    """The text with its middle elided past `limit` characters (0: no limit)."""
    if not limit or len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} [... {len(text) - 2 * half} characters ...] {text[-half:]}"


def _print_example(ex: l2t.Example, limit: int) -> None:
    print(f"=== {ex.task} (document {ex.doc}, {len(ex.ids)} ids) ===")
    print(_shorten(ex.text, limit))
    print()


def _one_per_task(
    engine: l2t.Engine, docs: list[str], tasks: Sequence[str], limit: int = 0
) -> None:
    for name in tasks:
        # Documents after the first have a previous document, which Last and Deletion draw on.
        for i in range(1, len(docs)):
            found = engine.examples(docs[i - 1 : i + 1], task=name)
            found = [e for e in found if e.doc == 1]
            if found:
                _print_example(found[0], limit)
                break
        else:
            print(f"=== {name}: no document long enough for an example ===\n")


def _preview(args: argparse.Namespace) -> int:
    docs = documents_from_file(args.file) if args.file else pydoc_documents()
    if not docs:
        print("no documents", file=sys.stderr)
        return 1
    engine = l2t.Engine(args.tokenizer, profile=args.profile, seed=args.seed)
    names = [args.task] if args.task else [t.name for t in l2t.tasks()]
    _one_per_task(engine, docs[: args.max_docs], names, args.max_chars)
    return 0


def _demo(args: argparse.Namespace) -> int:
    docs = pydoc_documents()
    mb = sum(len(d.encode()) for d in docs) / 1e6
    print(f"corpus: CPython's pydoc topics, {len(docs)} documents, {mb:.2f} MB")
    t0 = time.perf_counter()
    tokenizer = train_demo_tokenizer(docs)
    print(f"tokenizer: byte-level BPE, 8000 tokens, trained in {time.perf_counter() - t0:.1f} s\n")
    engine = l2t.Engine(tokenizer, profile=args.profile, seed=args.seed)
    _one_per_task(engine, docs, [t.name for t in l2t.tasks()], limit=600)

    t0 = time.perf_counter()
    batch = engine.generate(docs)
    dt = time.perf_counter() - t0
    shares = batch.stats["tasks"]
    print(f"--- packed ({args.profile} profile, seq_len {batch.seq_len}) ---")
    print(f"rows: {batch.num_rows}, fill rate {batch.fill_rate():.1%}")
    for name, s in shares:
        if s["examples"]:
            print(f"  {name:<12} {s['documents']:>4} docs {s['examples']:>5} examples")
    tokens = int(batch.segment_lengths.sum())
    print(f"throughput (1 thread): {mb / dt:.2f} MB/s of text, {tokens / dt / 1e6:.2f} M tokens/s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``l2t`` command."""
    parser = argparse.ArgumentParser(prog="l2t", description=l2t.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"l2t {l2t.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tasks", help="list the 14 tasks")
    p.set_defaults(run=_tasks)

    p = sub.add_parser("preview", help="print examples, one per task by default")
    p.add_argument("file", nargs="?", help=".jsonl (field 'text') or a text file; default: pydoc")
    p.add_argument("--tokenizer", required=True, help="tokenizer.json or its directory")
    p.add_argument("--task", help="only this task (l2t name or reference alias)")
    p.add_argument("--profile", choices=["paper", "default"], default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-docs", type=int, default=200, help="documents searched per task")
    p.add_argument("--max-chars", type=int, default=0, help="elide longer texts (0: show all)")
    p.set_defaults(run=_preview)

    p = sub.add_parser("demo", help="end to end on an embedded corpus, no downloads")
    p.add_argument("--profile", choices=["paper", "default"], default="paper")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_demo)

    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except l2t.L2TError as e:
        print(f"l2t: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
