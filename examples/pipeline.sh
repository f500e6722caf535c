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

# 2. Train within the budget; an interrupted run continues where it stopped.
train=(--data "$WORK/train.h5" --run "$RUN" --budget "$BUDGET" "${extra[@]}")
[[ -n "$EPOCHS" ]] && train+=(--epochs "$EPOCHS")
[[ -f "$RUN/checkpoints/last.pt" ]] && train+=(--resume)
saltseg train "${train[@]}"

# 3. Threshold and minimum area from the validation split (RUN/threshold.json).
saltseg threshold "$RUN" --device "$DEVICE"

# 4. Probabilities for the 18000 test images (RUN/predictions/test.h5), hflip TTA on.
saltseg predict "$RUN" "$DATA_DIR/test.zip" --device "$DEVICE"

# 5. The submission, in the sample submission's order, cut at the run's threshold.
saltseg rle "$RUN" --ids "$DATA_DIR/sample_submission.csv" --out "$WORK/submission.csv"
echo "$WORK/submission.csv"
