"""Pseudo-labels: a teacher run's confident predictions on unlabelled images, as extra training images.

The teacher's probabilities (``saltseg predict RUN test.h5``, a predictions file) are cut into
masks exactly as ``rle`` cuts them (:func:`saltseg.cut.apply_cut` at the teacher's threshold and
minimum area). A rule then keeps the images whose masks it finds confident, by image. An image
cut to a mask with salt is kept when

- :class:`UncertainShare`: few of its pixels have a probability near the threshold;
- :class:`StableCut`: its mask barely changes when the threshold moves a little;

an image cut to an empty mask, under either rule, only when it is confidently empty: its highest
probability stays below ``empty_below``. The two kinds are judged apart, so their parameters can
be measured apart (a rule that kept only empty images could score well and teach nothing). The
default rule and its parameters were chosen by
``benchmarks/pseudo_rule.py`` on a teacher's validation images (``benchmarks/README.md``).

:func:`check_predictions` refuses a predictions file that holds any image of a forbidden set
(the student's validation images; in the benchmarks, the test split) or that was not predicted
from the unlabelled file given, so labelled images kept for validation never reach training.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from saltseg.cut import apply_cut
from saltseg.data.hdf5 import Dataset, Predictions, file_sha256, read_dataset, read_predictions
from saltseg.errors import SaltsegError, fail

CHUNK = 1024
"""Images a rule looks at together (bounds the temporaries on 18000 test images)."""


class Rule(Protocol):
    """Decides which images' pseudo masks are confident enough to train on."""

    def confident(self, probs: np.ndarray, threshold: float, min_area: int) -> np.ndarray:
        """Return (N,) bool: keep each image of ``probs`` (N, 101, 101) cut at (threshold, min_area)."""
        ...


@dataclass(frozen=True)
class UncertainShare:
    """Keep an image when at most ``limit`` of its pixels lie within ``band`` of the threshold."""

    band: float
    limit: float
    empty_below: float = 0.05

    def confident(self, probs: np.ndarray, threshold: float, min_area: int) -> np.ndarray:
        """Return (N,) bool: few uncertain pixels where the cut mask has salt, sure emptiness where not."""
        uncertain = (np.abs(probs - np.float32(threshold)) < self.band).mean(axis=(1, 2))
        return _by_kind(probs, threshold, min_area, uncertain <= self.limit, self.empty_below)


@dataclass(frozen=True)
class StableCut:
    """Keep an image when its masks cut at threshold -/+ ``delta`` have an IoU of at least ``min_iou``."""

    delta: float
    min_iou: float
    empty_below: float = 0.05

    def confident(self, probs: np.ndarray, threshold: float, min_area: int) -> np.ndarray:
        """Return (N,) bool: a stable mask where the cut mask has salt, sure emptiness where not."""
        wide = apply_cut(probs, threshold - self.delta).reshape(len(probs), -1).sum(1)
        narrow = apply_cut(probs, threshold + self.delta).reshape(len(probs), -1).sum(1)
        iou = np.where(wide > 0, narrow / np.maximum(wide, 1), 1.0)
        return _by_kind(probs, threshold, min_area, iou >= self.min_iou, self.empty_below)


DEFAULT_RULE: Rule = StableCut(delta=0.4, min_iou=0.8, empty_below=0.05)
"""The measured default: of the candidates of ``benchmarks/pseudo_rule.py``, the one keeping the most
images of each kind at a kept score of 0.95 or more on a teacher's validation images (a 15-minute
default run on the benchmark's dev.h5: it keeps 314 of 599 at 0.963; benchmarks/README.md)."""


RULES: dict[str, type] = {"UncertainShare": UncertainShare, "StableCut": StableCut}


def rule_config(rule: Rule) -> dict[str, object]:
    """Return ``rule`` as config.json records it: its class name and parameters."""
    return {"name": type(rule).__name__, **asdict(rule)}  # type: ignore[call-overload]


def rule_from_config(saved: dict[str, object]) -> Rule:
    """Return the rule :func:`rule_config` recorded."""
    params = dict(saved)
    name = params.pop("name", None)
    if name not in RULES:
        raise SaltsegError(f"unknown pseudo-label rule {name!r}; known: {', '.join(RULES)}")
    return RULES[str(name)](**params)


@dataclass
class PseudoLabels:
    """Unlabelled images (N, 101, 101) uint8 with the teacher's masks (N, 101, 101) uint8 0/1, and the
    SHA-256 of the predictions file they came from."""

    ids: list[str]
    images: np.ndarray
    masks: np.ndarray
    source_sha256: str

    def __len__(self) -> int:
        return len(self.ids)


def select_pseudo_labels(
    predictions: Path,
    unlabelled: Path,
    cut: tuple[float, int],
    rule: Rule = DEFAULT_RULE,
    forbidden: Mapping[str, Collection[str]] | None = None,
) -> PseudoLabels:
    """Return the confident images of ``unlabelled`` with their pseudo masks.

    Args:
        predictions: the teacher's predictions file for ``unlabelled`` (``saltseg predict``).
        unlabelled: the prepared data file the predictions were made from.
        cut: the teacher's (threshold, min_area), as ``RunDir.read_cut`` returns it.
        rule: which images are confident.
        forbidden: name -> ids that must not be among the predictions (e.g. ``{"validation": ...}``).

    Returns:
        The kept images (N, 101, 101) uint8 and masks (N, 101, 101) uint8 0/1, in the file's order.
    """
    preds, data = read_predictions(predictions), read_dataset(unlabelled)
    check_predictions(predictions, preds, unlabelled, data, forbidden or {})
    keep = confident_rows(rule, preds.probs, cut)
    masks = apply_cut(preds.probs[keep], *cut)
    ids = [key for key, kept in zip(preds.ids, keep, strict=True) if kept]
    return PseudoLabels(ids, data.images[keep], masks, file_sha256(predictions))


def confident_rows(rule: Rule, probs: np.ndarray, cut: tuple[float, int]) -> np.ndarray:
    """Return (N,) bool: ``rule``'s choice for probabilities (N, 101, 101), a chunk of images at a time."""
    parts = [rule.confident(probs[i : i + CHUNK], *cut) for i in range(0, len(probs), CHUNK)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def check_predictions(
    path: Path,
    preds: Predictions,
    unlabelled: Path,
    data: Dataset,
    forbidden: Mapping[str, Collection[str]],
) -> None:
    """Raise (naming ``path``) unless ``preds`` were predicted from ``data`` and avoid ``forbidden`` ids."""
    for name, ids in forbidden.items():
        leaked = sorted(set(preds.ids).intersection(ids))
        if leaked:
            raise fail(path, f"holds {len(leaked)} images of the {name} set (e.g. {leaked[0]}); "
                             "they must not become training images")
    if preds.ids != data.ids:
        raise fail(path, f"its ids are not those of {unlabelled}, in order; predict that file")
    if preds.attrs.get("source_sha256") != file_sha256(unlabelled):
        raise fail(path, f"was not predicted from {unlabelled} (SHA-256 differs); "
                         f"run 'saltseg predict RUN {unlabelled}'")
    if preds.probs.shape != data.images.shape:
        raise fail(path, f"probabilities have shape {preds.probs.shape}, expected {data.images.shape}")


def has_salt(probs: np.ndarray, threshold: float, min_area: int) -> np.ndarray:
    """Return (N,) bool: whether each image's cut mask has salt."""
    return apply_cut(probs, threshold, min_area).reshape(len(probs), -1).any(1)


def _by_kind(probs: np.ndarray, threshold: float, min_area: int, salt_ok: np.ndarray, empty_below: float
             ) -> np.ndarray:
    """Return (N,) bool: ``salt_ok`` where the cut mask has salt, else max probability < ``empty_below``."""
    sure_empty = probs.reshape(len(probs), -1).max(1) < empty_below
    return np.where(has_salt(probs, threshold, min_area), salt_ok, sure_empty)
