#!/usr/bin/env bash
# The novels comparison (recipes/novels-compare.json) on a GPU machine, from the folder that
# scripts/device_kit.py packs (.device/, git-ignored, carried with the call):
#
#     bash benches/gpu_experiment.sh [--set KEY=VALUE ...]    # e.g. --set seeds='[0]'
#
# The experiment's directory is .device/out (kept on the machine between calls while it stays
# warm): a call cut short by its time limit is continued by the next one, which reuses finished
# runs and scores. Each call copies the report, plots and per-run metrics to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder for the results}"
PYTHON=${PYTHON:-python3}
KIT=.device

wheel=$(ls -t "$KIT"/l2t-*.whl | head -n 1)
"$PYTHON" -m pip install -q --root-user-action=ignore --no-index --no-deps --no-compile \
    --no-cache-dir --upgrade --target "$KIT/site" "$wheel"
export PYTHONPATH="$PWD/$KIT/site" PYTHONUNBUFFERED=1
mkdir -p "$KIT/blimp-data"
for f in "$KIT"/blimp/*.jsonl.gz; do
    name=$(basename "$f" .gz)
    [ -s "$KIT/blimp-data/$name" ] || gunzip -c "$f" >"$KIT/blimp-data/$name"
done
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true

rc=0
# The kit's documents are the recipe's split, made with its book options (data/split.json): the
# experiment takes them as a source, so the byte budget is not applied a second time.
"$PYTHON" -m l2t.cli experiment compare --config recipes/novels-compare.json \
    --set corpus="$KIT/data/train.jsonl.gz" --set val_data="$KIT/data/val.jsonl.gz" \
    --set max_train_bytes=null --set tokenizer="$KIT/tokenizer.json" \
    --set blimp_data="$KIT/blimp-data" --set out_dir="$KIT/out" "$@" >"$OUT/experiment.log" 2>&1 || rc=$?
mkdir -p "$OUT/novels-40m"
cp -r "$KIT"/out/report.* "$KIT"/out/*.png "$KIT"/out/curves "$KIT/data/split.json" "$OUT/novels-40m/" 2>/dev/null || true
for run in "$KIT"/out/runs/*/*; do
    [ -d "$run" ] || continue
    dest="$OUT/novels-40m/runs/$(basename "$(dirname "$run")")-$(basename "$run")"
    mkdir -p "$dest"
    cp "$run"/metrics.jsonl "$run"/*.png "$run"/timing.json "$dest/" 2>/dev/null || true
    cp "$run"/blimp-final/blimp.json "$dest/" 2>/dev/null || true
done
tail -n 40 "$OUT/experiment.log"
exit "$rc"
