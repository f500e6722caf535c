#!/usr/bin/env bash
# From the competition's train.zip and test.zip to submission.csv with saltseg alone:
# prepare, train, threshold, predict, rle. Every command exits non-zero on failure, so the
# script stops at the first error; results go to stdout, messages to stderr.
#
# Usage (from the repository root):   examples/pipeline.sh
# Environment:
#   DATA_DIR    the competition files               (default ../shared/data)
#   WORK        where data files, run and submission go   (default pipeline)
#   BUDGET      training time budget: 90s, 45m, 2h  (default 60m)
#   EPOCHS      cap on epochs (optional, e.g. 1 for a smoke test)
#   TRAIN_ARGS  more options for 'saltseg train' (e.g. "--arch unet --device cuda")
#   DEVICE      where predict and threshold run     (default auto)
#   PSEUDO      1: pseudo-labels. A teacher trains for TEACHER_BUDGET, predicts the unlabelled
#               test images, and a student learns from its confident predictions for
#               STUDENT_BUDGET; each defaults to 45% of BUDGET (27m of 60m), which leaves a tenth
#               for the teacher's threshold and predictions, so the chain fits in BUDGET. The
#               student is submitted.
set -euo pipefail

DATA_DIR="${DATA_DIR:-../shared/data}"
WORK="${WORK:-pipeline}"
BUDGET="${BUDGET:-60m}"
EPOCHS="${EPOCHS:-}"
DEVICE="${DEVICE:-auto}"
read -r -a extra <<< "${TRAIN_ARGS:-}"

RUN="$WORK/run"
mkdir -p "$WORK"

# 1. One HDF5 file of the 4000 labelled images (kept if already there).
[[ -f "$WORK/train.h5" ]] || saltseg prepare "$DATA_DIR/train.zip" --out "$WORK/train.h5"

# 2. Train within the budget; an interrupted run continues where it stopped (a finished one says so).
train_run() {  # train_run RUN BUDGET [more options]
  local args=(--data "$WORK/train.h5" --run "$1" --budget "$2" "${extra[@]}" "${@:3}")
  [[ -n "$EPOCHS" ]] && args+=(--epochs "$EPOCHS")
  [[ -f "$1/checkpoints/last.pt" ]] && args+=(--resume)
  saltseg train "${args[@]}"
}
share_of_budget() {  # share_of_budget FRACTION: that fraction of BUDGET, in seconds (e.g. 1620s)
  python -c '
import sys
from saltseg.errors import SaltsegError
from saltseg.training.schedule import parse_duration
try:
    print(f"{parse_duration(sys.argv[1]) * float(sys.argv[2]):.0f}s")
except SaltsegError as exc:
    print(f"BUDGET: {exc}", file=sys.stderr)
    sys.exit(2)' "$BUDGET" "$1"
}
if [[ "${PSEUDO:-}" == 1 ]]; then
  # 2a. The teacher, its threshold, and its predictions on the unlabelled test images (no TTA: fast).
  TEACHER="$WORK/teacher"
  share=""  # 45% of BUDGET: the teacher's and the student's budget unless given
  [[ -n "${TEACHER_BUDGET:-}" && -n "${STUDENT_BUDGET:-}" ]] || share="$(share_of_budget 0.45)"
  teacher_budget="${TEACHER_BUDGET:-$share}"
  student_budget="${STUDENT_BUDGET:-$share}"
  [[ -f "$WORK/test.h5" ]] || saltseg prepare "$DATA_DIR/test.zip" --out "$WORK/test.h5"
  train_run "$TEACHER" "$teacher_budget"
  saltseg threshold "$TEACHER" --device "$DEVICE"
  saltseg predict "$TEACHER" "$WORK/test.h5" --no-tta --device "$DEVICE"
  # 2b. The student: the teacher's split and weights, plus its confident pseudo-labelled images.
  train_run "$RUN" "$student_budget" --teacher "$TEACHER" --unlabelled "$WORK/test.h5"
else
  train_run "$RUN" "$BUDGET"
fi

# 3. Threshold and minimum area from the validation split (RUN/threshold.json).
saltseg threshold "$RUN" --device "$DEVICE"

# 4. Probabilities for the 18000 test images (RUN/predictions/test.h5), hflip TTA on.
saltseg predict "$RUN" "$DATA_DIR/test.zip" --device "$DEVICE"

# 5. The submission, in the sample submission's order, cut at the run's threshold.
saltseg rle "$RUN" --ids "$DATA_DIR/sample_submission.csv" --out "$WORK/submission.csv"
echo "$WORK/submission.csv"
