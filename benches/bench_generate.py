"""`l2t generate` benchmark: the CLI on the novels as JSONL, beside a plain HF encode of the text.

The novels of ``../shared/data/english-novels-100`` are cut into ~4 KB documents (whole lines, as
``bench_engine.py`` does) and written once to a temporary ``full.jsonl`` (``{"text": ...}`` a line)
and ``quarter.jsonl`` (its first 25% of documents). Every run is its own subprocess, timed by wall
clock, with its peak RSS and CPU time taken from ``os.wait4`` on that child alone:

- ``hf_encode``: a child that reads ``full.jsonl`` and runs ``tokenizers.Tokenizer.encode`` on
  every document, one thread (the baseline: reading and tokenizing the corpus at all). Besides the
  whole process it reports the time spent inside ``encode`` only;
- ``default_1t`` / ``default_2t``: ``python -m l2t.cli generate full.jsonl --threads 1|2``
  (profile ``default``, Parquet output, ``--overwrite`` into a fresh directory: full work, no
  resume);
- ``paper_2t``: the same with ``--profile paper`` and 2 threads;
- ``quarter_2t`` / ``double_2t``: ``default`` on ``quarter.jsonl`` and on the novels twice over
  (``double.jsonl``) with 2 threads, for peak RSS against input size;
- ``bin_1t`` / ``bin_2t``: ``--format bin`` (no Parquet encoding), for the pipeline's own scaling.

Rounds are interleaved (the order alternates between rounds, the machine's speed drifts). Reported
per run and as the median over rounds: wall seconds, input MB/s, output tokens/s (manifest totals
``l2t_tokens + raw_tokens``), CPU seconds, peak RSS; and the ratios of issue 3's targets: l2t
1-thread MB/s over the HF encode (whole process and encode only; target ≥ 3), 2-thread speed-up
(target ≥ 1.8), peak RSS full over quarter input (target: independent of size, ≤ 1.25 here).
Memory is bounded, not constant: the pipeline holds a few batches (4000 documents, ~16 MB each by
default) and each engine thread's word cache grows up to ~64 MiB, so on 61 MB of novels RSS has
not reached its plateau and the full/quarter ratio exceeds 1 even where memory is bounded.

    python benches/bench_generate.py [--mb 61] [--rounds 2] [--tokenizer mistral-7b-v0.1] [--out F]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"ratio_1t_vs_hf_encode": 3.0, "speedup_2t_vs_1t": 1.8, "rss_full_vs_quarter": 1.25}


def _bench_engine():
    """``benches/bench_engine.py`` as a module (for ``novel_documents`` and ``SHARED``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_engine

    return bench_engine


def encode_worker(jsonl: str, tokenizer: str) -> int:
    """The baseline child: reads the JSONL and encodes every document, printing its timings."""
    t0 = time.perf_counter()
    import tokenizers

    hf = tokenizers.Tokenizer.from_file(tokenizer)
    hf.no_padding()
    hf.no_truncation()
    t_load = time.perf_counter() - t0
    encode = 0.0
    tokens = docs = 0
    with Path(jsonl).open(encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["text"]
            t = time.perf_counter()
            # Count, don't keep: millions of live Python ints would slow the loop through GC.
            tokens += len(hf.encode(text).ids)
            encode += time.perf_counter() - t
            docs += 1
    total = time.perf_counter() - t0
    print(json.dumps({"load_s": t_load, "encode_s": encode, "total_s": total,
                      "documents": docs, "tokens": tokens}))  # fmt: skip
    return 0


def run_child(cmd: list[str], cwd: Path, log: Path) -> dict:
    """Runs `cmd`, returning wall and CPU seconds, peak RSS (MB) and its standard output."""
    with log.open("w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        # wait4 reaps exactly this child and gives its own rusage (ru_maxrss: KiB on Linux),
        # so no measurement carries over from another run.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{text[-3000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "stdout": text,
    }


def write_jsonl(path: Path, docs: list[str]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--encode-worker":
        return encode_worker(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=None, help="input size cap in MB (all: ~61)")
    parser.add_argument("--tokenizer", default="mistral-7b-v0.1")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repetitions")
    parser.add_argument("--out", default=str(ROOT / "benches" / "results" / "generate.json"))
    args = parser.parse_args()

    bench_engine = _bench_engine()
    shared = bench_engine.SHARED
    tok_path = shared / "tokenizers" / args.tokenizer / "tokenizer.json"
    if not tok_path.exists() or not (shared / "english-novels-100").exists():
        print(f"shared data not found under {shared}; set L2T_SHARED_DATA", file=sys.stderr)
        return 1
    import tokenizers

    import l2t

    docs = bench_engine.novel_documents(10**15 if args.mb is None else int(args.mb * 1e6))
    quarter = docs[: len(docs) // 4]
    sizes = {
        "full": sum(len(d.encode()) for d in docs) / 1e6,
        "quarter": sum(len(d.encode()) for d in quarter) / 1e6,
    }
    tmp = Path(tempfile.mkdtemp(prefix="l2t-bench-generate-"))
    try:
        inputs = {
            "full": tmp / "full.jsonl",
            "quarter": tmp / "quarter.jsonl",
            "double": tmp / "double.jsonl",
        }
        write_jsonl(inputs["full"], docs)
        write_jsonl(inputs["quarter"], quarter)
        # The novels twice: memory must not grow with the input once the caches are full.
        write_jsonl(inputs["double"], docs + docs)
        n_docs = {"full": len(docs), "quarter": len(quarter), "double": 2 * len(docs)}
        sizes["double"] = 2 * sizes["full"]
        del docs, quarter
        print(f"{n_docs['full']} documents, {sizes['full']:.1f} MB of text "
              f"({inputs['full'].stat().st_size / 1e6:.1f} MB JSONL); quarter: "
              f"{n_docs['quarter']} documents, {sizes['quarter']:.1f} MB; "
              f"tokenizer {args.tokenizer}", flush=True)  # fmt: skip
        report = run_rounds(args, tmp, inputs, sizes, tok_path)
        report["input"] = {
            "documents": n_docs,
            "text_mb": sizes,
            "jsonl_mb": {k: p.stat().st_size / 1e6 for k, p in inputs.items()},
            "tokenizer": args.tokenizer,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    import pyarrow

    report = {
        "benchmark": "l2t_generate_cli",
        "input": report.pop("input"),
        "method": (
            f"{args.rounds} interleaved rounds (order alternating); each run a fresh subprocess "
            "timed by wall clock, peak RSS and CPU from os.wait4 on that child; medians over "
            "rounds"
        ),
        "machine": _bench_engine().machine_info(
            l2t=l2t.__version__, tokenizers=tokenizers.__version__, pyarrow=pyarrow.__version__
        ),
        "targets": TARGETS,
        **report,
    }
    out = Path(args.out)
    _bench_engine().write_report(out, report)
    print(f"wrote {out}")
    return 0


def run_rounds(args, tmp: Path, inputs: dict, sizes: dict, tok_path: Path) -> dict:
    """Runs the interleaved rounds and returns commands, per-round results and medians."""
    py = sys.executable
    l2t_cmd = [py, "-m", "l2t.cli", "generate"]
    configs: dict[str, tuple[str, list[str]]] = {
        "hf_encode": ("full", [py, str(Path(__file__).resolve()), "--encode-worker",
                               str(inputs["full"]), str(tok_path)]),
    }  # fmt: skip
    for name, inp, profile, threads in [
        ("default_1t", "full", "default", 1),
        ("default_2t", "full", "default", 2),
        ("paper_2t", "full", "paper", 2),
        ("quarter_2t", "quarter", "default", 2),
        ("double_2t", "double", "default", 2),
        ("bin_1t", "full", "default", 1),
        ("bin_2t", "full", "default", 2),
    ]:
        configs[name] = (inp, [*l2t_cmd, str(inputs[inp]), "--tokenizer", str(tok_path),
                               "-o", str(tmp / f"out-{name}"), "--profile", profile,
                               "--threads", str(threads), "-q", "--overwrite"])  # fmt: skip
        if name.startswith("bin"):  # no Parquet encoding: the pipeline's own scaling
            configs[name][1].extend(["--format", "bin"])
    # A run in the same directory without --overwrite would resume and skip everything; the
    # directory is removed before each run as well, so every run starts from nothing.
    order = list(configs)
    rounds: list[dict] = []
    for r in range(args.rounds):
        runs: dict[str, dict] = {}
        for name in order if r % 2 == 0 else order[::-1]:
            inp, cmd = configs[name]
            out_dir = tmp / f"out-{name}"
            shutil.rmtree(out_dir, ignore_errors=True)
            res = run_child(cmd, tmp, tmp / f"{name}.log")
            stdout = res.pop("stdout")
            mb = sizes[inp]
            res["mb_per_s"] = mb / res["wall_s"]
            res["mb_per_cpu_s"] = mb / res["cpu_s"]
            if name == "hf_encode":
                inner = json.loads(stdout.strip().splitlines()[-1])
                res.update(inner)
                res["encode_mb_per_s"] = mb / inner["encode_s"]
                res["tokens_per_s"] = inner["tokens"] / res["wall_s"]
            else:
                from l2t.summary import load_manifest  # the dataset's manifest, any layout

                man = load_manifest(out_dir)
                assert man["complete"], f"{name}: manifest not complete"
                tot = man["totals"]
                res["output_tokens"] = tot["l2t_tokens"] + tot["raw_tokens"]
                res["tokens_per_s"] = res["output_tokens"] / res["wall_s"]
                res["rows"] = tot["rows"]
                res["fill_rate"] = tot["fill_rate"]
                res["documents"] = tot["documents"]
                res["output_mb"] = sum(p.stat().st_size for p in out_dir.iterdir()) / 1e6
                shutil.rmtree(out_dir, ignore_errors=True)
            runs[name] = res
            print(f"  round {r} {name:<11} {res['wall_s']:7.2f} s  {res['mb_per_s']:6.2f} MB/s  "
                  f"cpu {res['cpu_s']:7.2f} s  rss {res['peak_rss_mb']:7.1f} MB",
                  flush=True)  # fmt: skip
        hf, one, two = runs["hf_encode"], runs["default_1t"], runs["default_2t"]
        ratios = {
            "ratio_1t_vs_hf_process": one["mb_per_s"] / hf["mb_per_s"],
            "ratio_1t_vs_hf_encode": one["mb_per_s"] / hf["encode_mb_per_s"],
            "ratio_1t_cpu_vs_hf_process_cpu": one["mb_per_cpu_s"] / hf["mb_per_cpu_s"],
            "speedup_2t_vs_1t": one["wall_s"] / two["wall_s"],
            "speedup_paper_2t_vs_default_2t": two["wall_s"] / runs["paper_2t"]["wall_s"],
            "rss_full_vs_quarter": two["peak_rss_mb"] / runs["quarter_2t"]["peak_rss_mb"],
            "rss_double_vs_full": runs["double_2t"]["peak_rss_mb"] / two["peak_rss_mb"],
            "speedup_bin_2t_vs_1t": runs["bin_1t"]["wall_s"] / runs["bin_2t"]["wall_s"],
        }
        rounds.append({"runs": runs, "ratios": ratios})

    def med(get) -> float:
        return statistics.median(get(rd) for rd in rounds)

    median_runs = {
        name: {
            key: med(lambda rd, n=name, k=key: rd["runs"][n][k])
            for key, v in rounds[0]["runs"][name].items()
            if isinstance(v, float)
        }
        for name in configs
    }
    median_ratios = {k: med(lambda rd, k=k: rd["ratios"][k]) for k in rounds[0]["ratios"]}
    met = {
        "ratio_1t_vs_hf_encode": median_ratios["ratio_1t_vs_hf_encode"] >= 3.0,
        "speedup_2t_vs_1t": median_ratios["speedup_2t_vs_1t"] >= 1.8,
        "rss_full_vs_quarter": median_ratios["rss_full_vs_quarter"] <= 1.25,
    }
    print_table(median_runs, median_ratios, rounds, met)
    commands = {
        name: _bench_engine().portable(shlex.join(cmd), tmp) for name, (_, cmd) in configs.items()
    }
    return {
        "commands": commands,
        "median": {"runs": median_runs, "ratios": median_ratios, "targets_met": met},
        "rounds": rounds,
    }


def print_table(runs: dict, ratios: dict, rounds: list[dict], met: dict) -> None:
    print(f"\nmedian of {len(rounds)} rounds")
    print(f"{'run':<11} {'wall s':>8} {'MB/s':>7} {'MB/cpu-s':>9} {'M tok/s':>8} {'RSS MB':>8}")
    for name, r in runs.items():
        print(f"{name:<11} {r['wall_s']:8.2f} {r['mb_per_s']:7.2f} {r['mb_per_cpu_s']:9.2f} "
              f"{r['tokens_per_s'] / 1e6:8.3f} {r['peak_rss_mb']:8.1f}")  # fmt: skip
    hf = runs["hf_encode"]
    print(f"hf encode only: {hf['encode_s']:.2f} s, {hf['encode_mb_per_s']:.2f} MB/s")
    print(f"{'ratio':<32} {'median':>6}  per round")
    for k, v in ratios.items():
        flag = f"  (target {'met' if met[k] else 'MISSED'})" if k in met else ""
        each = ", ".join(f"{rd['ratios'][k]:.2f}" for rd in rounds)
        print(f"{k:<32} {v:6.2f}  {each}{flag}")


if __name__ == "__main__":
    sys.exit(main())
