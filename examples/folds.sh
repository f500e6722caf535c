#!/usr/bin/env bash
# K-fold ensemble within one time budget: train fold I of K with --folds K --fold I on
# BUDGET/K each, choose one threshold from the K runs' out-of-fold predictions, predict the
# test set with the ensemble (probabilities averaged, hflip TTA inside each run), encode it.
#
# Usage (from the repository root):   examples/folds.sh
# Environment:
#   DATA_DIR    the competition files               (default ../shared/data)
#   WORK        where data files, runs and submission go  (default folds)
#   K           number of folds                     (default 5)
#   BUDGET      total training time, split evenly over the folds, in minutes (default 60)
#   EPOCHS      cap on epochs per fold (optional)
#   TRAIN_ARGS  more options for 'saltseg train'
#   DEVICE      where predict and threshold run     (default auto)
set -euo pipefail

DATA_DIR="${DATA_DIR:-../shared/data}"
WORK="${WORK:-folds}"
K="${K:-5}"
BUDGET="${BUDGET:-60}"
EPOCHS="${EPOCHS:-}"
DEVICE="${DEVICE:-auto}"
read -r -a extra <<< "${TRAIN_ARGS:-}"

ENS="$WORK/ensemble"
per_fold="$(( BUDGET * 60 / K ))s"
mkdir -p "$WORK"
[[ -f "$WORK/train.h5" ]] || saltseg prepare "$DATA_DIR/train.zip" --out "$WORK/train.h5"

runs=()
for (( i = 0; i < K; i++ )); do
  run="$WORK/fold$i"
  train=(--data "$WORK/train.h5" --run "$run" --folds "$K" --fold "$i" --budget "$per_fold" "${extra[@]}")
  [[ -n "$EPOCHS" ]] && train+=(--epochs "$EPOCHS")
  [[ -f "$run/checkpoints/last.pt" ]] && train+=(--resume)
  saltseg train "${train[@]}"
  runs+=("$run")
done

# One threshold and minimum area for the ensemble, from every image's out-of-fold prediction;
# this creates ENS/ensemble.json listing the runs, and ENS/threshold.json.
saltseg threshold "${runs[@]}" --ensemble "$ENS" --device "$DEVICE"

# ENS now stands for its runs: their mean probability on the test set, then the submission.
saltseg predict "$ENS" "$DATA_DIR/test.zip" --device "$DEVICE"
saltseg rle "$ENS" --ids "$DATA_DIR/sample_submission.csv" --out "$WORK/submission.csv"
echo "$WORK/submission.csv"
