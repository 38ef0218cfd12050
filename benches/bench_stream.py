"""Streaming benchmark: packed tokens/s of ``L2TLoader(L2TStream(...), num_workers=k)``, k=0,1,2.

The novels of ``../shared/data/english-novels-100`` are cut into ~4 KB documents (whole lines, as
``bench_engine.py`` does) and written once to a temporary ``docs.jsonl`` (``{"text": ...}`` a
line; ``--mb`` caps the text, default 16 MB, all of it is ~61). Every configuration below is
iterated to the end in its own fresh subprocess (workers, word caches and memory never carry over
between configurations), with the Mistral tokenizer, rows of 2048 and batches of 8 rows:

- ``l2t_k{0,1,2}``: ``L2TLoader(L2TStream(jsonl, tok, profile="default", seq_len=2048,
  batch_size=8, batch_docs=256, threads=1), num_workers=k)`` (batching in the stream, the
  loader's ``batch_size`` None);
- ``plain_k{0,1,2}`` (the baseline): what a typical pre-training loader does with raw text. An
  ``IterableDataset`` defined here reads the same JSONL, gives document ``i`` to worker
  ``i % num_workers``, encodes it with ``tokenizers.Tokenizer.encode`` (one thread:
  ``TOKENIZERS_PARALLELISM=false``; BOS from the post-processor, as l2t's ids have it), appends
  EOS, concatenates and cuts rows of 2048 and yields batches of 8 rows as dicts of
  ``input_ids``/``labels``/``position_ids`` tensors, in a ``DataLoader(batch_size=None)``;
- ``l2t_raw_k{0,1,2}``: ``L2TStream(..., raw_ratio=1.0)``: l2t's own raw-text path, no L2T tasks
  (reference).

In each child ``torch.set_num_threads(1)`` (DataLoader workers do so themselves), so k = 0 uses one
core. The child times building the dataset and loader (*setup*), the first batch (from the start of
iteration: it includes forking the workers, which ``L2TLoader`` does at the first ``next()``) and
the rest, and its CPU time over that span (its own and its joined workers'); it samples the
anonymous RSS of itself plus its workers every 0.25 s (an upper bound: pages a forked worker
inherited count in each). The parent takes the process's wall clock and peak RSS (``ru_maxrss``:
the largest single process, main or worker; importing torch alone takes ~0.7 GB) from
``os.wait4``.

Packed tokens are the non-pad slots: ``doc_ids != 0`` for l2t (``labels != -100`` would miss each
segment's first token), every slot for the plain loader (it has no pads). Packed tokens/s is
reported three ways: *iter* (the targets' figure), all tokens over the time from the start of
iteration to the last batch; *steady*, tokens after the first batch over the time from the first
to the last batch (optimistic for l2t, which makes a unit of 256 documents before the unit's first
row: each worker's first unit is made before the clock starts, about 1/16 of 16 MB at k = 0); and
*+setup*, all tokens over the time from building the loader. Per worker core divides *iter* by
max(k, 1) (k = 0: the main process does the work); tokens per CPU-second divide by the CPU time of
the main process and workers together. Rounds are interleaved (the order alternates: the machine's
speed drifts); medians over ``--rounds``.

Ratios (issue 4's targets): l2t over plain packed tokens/s at the same k (target ≥ 0.8), l2t
packed tokens/s per worker core (target ≥ 1M), and the scaling from k to the next k. ``--profile``
adds one ``l2t_k0`` run under cProfile (the share of the main process's time in the Rust engine
call and in the Python around it: ``_row_views``, segment/position ids, ``collate``, reading,
engine builds) and a transfer probe: 400 ready-made batches of l2t's and the plain loader's shape
through ``DataLoader(num_workers=k)``, the cost of handing a batch from a worker to the main
process (shared-memory tensors) without any work.

    python benches/bench_stream.py [--mb 61] [--rounds 2] [--workers 0 1 2] [--profile]
        [--tokenizer mistral-7b-v0.1] [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"l2t_vs_plain_tokens_per_s": 0.8, "l2t_tokens_per_s_per_worker_core": 1e6}
SEQ_LEN = 2048
BATCH_SIZE = 8
BATCH_DOCS = 256
KINDS = ("l2t", "plain", "l2t_raw")
MEM_EVERY_S = 0.25


def _bench_modules():
    """``bench_engine`` (``novel_documents``, ``SHARED``) and ``bench_generate`` (child runner)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_engine
    import bench_generate

    return bench_engine, bench_generate


# -- the child: one configuration, iterated to the end ------------------------------------------


def _plain_stream_class():
    """The baseline dataset (defined lazily so the parent never imports torch)."""
    import torch
    from torch.utils.data import IterableDataset, get_worker_info

    class PlainStream(IterableDataset):
        """Raw text as a typical pre-training loader streams it: encode, EOS, concatenate, cut."""

        def __init__(self, jsonl: str, tokenizer: str, eos_id: int) -> None:
            super().__init__()
            self.jsonl, self.tokenizer, self.eos_id = jsonl, tokenizer, eos_id

        def __iter__(self):
            import tokenizers

            hf = tokenizers.Tokenizer.from_file(self.tokenizer)
            hf.no_padding()
            hf.no_truncation()
            info = get_worker_info()
            workers, me = (1, 0) if info is None else (info.num_workers, info.id)
            per_batch = SEQ_LEN * BATCH_SIZE
            positions = torch.arange(SEQ_LEN).expand(BATCH_SIZE, -1)
            buf: list[int] = []
            with Path(self.jsonl).open(encoding="utf-8") as f:
                for i, line in enumerate(f):
                    if i % workers != me:
                        continue
                    buf.extend(hf.encode(json.loads(line)["text"]).ids)
                    buf.append(self.eos_id)
                    while len(buf) >= per_batch:
                        yield self._batch(buf[:per_batch], positions)
                        del buf[:per_batch]
            rows = len(buf) // SEQ_LEN  # the last short batch; the tail under one row is dropped
            if rows:
                yield self._batch(buf[: rows * SEQ_LEN], positions[:rows])

        @staticmethod
        def _batch(ids: list[int], positions):
            input_ids = torch.tensor(ids, dtype=torch.int64).view(-1, SEQ_LEN)
            return {
                "input_ids": input_ids,
                "labels": input_ids.clone(),
                "position_ids": positions.clone(),
            }

    return PlainStream


def _transfer_stream_class():
    """Batches shaped like a loader's, made without work: what moving them to the main costs."""
    import torch
    from torch.utils.data import IterableDataset

    class TransferStream(IterableDataset):
        def __init__(self, like: str, batches: int) -> None:
            super().__init__()
            self.like, self.batches = like, batches

        def __iter__(self):
            ids = torch.randint(0, 32000, (BATCH_SIZE, SEQ_LEN))
            for i in range(self.batches):  # fresh tensors each time, as a real loader makes
                batch = {"input_ids": ids.clone(), "labels": ids.clone(),
                         "position_ids": ids.clone()}  # fmt: skip
                if self.like == "l2t":
                    batch["doc_ids"] = ids.to(torch.int32)
                    batch["cu_seqlens"] = torch.arange(64, dtype=torch.int32)
                    batch["max_seqlen"] = SEQ_LEN
                    batch["l2t_position"] = torch.tensor([0, 0, i, 1])
                yield batch

    return TransferStream


def _tree_rss_anon_kb(pid: int) -> int:
    """Anonymous RSS of `pid` plus its descendants (KiB) from /proc/*/status; 0 if unreadable.

    Cheap (~0.1 ms a process; PSS from smaps_rollup costs ~20 ms with torch's mappings). Pages a
    forked worker inherited and never wrote count in each process: an upper bound.
    """
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    total += int(line.split()[1])
                    break
            for task in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def _cpu_s() -> float:
    """CPU seconds of this process and its reaped children (the DataLoader workers)."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def child(spec: dict) -> int:
    """Iterates one configuration to the end and prints its timings as one JSON line."""
    t_start = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    from torch.utils.data import DataLoader

    kind, workers = spec["kind"], spec["workers"]
    if kind in ("l2t", "l2t_raw"):
        from l2t.data import L2TLoader, L2TStream
    prof = None
    if spec.get("cprofile"):
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0, cpu0 = time.perf_counter(), _cpu_s()
    if kind == "plain":
        stream = _plain_stream_class()(spec["jsonl"], spec["tokenizer"], spec["eos_id"])
        loader = DataLoader(stream, batch_size=None, num_workers=workers)
    elif kind.startswith("transfer_"):
        stream = _transfer_stream_class()(kind.removeprefix("transfer_"), spec["batches"])
        loader = DataLoader(stream, batch_size=None, num_workers=workers)
    else:
        overrides = {"raw_ratio": 1.0} if kind == "l2t_raw" else {}
        stream = L2TStream(spec["jsonl"], spec["tokenizer"], profile="default", seq_len=SEQ_LEN,
                           batch_size=BATCH_SIZE, batch_docs=BATCH_DOCS, threads=1,
                           **overrides)  # fmt: skip
        loader = L2TLoader(stream, num_workers=workers)
    t_setup = time.perf_counter()
    # The loop's iter() starts the workers: their start-up counts in the time to the first batch.
    tokens = slots = batches = first_tokens = 0
    t_first = t_last = None
    anon_start = peak_anon = _tree_rss_anon_kb(os.getpid())
    next_mem = t_setup + MEM_EVERY_S
    for batch in loader:
        now = time.perf_counter()
        ids = batch["input_ids"]
        n = int((batch["doc_ids"] != 0).sum()) if kind in ("l2t", "l2t_raw") else ids.numel()
        tokens += n
        slots += ids.numel()
        batches += 1
        if t_first is None:
            t_first, first_tokens = now, n
        t_last = now
        if now >= next_mem:
            peak_anon = max(peak_anon, _tree_rss_anon_kb(os.getpid()))
            next_mem = now + MEM_EVERY_S
    cpu = _cpu_s() - cpu0  # the workers are joined (and counted) once the loader is exhausted
    if prof is not None:
        prof.disable()
        prof.dump_stats(spec["cprofile"])
    assert t_first is not None and t_last is not None, "the loader yielded nothing"
    steady = t_last - t_first
    print(json.dumps({
        "import_s": t0 - t_start,  # torch, and l2t.data for the l2t kinds
        "setup_s": t_setup - t0,  # building the dataset and the loader
        "first_batch_s": t_first - t_setup,  # from the start of iteration (workers' start too)
        "steady_s": steady,  # first to last batch
        "iterate_s": t_last - t_setup,  # start of iteration to last batch
        "loader_s": t_last - t0,  # building the loader to its last batch
        "loader_cpu_s": cpu,  # CPU of the main process and its workers over loader_s
        "batches": batches,
        "rows": slots // SEQ_LEN,
        "packed_tokens": tokens,
        "slots": slots,
        "fill_rate": tokens / slots,
        "first_batch_tokens": first_tokens,
        "rss_anon_start_mb": anon_start / 1024,  # after building the loader, before iterating
        "peak_tree_rss_anon_mb": peak_anon / 1024,
    }))  # fmt: skip
    return 0


# -- the parent: rounds, medians, report --------------------------------------------------------


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        return child(json.loads(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=16.0, help="input size cap in MB (all: ~61)")
    parser.add_argument("--tokenizer", default="mistral-7b-v0.1")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repetitions")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--profile", action="store_true", help="add a cProfile'd l2t_k0 run")
    parser.add_argument("--out", default=str(ROOT / "benches" / "results" / "stream.json"))
    args = parser.parse_args()

    bench_engine, bench_generate = _bench_modules()
    shared = bench_engine.SHARED
    tok_path = shared / "tokenizers" / args.tokenizer / "tokenizer.json"
    if not tok_path.exists() or not (shared / "english-novels-100").exists():
        print(f"shared data not found under {shared}; set L2T_SHARED_DATA", file=sys.stderr)
        return 1
    import numpy
    import tokenizers
    import torch

    import l2t
    import l2t.data

    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # inherited by every child
    eos_id = l2t.Engine(str(tok_path), profile="default").eos_id
    assert eos_id is not None, "the tokenizer has no EOS"
    docs = bench_engine.novel_documents(int(args.mb * 1e6))
    text_mb = sum(len(d.encode()) for d in docs) / 1e6
    tmp = Path(tempfile.mkdtemp(prefix="l2t-bench-stream-"))
    try:
        jsonl = tmp / "docs.jsonl"
        bench_generate.write_jsonl(jsonl, docs)
        n_docs = len(docs)
        del docs
        print(f"{n_docs} documents, {text_mb:.1f} MB of text ({jsonl.stat().st_size / 1e6:.1f} "
              f"MB JSONL); tokenizer {args.tokenizer}; workers {args.workers}",
              flush=True)  # fmt: skip
        base = {"jsonl": str(jsonl), "tokenizer": str(tok_path), "eos_id": eos_id}
        configs = {
            f"{kind}_k{k}": {**base, "kind": kind, "workers": k}
            for kind in KINDS
            for k in args.workers
        }
        report = run_rounds(args, bench_generate, tmp, configs, text_mb)
        if args.profile:
            report["profile_l2t_k0"] = profile_run(bench_generate, tmp, base)
            report["transfer"] = transfer_run(bench_generate, tmp, base)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    import multiprocessing

    data_py = Path(l2t.data.__file__)
    report = {
        "benchmark": "l2t_stream_dataloader",
        "input": {
            "documents": n_docs,
            "text_mb": text_mb,
            "tokenizer": args.tokenizer,
            "source": "english-novels-100 cut into ~4 KB documents, one JSONL",
        },
        "settings": {
            "seq_len": SEQ_LEN,
            "batch_size": BATCH_SIZE,
            "batch_docs": BATCH_DOCS,
            "l2t": {"profile": "default", "threads": 1, "stream_batching": True},
            "l2t_raw": {"raw_ratio": 1.0},
            "plain": "HF encode per document (+BOS from the post-processor) + EOS, concatenated, "
            "rows of seq_len, documents sharded i % num_workers, batches of batch_size rows",
            "workers": args.workers,
            "torch_threads": 1,
            "TOKENIZERS_PARALLELISM": "false",
            "start_method": multiprocessing.get_start_method(),
            "prefetch_factor": "DataLoader default (2)",
            "rounds": args.rounds,
            "mb_cap": args.mb,
        },
        "method": (
            f"{args.rounds} interleaved rounds (order alternating); each configuration a fresh "
            "subprocess iterating the loader to the end; wall clock, CPU (child + reaped workers) "
            "and peak RSS (largest single process) from os.wait4, loader timings from the child, "
            "anonymous RSS of the process tree sampled every 0.25 s; medians over rounds"
        ),
        "machine": bench_engine.machine_info(
            torch=torch.__version__,
            numpy=numpy.__version__,
            tokenizers=tokenizers.__version__,
            l2t=l2t.__version__,
            l2t_data_py_sha256=hashlib.sha256(data_py.read_bytes()).hexdigest()[:16],
        ),
        "targets": TARGETS,
        **report,
    }
    out = Path(args.out)
    _bench_modules()[0].write_report(out, report)
    print(f"wrote {out}")
    return 0


def child_cmd(spec: dict) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]


def run_config(bench_generate, tmp: Path, name: str, spec: dict, text_mb: float) -> dict:
    """One configuration in a fresh subprocess: its timings, rates and memory."""
    res = bench_generate.run_child(child_cmd(spec), tmp, tmp / f"{name}.log")
    inner = json.loads(res.pop("stdout").strip().splitlines()[-1])
    res.update(inner)
    cores = max(spec["workers"], 1)
    tokens = inner["packed_tokens"]
    res["tokens_per_s"] = tokens / inner["iterate_s"]
    res["tokens_per_s_steady"] = (tokens - inner["first_batch_tokens"]) / inner["steady_s"]
    res["tokens_per_s_with_startup"] = tokens / inner["loader_s"]
    res["tokens_per_s_per_worker_core"] = res["tokens_per_s"] / cores
    res["tokens_per_cpu_s"] = tokens / inner["loader_cpu_s"]
    res["mb_per_s"] = text_mb / inner["iterate_s"]
    res["mb_per_s_process"] = text_mb / res["wall_s"]
    return res


def run_rounds(args, bench_generate, tmp: Path, configs: dict, text_mb: float) -> dict:
    """Runs the interleaved rounds; per-round results, medians and ratios."""
    order = list(configs)
    rounds: list[dict] = []
    for r in range(args.rounds):
        runs: dict[str, dict] = {}
        for name in order if r % 2 == 0 else order[::-1]:
            res = run_config(bench_generate, tmp, name, configs[name], text_mb)
            runs[name] = res
            print(f"  round {r} {name:<10} process {res['wall_s']:6.2f} s, iteration "
                  f"{res['iterate_s']:6.2f} s (first batch {res['first_batch_s']:4.2f} s), "
                  f"{res['tokens_per_s'] / 1e6:5.2f} M tok/s, loader cpu "
                  f"{res['loader_cpu_s']:6.2f} s, rss {res['peak_rss_mb']:6.1f} MB",
                  flush=True)  # fmt: skip
        rounds.append({"runs": {n: runs[n] for n in order}, "ratios": ratios_of(runs, args)})

    def med(get) -> float:
        return statistics.median(get(rd) for rd in rounds)

    median_runs = {
        name: {
            key: med(lambda rd, n=name, k=key: rd["runs"][n][k])
            for key, v in rounds[0]["runs"][name].items()
            if isinstance(v, (int, float))
        }
        for name in order
    }
    median_ratios = {k: med(lambda rd, k=k: rd["ratios"][k]) for k in rounds[0]["ratios"]}
    met = {}
    for k in args.workers:
        met[f"l2t_vs_plain_k{k}"] = median_ratios[f"l2t_vs_plain_k{k}"] >= 0.8
        met[f"l2t_per_worker_core_k{k}"] = (
            median_runs[f"l2t_k{k}"]["tokens_per_s_per_worker_core"] >= 1e6
        )
    print_table(median_runs, median_ratios, rounds, met)
    commands = {
        name: _bench_modules()[0].portable(
            f"python benches/bench_stream.py --child '{json.dumps(spec)}'", tmp
        )
        for name, spec in configs.items()
    }
    return {
        "commands": commands,
        "median": {"runs": median_runs, "ratios": median_ratios, "targets_met": met},
        "rounds": rounds,
    }


def ratios_of(runs: dict, args) -> dict:
    """The ratios of one round: l2t over plain per k, scaling over k."""
    ratios: dict[str, float] = {}
    for k in args.workers:
        l2t, plain, raw = runs[f"l2t_k{k}"], runs[f"plain_k{k}"], runs[f"l2t_raw_k{k}"]
        ratios[f"l2t_vs_plain_k{k}"] = l2t["tokens_per_s"] / plain["tokens_per_s"]
        ratios[f"l2t_vs_plain_steady_k{k}"] = (
            l2t["tokens_per_s_steady"] / plain["tokens_per_s_steady"]
        )
        ratios[f"l2t_vs_plain_with_startup_k{k}"] = (
            l2t["tokens_per_s_with_startup"] / plain["tokens_per_s_with_startup"]
        )
        ratios[f"l2t_vs_plain_mb_per_s_k{k}"] = l2t["mb_per_s"] / plain["mb_per_s"]
        ratios[f"l2t_raw_vs_plain_k{k}"] = raw["tokens_per_s"] / plain["tokens_per_s"]
    for lo, hi in zip(args.workers, args.workers[1:], strict=False):
        for kind in KINDS:
            ratios[f"scaling_{kind}_k{hi}_vs_k{lo}"] = (
                runs[f"{kind}_k{hi}"]["tokens_per_s"] / runs[f"{kind}_k{lo}"]["tokens_per_s"]
            )
    return ratios


def print_table(runs: dict, ratios: dict, rounds: list[dict], met: dict) -> None:
    print(f"\nmedian of {len(rounds)} rounds; M tok/s = packed tokens per second: iter = from the "
          "start of iteration to the last batch (the targets' figure), steady = first to last "
          "batch, +setup = from building the loader; /w-core = iter / max(k, 1)")  # fmt: skip
    print(f"{'config':<10} {'proc s':>6} {'setup':>5} {'1st b':>5} {'iter s':>6} {'iter':>6} "
          f"{'steady':>6} {'+setup':>6} {'/w-core':>7} {'/cpu-s':>6} {'MB/s':>5} {'fill':>5} "
          f"{'RSS MB':>6} {'anon':>6}")  # fmt: skip
    for name, r in runs.items():
        print(f"{name:<10} {r['wall_s']:6.2f} {r['setup_s']:5.2f} {r['first_batch_s']:5.2f} "
              f"{r['iterate_s']:6.2f} {r['tokens_per_s'] / 1e6:6.3f} "
              f"{r['tokens_per_s_steady'] / 1e6:6.3f} "
              f"{r['tokens_per_s_with_startup'] / 1e6:6.3f} "
              f"{r['tokens_per_s_per_worker_core'] / 1e6:7.3f} "
              f"{r['tokens_per_cpu_s'] / 1e6:6.3f} {r['mb_per_s']:5.2f} {r['fill_rate']:5.3f} "
              f"{r['peak_rss_mb']:6.0f} {r['peak_tree_rss_anon_mb']:6.0f}")  # fmt: skip
    print(f"\n{'ratio':<34} {'median':>6}  per round")
    for k, v in ratios.items():
        each = ", ".join(f"{rd['ratios'][k]:.2f}" for rd in rounds)
        print(f"{k:<34} {v:6.2f}  {each}")
    print("\ntargets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in met.items()))


def profile_run(bench_generate, tmp: Path, base: dict) -> dict:
    """One l2t_k0 run under cProfile: where the main process's time goes."""
    import pstats

    path = tmp / "l2t_k0.prof"
    spec = {**base, "kind": "l2t", "workers": 0, "cprofile": str(path)}
    bench_generate.run_child(child_cmd(spec), tmp, tmp / "profile.log")
    stats = pstats.Stats(str(path)).stats  # (file, line, name) -> (cc, nc, tottime, cumtime, ..)
    total = sum(v[2] for v in stats.values())

    def cum(file_end: str, name: str) -> float:
        return sum(v[3] for (f, _, n), v in stats.items() if f.endswith(file_end) and n == name)

    def own(pred) -> float:
        return sum(v[2] for key, v in stats.items() if pred(key))

    rust = own(lambda k: k[0] == "~" and "generate" in k[2] and "Engine" in k[2])
    # Disjoint parts of the main process's time (nothing here calls another of them).
    parts = {
        "Rust engine generate": rust,
        "Engine.generate wrapper (numpy views, stats JSON)": cum("l2t/engine.py", "generate")
        - rust,
        "Engine builds (config check + one per epoch)": cum("l2t/engine.py", "__init__"),
        "l2t Tokenizer build (vocab size)": cum("l2t/tokenizer.py", "__init__"),
        "PartReader.work (reading + JSON parsing)": cum("l2t/parts.py", "work"),
        "_row_views (ids to int64, labels, positions)": cum("l2t/data.py", "_row_views"),
        "collate (stack, cu_seqlens)": cum("l2t/data.py", "collate"),
    }
    parts["other (DataLoader, row/batch plumbing, bench loop)"] = total - sum(parts.values())
    details = {
        "PackedBatch.segment_ids (in _row_views)": cum("l2t/engine.py", "segment_ids"),
        "PackedBatch.position_ids (in _row_views)": cum("l2t/engine.py", "position_ids"),
        "L2TStream construction": cum("l2t/data.py", "__init__"),
    }
    top = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:20]
    out = {
        "total_s": total,
        "outside_rust_engine_share": 1 - rust / total if total else 0.0,
        "parts_s": parts,
        "details_s": details,
        "top_by_own_time": [
            {"function": f"{Path(f).name}:{line}:{n}", "own_s": v[2], "calls": v[1]}
            for (f, line, n), v in top
        ],
    }
    share = 100 * out["outside_rust_engine_share"]
    print(f"\ncProfile of l2t_k0 (main process, {total:.2f} s profiled): {share:.1f}% outside "
          "the Rust engine call")  # fmt: skip
    for k, v in {**parts, **details}.items():
        print(f"  {k:<52} {v:7.2f} s  {100 * v / total:5.1f}%")
    print("  top by own time:")
    for t in out["top_by_own_time"]:
        print(f"    {t['function']:<60} {t['own_s']:7.2f} s  {t['calls']:>8} calls")
    return out


def transfer_run(bench_generate, tmp: Path, base: dict, batches: int = 400) -> dict:
    """What handing a batch from a worker to the main process costs, without any work."""
    out = {}
    print(f"\ntransfer of {batches} ready-made batches of {BATCH_SIZE}x{SEQ_LEN} (fresh tensors): "
          "l2t-shaped (input_ids, labels, position_ids, doc_ids, cu_seqlens, position) and "
          "plain-shaped (input_ids, labels, position_ids)")  # fmt: skip
    for like in ("l2t", "plain"):
        for k in (0, 1, 2):
            spec = {**base, "kind": f"transfer_{like}", "workers": k, "batches": batches}
            name = f"transfer_{like}_k{k}"
            res = bench_generate.run_child(child_cmd(spec), tmp, tmp / f"{name}.log")
            inner = json.loads(res["stdout"].strip().splitlines()[-1])
            out[name] = {
                "ms_per_batch": 1000 * inner["iterate_s"] / batches,
                "cpu_ms_per_batch": 1000 * inner["loader_cpu_s"] / batches,
                "iterate_s": inner["iterate_s"],
                "loader_cpu_s": inner["loader_cpu_s"],
            }
            print(f"  {name:<18} {out[name]['ms_per_batch']:6.2f} ms a batch, "
                  f"{out[name]['cpu_ms_per_batch']:6.2f} CPU ms a batch")  # fmt: skip
    return out


if __name__ == "__main__":
    sys.exit(main())
