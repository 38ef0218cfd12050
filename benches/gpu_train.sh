#!/usr/bin/env bash
# The training benchmark (benches/bench_train.py) on a GPU machine, in one call that fits ~8 min.
#
# Run from anywhere in the repo, with the l2t wheel (maturin build) in .whl/ (git-ignored) and
# $OUT the folder whose files come back:
#
#     bash benches/gpu_train.sh [extra bench_train.py arguments, e.g. --presets 500m]
#
# It installs the wheel into .whl/site (git-ignored; not the image's environment), keeps the
# bench inside TIME_BUDGET seconds (default 420: items that would overrun are skipped, and the JSON is
# rewritten after each one, so even a killed run leaves its results), writes $OUT/train.json,
# the progress log to $OUT/train.log and nvidia-smi's view to $OUT/nvidia-smi.txt, and prints
# the summary table (then the log's tail) on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder for the results}"
PYTHON=${PYTHON:-python3}

wheel=$(ls -t .whl/l2t-*.whl | head -n 1)
"$PYTHON" -m pip install -q --root-user-action=ignore --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$PWD/.whl/site" "$wheel"
export PYTHONPATH="$PWD/.whl/site" PYTHONUNBUFFERED=1
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true

rc=0
"$PYTHON" benches/bench_train.py --out "$OUT/train.json" --time-budget "${TIME_BUDGET:-420}" \
    "$@" 2>"$OUT/train.log" || rc=$?
tail -n 25 "$OUT/train.log"
exit "$rc"
