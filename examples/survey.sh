#!/usr/bin/env bash
# Your own survey: a labelled SEG-Y in, the whole volume predicted as SEG-Y out, checked on lines
# the model never saw. prepare cuts the labelled lines into patches, train learns from them (from
# scratch, or fine-tuning a competition run with INIT) holding out a block of lines apart in
# space, threshold chooses the cut on them, evaluate scores them line by line, and predict writes
# the salt mask of every trace. Every command exits non-zero on failure, so the script stops at
# the first error.
#
# Usage:        examples/survey.sh SEISMIC LABELS [WORK]
#   SEISMIC     the survey: .sgy/.segy, a 3-D .npy, or a 2-D section (.png, .tif, .npy)
#   LABELS      a label volume or mask of its geometry, or a folder of per-line masks
#   WORK        where the data file, the run and the prediction go   (default survey)
# Environment:
#   BUDGET      training time budget: 90s, 20m, 1h   (default 20m)
#   INIT        a trained run to fine-tune (e.g. the competition's, from examples/pipeline.sh)
#   PREPARE_ARGS, TRAIN_ARGS   more options for 'saltseg prepare' and 'saltseg train'
#               (e.g. "--class 2 --along both", "--device cuda")
#   DEVICE      where threshold, evaluate and predict run   (default auto)
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: examples/survey.sh SEISMIC LABELS [WORK]" >&2
  exit 2
fi
SEISMIC="$1"
LABELS="$2"
WORK="${3:-survey}"
BUDGET="${BUDGET:-20m}"
DEVICE="${DEVICE:-auto}"
read -r -a prepare_extra <<< "${PREPARE_ARGS:-}"
read -r -a train_extra <<< "${TRAIN_ARGS:-}"
[[ -n "${INIT:-}" ]] && train_extra+=(--init "$INIT")

RUN="$WORK/run"
NAME="$(basename "${SEISMIC%.*}")"
mkdir -p "$WORK"

# 1. The labelled lines as patches (kept if already there).
[[ -f "$WORK/survey.h5" ]] || saltseg prepare "$SEISMIC" --labels "$LABELS" --out "$WORK/survey.h5" \
  "${prepare_extra[@]}"

# 2. Train within the budget, a block of lines held out; an interrupted run continues.
args=(--data "$WORK/survey.h5" --run "$RUN" --budget "$BUDGET" "${train_extra[@]}")
[[ -f "$RUN/checkpoints/last.pt" ]] && args+=(--resume)
saltseg train "${args[@]}"

# 3. The threshold and minimum area on the held-out patches.
saltseg threshold "$RUN" --device "$DEVICE"

# 4. The held-out lines, predicted whole as sections: IoU, precision, recall per line.
saltseg evaluate "$RUN" "$SEISMIC" --labels "$LABELS" --split validation --device "$DEVICE"

# 5. The whole survey: a 0/1 salt mask with the input's headers (or a .npy for a .npy source).
case "$SEISMIC" in
  *.sgy|*.segy|*.SGY|*.SEGY) out="$WORK/$NAME-salt.sgy" ;;
  *) out="$WORK/$NAME-salt.npy" ;;
esac
saltseg predict "$RUN" "$SEISMIC" --as-masks --out "$out" --device "$DEVICE"
echo "salt of $SEISMIC: $out; held-out lines: $RUN/eval/$NAME-validation/" >&2
