"""Which pseudo-label rule to trust: each candidate measured on a teacher's validation images.

A teacher run's validation probabilities (``RUN/val_probs.h5``, written by ``saltseg threshold``,
which runs first when the run has no threshold.json) stand in for its predictions on unlabelled
images: each rule of :mod:`saltseg.pseudo` keeps some of them, and their pseudo masks (cut at the
teacher's threshold and minimum area) are scored against the true masks. Validation images of the
holdout's test split (``benchmarks/holdout.py``; a run trained on the whole train.zip validates
some) are left out, so no choice is made on them. No training, a few seconds.

Printed: one Markdown row per rule and parameters (share of images kept, their competition score,
pixel accuracy and share of empty masks), then the chosen rule: the one that keeps the most images
at a kept score of at least :data:`TARGET_KEPT_SCORE`.

    python benchmarks/pseudo_rule.py --run bench-out/run25
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from holdout import is_competition_set, test_ids

from saltseg.datafile import file_sha256, read_dataset, read_predictions
from saltseg.metric import competition_score
from saltseg.pseudo import Rule, StableCut, UncertainShare
from saltseg.rundir import RunDir
from saltseg.sweep import apply_cut
from saltseg.threshold import threshold

TARGET_KEPT_SCORE = 0.95
"""The pseudo masks kept must score at least this on the teacher's validation images (the
teacher's whole validation split scores about 0.83: the kept images must be much surer)."""


@dataclass(frozen=True)
class Figures:
    """How one rule does on the validation images."""

    rule: Rule
    kept: int
    kept_share: float
    kept_score: float
    pixel_accuracy: float
    empty_share: float


@dataclass(frozen=True)
class KeepAll:
    """The baseline: every image kept."""

    def confident(self, probs: np.ndarray, threshold: float, min_area: int) -> np.ndarray:
        """Return (N,) True."""
        return np.ones(len(probs), dtype=bool)


def candidate_rules() -> list[Rule]:
    """Return every rule and parameter setting measured, after the baseline."""
    rules: list[Rule] = [KeepAll()]
    for empty_below in (0.2, 0.5):
        rules += [UncertainShare(band, limit, empty_below)
                  for band in (0.1, 0.2, 0.3, 0.4) for limit in (0.01, 0.02, 0.05, 0.1)]
        rules += [StableCut(delta, min_iou, empty_below)
                  for delta in (0.1, 0.2, 0.3) for min_iou in (0.9, 0.95, 0.98)]
    return rules


def validation_images(run: RunDir, data_path: Path | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Return the teacher's validation probabilities and true masks, without test-split images,
    and how many test-split images were left out."""
    if run.read_threshold() is None:
        threshold([run.root], data_path)
    preds = read_predictions(run.val_probs_path)
    if preds.attrs.get("checkpoint_sha256") != file_sha256(run.best_checkpoint):
        raise SystemExit(f"{run.val_probs_path} is older than best.pt: run 'saltseg threshold {run.root}'")
    data = read_dataset(data_path or run.read_config()["data"])
    assert data.masks is not None
    held_out = set(test_ids(data)) if is_competition_set(data.ids) else set()
    rows = {key: i for i, key in enumerate(data.ids)}
    keep = np.array([key not in held_out for key in preds.ids])
    truth = data.masks[[rows[key] for key in preds.ids]]
    return preds.probs[keep], truth[keep], int((~keep).sum())


def measure(rule: Rule, probs: np.ndarray, truth: np.ndarray, cut: tuple[float, int]) -> Figures:
    """Return the share of images ``rule`` keeps and how good their pseudo masks are."""
    keep = rule.confident(probs, *cut)
    masks, true = apply_cut(probs[keep], *cut), truth[keep]
    if not keep.any():
        return Figures(rule, 0, 0.0, float("nan"), float("nan"), float("nan"))
    return Figures(
        rule=rule,
        kept=int(keep.sum()),
        kept_share=float(keep.mean()),
        kept_score=competition_score(masks, true),
        pixel_accuracy=float((masks == (true != 0)).mean()),
        empty_share=float((~masks.reshape(len(masks), -1).any(1)).mean()),
    )


def chosen(figures: list[Figures]) -> Figures | None:
    """Return the figures of the rule keeping the most images at TARGET_KEPT_SCORE, if any reaches it."""
    good = [f for f in figures if f.kept and f.kept_score >= TARGET_KEPT_SCORE]
    return max(good, key=lambda f: (f.kept, f.kept_score), default=None)


def table(figures: list[Figures]) -> str:
    """Return the figures as a Markdown table, most images kept first."""
    lines = ["| rule | kept | share kept | kept score | pixel accuracy | empty masks |",
             "|---|---|---|---|---|---|"]
    for f in sorted(figures, key=lambda f: -f.kept):
        lines.append(f"| {f.rule} | {f.kept} | {f.kept_share:.3f} | {f.kept_score:.4f} | "
                     f"{f.pixel_accuracy:.4f} | {f.empty_share:.3f} |")
    return "\n".join(lines)


def main() -> None:
    """Measure every candidate rule and print the table and the choice."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, default=Path("/work/bench-out/run25"), help="The teacher run.")
    parser.add_argument("--data", type=Path, default=None, help="Its labelled data file, if moved.")
    args = parser.parse_args()
    run = RunDir(args.run)
    probs, truth, left_out = validation_images(run, args.data)
    cut = run.read_cut()
    figures = [measure(rule, probs, truth, cut) for rule in candidate_rules()]
    print(f"teacher {run.root}: {len(probs)} validation images ({left_out} of the test split left out), "
          f"cut at threshold {cut[0]:.2f}, min area {cut[1]}")
    print(table(figures))
    best = chosen(figures)
    print(f"chosen (most kept at a kept score >= {TARGET_KEPT_SCORE}): "
          + (f"{best.rule}: keeps {best.kept_share:.3f}, score {best.kept_score:.4f}" if best else "none"))


if __name__ == "__main__":
    main()
