"""Which pseudo-label rule to trust: each candidate measured on a teacher's validation images.

A teacher run's validation probabilities (``RUN/val_probs.h5``, written by ``saltseg threshold``,
which runs first when the run has no threshold.json) stand in for its predictions on unlabelled
images: they are cut at the teacher's threshold and minimum area, each rule of
:mod:`saltseg.training.pseudo` keeps some of them, and the kept pseudo masks are scored against the true
masks. Validation images of the holdout's test split (``benchmarks/holdout.py``; a run trained on
the whole train.zip validates some) are left out, so no choice is made on them. No training.

The rules judge images cut to salt and images cut to empty apart, so the two are measured apart:
one table for the salt criteria (on the images cut to salt), one for ``empty_below`` (on those
cut to empty). Each part's choice keeps the most images at a kept score of at least
:data:`TARGET_KEPT_SCORE`; the chosen rule joins them and is measured on all the images, beside
keeping everything. Choosing the parts apart keeps a rule from reaching the target on empty
images alone, which would teach the student nothing about salt.

    python benchmarks/pseudo_rule.py --run bench-out/run25
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
from holdout import is_competition_set, test_ids

from saltseg.cut import apply_cut
from saltseg.data.hdf5 import file_sha256, read_dataset, read_predictions
from saltseg.inference.threshold import threshold
from saltseg.metric import competition_score
from saltseg.rundir import RunDir
from saltseg.training.pseudo import Rule, StableCut, UncertainShare, has_salt

TARGET_KEPT_SCORE = 0.95
"""The kept pseudo masks of each kind must score at least this against the truth (a whole
validation split scores about 0.83 after an hour: the kept images must be much surer)."""
EMPTY_BELOW = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
"""Candidate ``empty_below`` values."""


@dataclass(frozen=True)
class Figures:
    """How the images one candidate keeps out of a group score."""

    label: str
    kept: int
    group: int
    kept_score: float
    pixel_accuracy: float

    def row(self) -> str:
        """Return a Markdown table row."""
        share = self.kept / self.group if self.group else float("nan")
        return (f"| {self.label} | {self.kept} of {self.group} | {share:.3f} | {self.kept_score:.4f} | "
                f"{self.pixel_accuracy:.4f} |")


def salt_rules() -> list[Rule]:
    """Return the salt criteria measured (their ``empty_below`` is chosen apart)."""
    sides = (0.2, 0.3, 0.4, 0.45)
    return [UncertainShare(band, limit) for band in sides for limit in (0.02, 0.05, 0.1, 0.2)] + [
        StableCut(delta, min_iou) for delta in sides for min_iou in (0.7, 0.8, 0.9, 0.95)]


def salt_label(rule: Rule) -> str:
    """Return the rule's class and salt parameters (not ``empty_below``)."""
    params = ", ".join(f"{f.name}={getattr(rule, f.name)}" for f in fields(rule) if f.name != "empty_below")
    return f"{type(rule).__name__}({params})"


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


def measure(label: str, keep: np.ndarray, group: np.ndarray, masks: np.ndarray, truth: np.ndarray
            ) -> Figures:
    """Return how the pseudo ``masks`` of the kept images (``keep`` within ``group``) score."""
    kept = keep & group
    if not kept.any():
        return Figures(label, 0, int(group.sum()), float("nan"), float("nan"))
    return Figures(label, int(kept.sum()), int(group.sum()), competition_score(masks[kept], truth[kept]),
                   float((masks[kept] == (truth[kept] != 0)).mean()))


def chosen(figures: list[Figures]) -> Figures | None:
    """Return the candidate keeping the most images at TARGET_KEPT_SCORE or more, if any reaches it."""
    good = [f for f in figures if f.kept and f.kept_score >= TARGET_KEPT_SCORE]
    return max(good, key=lambda f: (f.kept, f.kept_score), default=None)


def joined_rule(rules: list[Rule], salt_figures: list[Figures], empty_figures: list[Figures]) -> Rule:
    """Return the chosen salt criterion with the chosen ``empty_below``."""
    best_salt, best_empty = chosen(salt_figures), chosen(empty_figures)
    if best_salt is None or best_empty is None:
        raise SystemExit(f"no candidate reaches a kept score of {TARGET_KEPT_SCORE} on both kinds")
    empty_below = EMPTY_BELOW[empty_figures.index(best_empty)]
    return replace(rules[salt_figures.index(best_salt)], empty_below=empty_below)  # type: ignore[type-var]


def table(title: str, figures: list[Figures]) -> str:
    """Return the figures as a Markdown table, most images kept first."""
    lines = [f"| {title} | kept | share | kept score | pixel accuracy |", "|---|---|---|---|---|"]
    return "\n".join(lines + [f.row() for f in sorted(figures, key=lambda f: -f.kept)])


def main() -> None:
    """Measure every candidate, print the two tables and the chosen rule against keeping everything."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, default=Path("/work/bench-out/run25"), help="The teacher run.")
    parser.add_argument("--data", type=Path, default=None, help="Its labelled data file, if moved.")
    args = parser.parse_args()
    run = RunDir(args.run)
    probs, truth, left_out = validation_images(run, args.data)
    cut = run.read_cut()
    masks, salt = apply_cut(probs, *cut), has_salt(probs, *cut)
    print(f"teacher {run.root}: {len(probs)} validation images ({left_out} of the test split left out), "
          f"cut at threshold {cut[0]:.2f}, min area {cut[1]}: {salt.sum()} with salt")
    rules = salt_rules()
    salt_figures = [measure(salt_label(r), r.confident(probs, *cut), salt, masks, truth) for r in rules]
    highest = probs.reshape(len(probs), -1).max(1)
    empty_figures = [measure(f"empty_below={e}", highest < e, ~salt, masks, truth) for e in EMPTY_BELOW]
    print(table("images cut to salt", salt_figures) + "\n\n" + table("images cut to empty", empty_figures))
    rule = joined_rule(rules, salt_figures, empty_figures)
    everything = np.ones(len(probs), dtype=bool)
    print(f"\nchosen (most kept of each kind at a kept score >= {TARGET_KEPT_SCORE}): {rule}\n"
          + table("all images", [measure(str(rule), rule.confident(probs, *cut), everything, masks, truth),
                                 measure("keep all", everything, everything, masks, truth)]))


if __name__ == "__main__":
    main()
