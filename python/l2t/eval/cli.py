"""``l2t eval``: BLiMP, acquisition curves, side-by-side tables and held-out perplexity.

Wired into the ``l2t`` command by :func:`add_parser`; torch and the models load only when a
subcommand runs, so ``l2t --help`` stays fast and works without torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _paradigms(values: list[str] | None) -> list[str] | None:
    """``--paradigms a b`` or ``--paradigms a,b`` (repeatable) as one list."""
    if not values:
        return None
    return [p for v in values for p in v.split(",") if p]


def _scoring(args: argparse.Namespace) -> dict[str, Any]:
    """The options `_add_scoring_options` adds, as keyword arguments."""
    return {"batch_size": args.batch_size, "device": args.device, "bf16": args.bf16}


def _blimp_scoring(args: argparse.Namespace) -> dict[str, Any]:
    """The options `_add_blimp_options` adds (but the data), as keyword arguments."""
    return {"paradigms": _paradigms(args.paradigms), "limit": args.limit, **_scoring(args)}


def _blimp(args: argparse.Namespace) -> int:
    from l2t.eval.minimal_pairs import blimp

    report = blimp(
        args.model,
        args.tokenizer,
        args.data,
        name=args.name,
        progress=None,
        **_blimp_scoring(args),
    )
    if args.out:
        for path in report.save(args.out, pairs=args.save_pairs):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report.to_markdown())
    return 0


def _curve(args: argparse.Namespace) -> int:
    from l2t.eval.curve import acquisition_curve

    curve = acquisition_curve(
        args.runs,
        args.data,
        args.out,
        labels=args.labels,
        source=args.source,
        progress=None,
        **_blimp_scoring(args),
    )
    for run in curve["runs"]:
        last = run["points"][-1]
        print(
            f"{run['label']}: {len(run['points'])} points, last at step {last['step']} "
            f"({last.get('tokens') or 0:,} tokens): BLiMP {100 * last['overall']:.1f}"
        )
    print(f"wrote {Path(args.out) / 'curve.json'} and the plots beside it", file=sys.stderr)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from l2t.eval.report import compare_table

    table = compare_table(args.reports, args.names, paradigms=args.all_paradigms)
    if args.out:
        Path(args.out).write_text(table, encoding="utf-8")
    print(table, end="")
    return 0


def _perplexity(args: argparse.Namespace) -> int:
    from l2t.eval.heldout import perplexity

    result = perplexity(
        args.model,
        args.tokenizer,
        args.text,
        seq_len=args.seq_len,
        text_field=args.text_field,
        **_scoring(args),
    )
    print(json.dumps(result, indent=1))
    return 0


def _add_scoring_options(p: argparse.ArgumentParser, batch_size: int) -> None:
    p.add_argument("--batch-size", type=int, default=batch_size, help="sequences per forward pass")
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: CUDA if present)")
    precision = p.add_mutually_exclusive_group()
    precision.add_argument(
        "--bf16", dest="bf16", action="store_true", default=None, help="bfloat16 (GPU default)"
    )
    precision.add_argument("--fp32", dest="bf16", action="store_false", help="float32 throughout")


def _add_blimp_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="BLiMP's directory of jsonl files, or 'hf'")
    p.add_argument(
        "--paradigms", nargs="+", metavar="UID", help="only these paradigms (names or a,b,c)"
    )
    p.add_argument("--limit", type=int, help="the first N pairs of each paradigm (default: all)")
    _add_scoring_options(p, batch_size=64)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the ``eval`` command and its subcommands to the ``l2t`` command's subparsers."""
    p = sub.add_parser("eval", help="evaluate models: BLiMP, acquisition curves, perplexity")
    commands = p.add_subparsers(dest="eval_command", required=True)

    q = commands.add_parser(
        "blimp",
        help="BLiMP accuracy, scored as lm-evaluation-harness scores it",
        description="BLiMP accuracy (overall, per field, phenomenon and paradigm) of an l2t "
        "run or checkpoint, a Hugging Face model directory or name, or a GGUF file.",
    )
    q.add_argument("--model", required=True, help="run dir, step-* dir, HF dir or name, .gguf")
    q.add_argument("--tokenizer", help="tokenizer (default: the one that comes with the model)")
    _add_blimp_options(q)
    q.add_argument("--name", help="the model's name in the report")
    q.add_argument("--out", help="write blimp.json and blimp.md into this directory")
    q.add_argument("--save-pairs", action="store_true", help="also blimp-pairs.jsonl (per pair)")
    q.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    q.set_defaults(run=_blimp)

    q = commands.add_parser(
        "curve",
        help="BLiMP over every checkpoint of runs, plotted against training tokens",
    )
    q.add_argument("runs", nargs="+", help="run directories (overlaid in the plots)")
    _add_blimp_options(q)
    q.add_argument("--out", required=True, help="directory for curve.json and the PNGs")
    q.add_argument("--labels", nargs="+", help="legend label per run (default: run names)")
    q.add_argument(
        "--source",
        choices=["checkpoints", "metrics"],
        default="checkpoints",
        help="score the checkpoints, or plot the trainer's BLiMP records in metrics.jsonl",
    )
    q.set_defaults(run=_curve)

    q = commands.add_parser("compare", help="a side-by-side Markdown table of saved BLiMP reports")
    q.add_argument("reports", nargs="+", help="blimp.json files (or directories holding one)")
    q.add_argument("--names", nargs="+", help="column headings (default: the models)")
    q.add_argument("--all-paradigms", action="store_true", help="a row per paradigm too")
    q.add_argument("--out", help="also write the table to this file")
    q.set_defaults(run=_compare)

    q = commands.add_parser("perplexity", help="loss, perplexity and bits/byte on held-out text")
    q.add_argument("--model", required=True, help="run dir, step-* dir, HF dir or name, .gguf")
    q.add_argument("--tokenizer", help="tokenizer (default: the one that comes with the model)")
    q.add_argument("--text", required=True, help="a text file, or .jsonl with a text field")
    q.add_argument("--text-field", default="text", help="the text field of .jsonl rows")
    q.add_argument("--seq-len", type=int, default=1024, help="predicted tokens per window")
    _add_scoring_options(q, batch_size=8)
    q.set_defaults(run=_perplexity)
