#!/usr/bin/env python3
"""Packs what a GPU run of the novels comparison needs into one small, git-ignored folder.

The device machine gets the repository and the folders named in ``carry`` (64 MiB in all), not
``../shared``: the novels alone are 63 MB and BLiMP's files 29 MB. This packs, compressed:

- ``data/train.jsonl.gz``, ``data/val.jsonl.gz``: the recipe's book split of the novels
  (``l2t.experiment.split_books``: 4 books held out, ~4 KB documents, 36 MB of training text);
- ``tokenizer.json``: the Mistral-7B tokenizer;
- ``blimp/<UID>.jsonl.gz``: BLiMP with only the fields the scorer reads;
- ``l2t-*.whl``: the newest wheel from ``target/wheels`` (``maturin build --release`` first).

    python scripts/device_kit.py [--shared ../shared/data] [--out .device]

then run ``benches/gpu_experiment.sh`` there with ``carry=[".device"]``.
"""

import argparse
import gzip
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "novels-compare.json"
BLIMP_FIELDS = ("sentence_good", "sentence_bad", "field", "linguistics_term", "UID", "pairID")


def gzip_file(src: Path, dst: Path) -> None:
    with src.open("rb") as f, gzip.open(dst, "wb", compresslevel=9) as g:
        shutil.copyfileobj(f, g)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / ".device")
    args = parser.parse_args()

    from l2t.experiment import ExperimentConfig, split_books

    recipe = ExperimentConfig.from_file(RECIPE)
    out: Path = args.out
    shutil.rmtree(out, ignore_errors=True)
    (out / "data").mkdir(parents=True)
    (out / "blimp").mkdir()

    split = split_books(
        args.shared / "english-novels-100" / "corpus",
        out / "split",
        holdout=recipe.holdout_books,
        doc_chars=recipe.doc_chars,
        max_train_bytes=recipe.max_train_bytes,
    )
    for name in ("train", "val"):
        gzip_file(out / "split" / f"{name}.jsonl", out / "data" / f"{name}.jsonl.gz")
    shutil.rmtree(out / "split")
    info = split.summary()
    (out / "data" / "split.json").write_text(json.dumps(info, indent=1) + "\n")

    shutil.copy(args.shared / "tokenizers" / "mistral-7b-v0.1" / "tokenizer.json", out)
    for path in sorted((args.shared / "blimp" / "data").glob("*.jsonl")):
        with (
            path.open(encoding="utf-8") as f,
            gzip.open(out / "blimp" / f"{path.name}.gz", "wt", encoding="utf-8") as g,
        ):
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    g.write(json.dumps({k: row[k] for k in BLIMP_FIELDS if k in row}) + "\n")

    wheels = sorted((ROOT / "target" / "wheels").glob("l2t-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        print("no wheel in target/wheels: run `maturin build --release` first", file=sys.stderr)
        return 1
    shutil.copy(wheels[-1], out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {size / 2**20:.1f} MiB ({json.dumps(info)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
