#!/usr/bin/env bash
# The one prepared GPU check (docs/gpu.md). From the repository root, nothing to install:
#
#     OUT=/some/folder PYTHONPATH=. TINYGRAD_LITE_DATA=/path/to/data bash scripts/gpu_check.sh
#     STAGES="0 2" bash scripts/gpu_check.sh            # a subset of the stages
#     bash scripts/gpu_check.sh --device cpu             # CPU dry run: stage 0 skipped, the CPU stands in
#
# Stages (scripts/gpu_check.py says what each does), each under its own time cap, caps summing to
# 8 minutes: 0 CuPy works (30 s), 1 pytest -m cuda (150 s), 2 replays interrupted and resumed
# (120 s), 3 benchmark on both devices (150 s), 4 loaders against torchvision (30 s).
# Every stage writes $OUT/stage<N>.json at once; $OUT/stages.txt gets one line per stage.
# Stage 0 failing stops the check with one line (without it every CUDA test would just skip);
# a later stage failing is reported and the rest still run. Exit status: 0 only if all passed.
set -uo pipefail
cd "$(dirname "$0")/.."

device=cuda
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="${2:-}"; shift 2 ;;
    --device=*) device="${1#--device=}"; shift ;;
    *) echo "gpu_check: unknown argument '$1' (use --device cpu for a CPU dry run)" >&2; exit 2 ;;
  esac
done
if [ "$device" != cuda ] && [ "$device" != cpu ]; then
  echo "gpu_check: --device must be cuda or cpu, got '$device'" >&2; exit 2
fi

OUT="${OUT:-out/gpu_check}"
mkdir -p "$OUT"
export PYTHONPATH="${PYTHONPATH:-.}" MPLBACKEND="${MPLBACKEND:-Agg}"
STAGES="${STAGES:-0 1 2 3 4}"
cap() { case "$1" in 0) echo 30 ;; 1) echo 150 ;; 2) echo 120 ;; 3) echo 150 ;; 4) echo 30 ;; *) echo 0 ;; esac; }

failed=""
for stage in $STAGES; do
  limit="$(cap "$stage")"
  if [ "$limit" = 0 ]; then
    echo "gpu_check: no stage '$stage' (the stages are 0 1 2 3 4)" >&2; exit 2
  fi
  echo "gpu_check: stage $stage on $device (at most ${limit} s)"
  start=$SECONDS
  timeout --kill-after=5 "$limit" python3 scripts/gpu_check.py --stage "$stage" --device "$device" --out "$OUT"
  rc=$?
  took=$((SECONDS - start))
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "gpu_check: stage $stage failed: it ran past its ${limit} s cap" >&2
  fi
  echo "stage $stage: rc $rc, ${took} s" >> "$OUT/stages.txt"
  if [ $rc -ne 0 ]; then
    failed="$failed $stage"
    if [ "$stage" = 0 ]; then
      exit 1          # the one-line reason is already printed by the stage
    fi
  fi
done
if [ -n "$failed" ]; then
  echo "gpu_check: failed stage(s):$failed; see $OUT/stage<N>.json" >&2
  exit 1
fi
echo "gpu_check: all stages passed ($STAGES); results in $OUT"
