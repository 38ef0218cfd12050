"""The ``l2t`` command: generate, inspect, merge, train, export, eval, experiment, preview, ..."""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import l2t
from l2t.corpus import documents_from_file, pydoc_documents, train_demo_tokenizer
from l2t.drops import DroppedExamplesWarning
from l2t.eval.cli import add_parser as _add_eval
from l2t.generate import Layout, generate
from l2t.output_dir import merge_directory
from l2t.summary import load_manifest, render, verify


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


def _option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with a JSON value (bare words are strings)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _generate(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = dict(args.option or [])
    if args.seq_len is not None:
        overrides["seq_len"] = args.seq_len
    if args.shared:
        overrides["mixing"] = "shared"
    elif args.l2t_only:
        overrides["raw_ratio"] = 0.0
    elif args.raw_ratio is not None:
        overrides["raw_ratio"] = args.raw_ratio
    if args.mix_by is not None:
        overrides["mix_by"] = args.mix_by
    if args.task_weights is not None:
        try:
            overrides["task_weights"] = json.loads(args.task_weights)
        except ValueError as e:
            raise l2t.ConfigError(f"--task-weights is not a JSON object: {e}") from e
    tasks = None
    if args.tasks is not None:
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        if not tasks:
            raise l2t.ConfigError("--tasks names no task; leave it out to use all 14")
    if not (math.isfinite(args.batch_mb) and args.batch_mb > 0):
        raise l2t.ConfigError(f"--batch-mb must be a positive number, not {args.batch_mb}")
    t0 = time.perf_counter()
    result = generate(
        args.inputs,
        tokenizer=args.tokenizer,
        output=args.output,
        profile=args.profile,
        seed=args.seed,
        format=args.format,
        tasks=tasks,
        shard_index=args.shard_index,
        num_shards=args.num_shards,
        max_docs=args.max_docs,
        text_field=args.text_field,
        text_split=args.text_split,
        input_format=args.input_format,
        on_error=args.on_error,
        overwrite=args.overwrite,
        threads=args.threads,
        progress=False if args.quiet else None,
        layout=Layout(args.shard_docs, args.batch_docs, int(args.batch_mb * (1 << 20))),
        **overrides,
    )
    dt = time.perf_counter() - t0
    t = result["totals"]
    mb = sum(i.get("bytes", 0) for i in result["inputs"]) / 1e6
    tokens = t["l2t_tokens"] + t["raw_tokens"]
    print(
        f"{args.output}: {t['parts']} parts, {t['rows']:,} rows, {tokens:,}"
        f" tokens (L2T share {t['l2t_token_share']:.1%}, fill {t['fill_rate']:.2%}), "
        f"{t['skipped_rows']:,} rows skipped; {dt:.1f} s, {mb / dt:.2f} MB/s of input"
    )
    return 0


def _inspect(args: argparse.Namespace) -> int:
    print(render(args.directory, rows=args.rows, width=args.width))
    if not args.verify:
        return 0
    problems = verify(args.directory)
    for p in problems:
        print(f"l2t: part differs from the manifest: {p.file}: {p.problem}", file=sys.stderr)
    parts = load_manifest(args.directory)["totals"]["parts"]
    print(f"verify: {parts - len(problems)} of {parts} parts as the manifest says")
    return 1 if problems else 0


def _merge(args: argparse.Namespace) -> int:
    m = merge_directory(Path(args.directory))
    print(f"{args.directory}: manifest of {m['totals']['parts']} parts written")
    return 0


def _train(args: argparse.Namespace) -> int:
    # torch is needed from here on
    from l2t.train.distributed import is_main_process, shutdown
    from l2t.train.trainer import TrainConfig, train

    cfg = TrainConfig.from_file(args.config, **dict(args.set or []))
    metrics = train(cfg)
    shutdown()
    steps = [m for m in metrics if "loss" in m]  # evaluation records have no training loss
    if steps and is_main_process():
        last = steps[-1]
        print(f"{cfg.run_dir}: step {last['step']}, loss {last['loss']:.4f}, "
              f"{last['tokens_per_s']:,.0f} tokens/s")  # fmt: skip
    return 0


def _export(args: argparse.Namespace) -> int:
    from l2t.train.trainer import export_checkpoint

    out = export_checkpoint(
        args.checkpoint, args.output, tokenizer=args.tokenizer, architecture=args.architecture
    )
    print(f"wrote {out} (load with transformers.AutoModelForCausalLM.from_pretrained)")
    return 0


def _add_settings_options(p: argparse.ArgumentParser, file_help: str, noun: str) -> None:
    """``--config FILE`` and repeatable ``--set KEY=VALUE`` overrides of its fields."""
    p.add_argument("--config", required=True, help=file_help)
    p.add_argument(
        "--set", action="append", type=_option, metavar="KEY=VALUE",
        help=f"override a {noun} field (JSON value); repeatable",
    )  # fmt: skip


def _add_train(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "train",
        help="pre-train a Qwen2-style model on L2T data (needs torch; data-parallel under "
        "torchrun: torchrun --nproc-per-node N -m l2t.cli train ...)",
    )
    _add_settings_options(p, "a JSON or YAML file of TrainConfig fields", "config")
    p.set_defaults(run=_train)

    p = sub.add_parser("export", help="a training checkpoint as a Hugging Face model directory")
    p.add_argument("checkpoint", help="a run directory (newest checkpoint) or a step-* directory")
    p.add_argument("output", help="the directory to write")
    p.add_argument("--tokenizer", help="tokenizer to include (default: the run's)")
    p.add_argument(
        "--architecture", choices=["llama", "qwen2"], default="llama",
        help="write LlamaForCausalLM (default: transformers 5's AutoTokenizer keeps the "
        "training tokenizer) or Qwen2ForCausalLM (the same network)",
    )  # fmt: skip
    p.set_defaults(run=_export)


def _experiment(args: argparse.Namespace) -> int:
    from l2t.experiment import ExperimentConfig, compare

    cfg = ExperimentConfig.from_file(args.config, **dict(args.set or []))
    report = compare(cfg, command=shlex.join(["l2t", *sys.argv[1:]]))
    print(report.read_text(encoding="utf-8"))
    print(f"wrote {report} and the plots and JSON beside it")
    return 0


def _add_experiment(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("experiment", help="end-to-end comparisons (train arms, score BLiMP)")
    kinds = p.add_subparsers(dest="kind", required=True)
    c = kinds.add_parser(
        "compare",
        help="raw vs L2T arms on the same documents and token budget; a report with plots",
    )
    _add_settings_options(c, "a recipe (JSON or YAML), e.g. recipes/", "recipe")
    c.set_defaults(run=_experiment)


def _add_generate(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "generate",
        help="corpus -> L2T training data (parts + manifest), resumable and shardable",
        description="Turn a corpus into packed L2T training data. Rerun the same command to "
        "resume after a crash; run with --shard-index i --num-shards N on N machines to split "
        "the work (their union equals one machine's output).",
    )
    p.add_argument("inputs", nargs="+", help="files, directories or globs (Parquet, JSONL, text)")
    p.add_argument("--tokenizer", required=True, help="tokenizer.json or its directory")
    p.add_argument("--output", "-o", required=True, help="output directory")
    p.add_argument("--profile", choices=["paper", "default"], default="default", help=PROFILE_HELP)
    p.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    p.add_argument("--threads", type=int, help="engine threads (default: all cores)")
    p.add_argument("--seq-len", type=int, help="packed row length (default 2048)")
    mix = p.add_mutually_exclusive_group()
    mix.add_argument("--raw-ratio", type=float, help="share of raw text (disjoint mixing)")
    mix.add_argument("--shared", action="store_true", help="every document both raw and L2T")
    mix.add_argument("--l2t-only", action="store_true", help="no raw text (the default)")
    p.add_argument("--mix-by", choices=["documents", "tokens"], help="what --raw-ratio counts")
    tasks = p.add_mutually_exclusive_group()
    tasks.add_argument("--tasks", help="comma-separated task names (equal weights)")
    tasks.add_argument("--task-weights", help='JSON object, e.g. \'{"typo": 2, "masked_word": 1}\'')
    p.add_argument(
        "--format", choices=["parquet", "bin", "jsonl"], default="parquet",
        help="parquet: packed rows with example boundaries; bin: packed ids; jsonl: examples",
    )  # fmt: skip
    p.add_argument("--shard-index", type=int, default=0, help="this run's index (0-based)")
    p.add_argument("--num-shards", type=int, default=1, help="runs sharing the work")
    p.add_argument("--max-docs", type=int, help="only the first N documents")
    p.add_argument("--text-field", default="text", help="text field of JSONL/Parquet rows")
    p.add_argument(
        "--text-split",
        choices=["file", "blank-lines"],
        default="file",
        help="text files: one document each, or blocks between blank lines",
    )
    p.add_argument(
        "--input-format",
        choices=["parquet", "jsonl", "text"],
        help="read the named files as this format, whatever their extension",
    )
    p.add_argument(
        "--on-error", choices=["raise", "skip"], default="raise",
        help="a bad row stops the run naming file and row, or is skipped and recorded",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace another config's data")
    p.add_argument("--shard-docs", type=int, default=Layout.shard_docs, help="documents per part")
    p.add_argument("--batch-docs", type=int, default=Layout.batch_docs, help="documents per batch")
    p.add_argument(
        "--batch-mb", type=float, default=Layout.batch_bytes / (1 << 20),
        help="MB of text that close a batch early (bounds memory on long documents)",
    )  # fmt: skip
    p.add_argument(
        "--option",
        action="append",
        type=_option,
        metavar="KEY=VALUE",
        help="any engine option (e.g. pack_window=16384); repeatable",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    p.set_defaults(run=_generate)

    p = sub.add_parser("inspect", help="summarise a generated dataset")
    p.add_argument("directory", help="an output directory of l2t generate")
    p.add_argument("--rows", type=int, default=2, help="rows to decode")
    p.add_argument("--width", type=int, default=160, help="characters per decoded segment")
    p.add_argument(
        "--verify", action="store_true",
        help="re-read every part against the manifest (size, SHA-256, Parquet page checksums); "
        "exit 1 naming each part that differs",
    )  # fmt: skip
    p.set_defaults(run=_inspect)

    p = sub.add_parser(
        "merge", help="write the manifest of --num-shards runs made apart and copied together"
    )
    p.add_argument("directory", help="the directory the shards' files were copied into")
    p.set_defaults(run=_merge)


PROFILE_HELP = "paper: the reference's behaviour; default: EOS per example, best-fit packing"
SEED_HELP = "keys every random draw: the same seed and input give the same bytes"


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that ends with the option's default, when there is one to show (not None or off)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        flags = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._HelpAction)
        if action.default is None or isinstance(action, flags):  # a flag's help says it all
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Every parser and subparser of the command shows each option's default in its help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


# Optional dependencies, by top-level module, and the extra that installs them.
OPTIONAL_MODULES = {"torch": "train", "transformers": "train", "matplotlib": "train"}


def _show_warning(message: Warning | str, category: type[Warning], *_: object) -> None:
    """Warnings as one line on standard error, like the errors (no source line)."""
    print(f"l2t: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``l2t`` command."""
    parser = _Parser(prog="l2t", description=l2t.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"l2t {l2t.__version__}")
    sub = parser.add_subparsers(dest="command")
    _add_generate(sub)
    _add_train(sub)
    _add_eval(sub)
    _add_experiment(sub)

    p = sub.add_parser("tasks", help="list the 14 tasks")
    p.set_defaults(run=_tasks)

    p = sub.add_parser("preview", help="print examples, one per task by default")
    p.add_argument("file", nargs="?", help=".jsonl (field 'text') or a text file; default: pydoc")
    p.add_argument("--tokenizer", required=True, help="tokenizer.json or its directory")
    p.add_argument("--task", help="only this task (l2t name or reference alias)")
    p.add_argument("--profile", choices=["paper", "default"], default="default", help=PROFILE_HELP)
    p.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    p.add_argument("--max-docs", type=int, default=200, help="documents searched per task")
    p.add_argument("--max-chars", type=int, default=0, help="elide longer texts (0: show all)")
    p.set_defaults(run=_preview)

    p = sub.add_parser("demo", help="end to end on an embedded corpus, no downloads")
    p.add_argument("--profile", choices=["paper", "default"], default="paper", help=PROFILE_HELP)
    p.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    p.set_defaults(run=_demo)

    args = parser.parse_args(argv)
    if args.command is None:  # bare `l2t`: what it can do, not an error
        parser.print_help()
        return 0
    warnings.simplefilter("always", DroppedExamplesWarning)
    warnings.showwarning = _show_warning
    try:
        return int(args.run(args))
    except l2t.L2TError as e:
        print(f"l2t: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        extra = OPTIONAL_MODULES.get((e.name or "").partition(".")[0])
        if extra is None:
            raise
        print(
            f"l2t: error: `l2t {args.command}` needs {e.name}, which is not installed: "
            f"pip install 'l2t[{extra}]'",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
