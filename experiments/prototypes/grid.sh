#!/bin/bash
# Runs torch_alignment.py once per line of JOBS (each line: its extra arguments), PARALLEL at a
# time on one GPU, and collects each run's final lines in OUTDIR/summary.txt and every log in
# OUTDIR/logs/. A screen that takes an afternoon on 2 cores takes minutes this way.
#
#   WORLD=~/.cache/rewardlab/world-1500-0 RUN=runs/default ./grid.sh gpu_screen.txt 8 /tmp/screen
#
# RUN as for torch_alignment.py (a trained run with `eval-train/scores.csv`). DEVICE=cpu runs it
# without a GPU.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: WORLD=DIR RUN=DIR $0 JOBS PARALLEL OUTDIR" >&2
  exit 2
fi
jobs=$(realpath "$1"); parallel=$2; out=$(realpath -m "$3")
export WORLD=$(realpath "${WORLD:?set WORLD to the world folder}")
export RUN=$(realpath "${RUN:?set RUN to a trained run folder}")
export DEVICE=${DEVICE:-cuda} CACHE=${CACHE:-/tmp/rewardlab-prototypes} OUT=$out
mkdir -p "$out/logs"
cd "$(dirname "$0")"
# the image cache is built once, before the runs read it in parallel
python3 -c "import world_data; world_data.load('$WORLD', '$RUN', '$CACHE')"
run_one() {
  local id=$1; shift
  local log=$OUT/logs/$(printf %03d "$id").log
  THREADS=2 PYTHONUNBUFFERED=1 python3 torch_alignment.py --world "$WORLD" --run "$RUN" \
    --cache "$CACHE" --device "$DEVICE" "$@" > "$log" 2>&1 || echo "run $id failed: see $log" >&2
  grep -h "FINAL\|AUC\|attr probe" "$log" | sed "s/^/[$id] /" >> "$OUT/summary.txt" || true
}
export -f run_one
grep -v '^\s*\(#.*\)\?$' "$jobs" | nl -w1 -s' ' | xargs -P "$parallel" -L 1 bash -c 'run_one "$@"' _
echo "summary: $out/summary.txt"
