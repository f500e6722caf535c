"""The run directory: every file a run holds, its name and its format, in one place.

::

    RUN/
      config.json            every training option, data SHA-256, versions (rebuilds the model)
      split.json             the seeded train/validation ids
      metrics.csv            one row per epoch (METRIC_COLUMNS)
      train.log              the training log
      curves.png             loss and score per epoch
      checkpoints/last.pt    full training state after every epoch
      checkpoints/best.pt    model weights at the best validation epoch (or of the epochs' average,
                             or every snapshot's weights under "snapshots" when their ensemble is best)
      checkpoints/snapshot-K.pt  weights ending snapshot cycle K (``train --snapshots``)
      val_probs.h5           validation probabilities (written by ``threshold``)
      threshold.json         chosen threshold and minimum area
      threshold.png          score against threshold
      predictions/<name>.h5  probabilities for a source (written by ``predict``)
      sections/<name>.<ext>  probabilities (or masks) of a seismic section or volume, with
                             <name>.<ext>.json (how it was made) and a preview PNG (``predict``)
      eval/<name>/           per_image.csv, overlays.png and probs.h5 (written by ``evaluate``); for a
                             labelled survey per_line.csv, summary.json and worst_lines.png
      .lock                  held by the ``train`` process working on the run (see saltseg.runlock)
      model.onnx             the run as one ONNX file (written by ``export``)

An ensemble (several runs whose probabilities are averaged, e.g. the K folds of ``--folds K``)
lives in a directory of its own, created by the first command given ``--ensemble ENS``::

    ENS/
      ensemble.json          {"runs": [member run directories, relative to ENS], ...}
      threshold.json         one threshold and minimum area from the members' out-of-fold
      threshold.png          validation probabilities (each member keeps its own val_probs.h5)
      predictions/<name>.h5  averaged probabilities
      eval/<name>/           as for a run
      model.onnx             the ensemble as one ONNX file (written by ``export``)

Commands given ENS alone use its members; ``rle ENS`` cuts its newest predictions with its
threshold.json, exactly as for a run.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from saltseg.atomic import atomic_path, write_text_atomic
from saltseg.errors import fail

DEFAULT_CUT = (0.5, 0)
"""Threshold and minimum area before ``threshold`` has chosen them."""
METRIC_COLUMNS = ("epoch", "train_loss", "val_loss", "val_iou", "val_map", "lr", "seconds")


class RunDir:
    """Paths and readers/writers for one run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    config_path = property(lambda self: self.root / "config.json")
    split_path = property(lambda self: self.root / "split.json")
    metrics_path = property(lambda self: self.root / "metrics.csv")
    log_path = property(lambda self: self.root / "train.log")
    curves_path = property(lambda self: self.root / "curves.png")
    checkpoints_dir = property(lambda self: self.root / "checkpoints")
    last_checkpoint = property(lambda self: self.root / "checkpoints" / "last.pt")
    best_checkpoint = property(lambda self: self.root / "checkpoints" / "best.pt")
    val_probs_path = property(lambda self: self.root / "val_probs.h5")
    threshold_path = property(lambda self: self.root / "threshold.json")
    threshold_plot_path = property(lambda self: self.root / "threshold.png")
    predictions_dir = property(lambda self: self.root / "predictions")
    ensemble_path = property(lambda self: self.root / "ensemble.json")
    lock_path = property(lambda self: self.root / ".lock")
    onnx_path = property(lambda self: self.root / "model.onnx")
    sections_dir = property(lambda self: self.root / "sections")

    def prediction_path(self, name: str) -> Path:
        """Return where predictions for the source called ``name`` are written."""
        return self.predictions_dir / f"{name}.h5"

    def section_output_path(self, name: str, suffix: str) -> Path:
        """Return the default output for the seismic section or volume called ``name`` (``suffix``
        like ".npy"): kept apart from predictions/, so ``rle`` never takes it for tile predictions."""
        return self.sections_dir / f"{name}{suffix}"

    def snapshot_checkpoint(self, cycle: int) -> Path:
        """Return where the weights that end snapshot cycle ``cycle`` (0-based) are kept."""
        return self.checkpoints_dir / f"snapshot-{cycle}.pt"

    def eval_dir(self, name: str) -> Path:
        """Return the folder of ``evaluate``'s outputs for the data called ``name``."""
        return self.root / "eval" / name

    def eval_table_path(self, name: str) -> Path:
        """Return the per-image scores CSV of ``evaluate`` on the data called ``name``."""
        return self.eval_dir(name) / "per_image.csv"

    def eval_probs_path(self, name: str) -> Path:
        """Return where ``evaluate`` keeps the probabilities it predicted for the data called ``name``."""
        return self.eval_dir(name) / "probs.h5"

    def eval_lines_path(self, name: str) -> Path:
        """Return the per-line scores CSV of ``evaluate`` on the labelled survey called ``name``."""
        return self.eval_dir(name) / "per_line.csv"

    def eval_summary_path(self, name: str) -> Path:
        """Return the summary JSON of ``evaluate`` on the labelled survey called ``name``."""
        return self.eval_dir(name) / "summary.json"

    def eval_worst_lines_path(self, name: str) -> Path:
        """Return the figure of the worst lines of ``evaluate`` on the labelled survey called ``name``."""
        return self.eval_dir(name) / "worst_lines.png"

    def eval_overlays_path(self, name: str) -> Path:
        """Return the worst/best cases figure of ``evaluate`` on the data called ``name``."""
        return self.eval_dir(name) / "overlays.png"

    def newest_prediction(self) -> Path | None:
        """Return the most recently written predictions file, or None when there is none."""
        files = [p for p in self.predictions_dir.glob("*.h5") if not p.name.startswith(".")]
        return max(files, key=lambda p: p.stat().st_mtime_ns, default=None)

    def holds_ensemble(self) -> bool:
        """Whether this folder is an ensemble directory (it has ensemble.json)."""
        return self.ensemble_path.exists()

    def read_ensemble(self) -> dict[str, Any]:
        """Return ensemble.json ({'runs': [paths relative to the ensemble directory], ...})."""
        return _read_json(self.ensemble_path, "no ensemble.json: not an ensemble directory")

    def write_ensemble(self, ensemble: dict[str, Any]) -> None:
        """Write ensemble.json atomically."""
        _write_json(self.ensemble_path, ensemble)

    def holds_run(self) -> bool:
        """Whether a run was started here (config or checkpoint present)."""
        return self.config_path.exists() or self.last_checkpoint.exists()

    def read_config(self) -> dict[str, Any]:
        """Return the run's config as written; a folder with none is not a run.

        :func:`saltseg.models.read_model_config` also checks that it rebuilds the network.
        """
        return _read_json(self.config_path, "no config.json: not a saltseg run directory")

    def write_config(self, config: dict[str, Any]) -> None:
        """Write config.json atomically."""
        _write_json(self.config_path, config)

    def read_split(self) -> dict[str, Any]:
        """Return the split ({'train': ids, 'val': ids, ...})."""
        split = _read_json(self.split_path, "no split.json in the run directory")
        for part in ("train", "val"):
            ids = split.get(part)
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise fail(self.split_path, f"has no list of '{part}' ids")
        return split

    def write_split(self, split: dict[str, Any]) -> None:
        """Write split.json atomically."""
        _write_json(self.split_path, split)

    def read_threshold(self) -> dict[str, Any] | None:
        """Return the chosen threshold and minimum area, or None before ``threshold`` has run."""
        if not self.threshold_path.exists():
            return None
        return _read_json(self.threshold_path, "")

    def read_cut(self) -> tuple[float, int]:
        """Return the (threshold, min_area) probabilities are cut at: threshold.json's, else (0.5, 0)."""
        chosen = self.read_threshold()
        if chosen is None:
            return DEFAULT_CUT
        try:
            cut = float(chosen["threshold"]), int(chosen["min_area"])
        except (KeyError, TypeError, ValueError):
            raise fail(self.threshold_path, "lacks a numeric threshold and min_area; run 'saltseg "
                       "threshold' again") from None
        if not 0 <= cut[0] <= 1 or cut[1] < 0:
            raise fail(self.threshold_path, f"holds an impossible cut {cut}; run 'saltseg threshold' again")
        return cut

    def write_threshold(self, choice: dict[str, Any]) -> None:
        """Write threshold.json atomically."""
        _write_json(self.threshold_path, choice)

    def read_metrics(self) -> list[dict[str, float]]:
        """Return metrics.csv's rows as floats (epoch as int); empty before the first epoch."""
        if not self.metrics_path.exists():
            return []
        with open(self.metrics_path, newline="") as f:
            rows = list(csv.DictReader(f))
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in r.items()} for r in rows]

    def write_metrics(self, rows: list[dict[str, float]]) -> None:
        """Rewrite metrics.csv atomically with ``rows`` (columns METRIC_COLUMNS)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _fmt(r[k]) for k in METRIC_COLUMNS} for r in rows)
        write_text_atomic(self.metrics_path, out.getvalue())

    def require_model(self) -> None:
        """Raise unless the run has what prediction needs: config.json and best.pt."""
        if not self.root.is_dir():
            raise fail(self.root, "no such run directory")
        for path in (self.config_path, self.best_checkpoint):
            if not path.exists():
                raise fail(self.root, f"no {path.relative_to(self.root)}: not a trained run")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save ``state`` with torch.save under a temporary name, then rename it into place.

    The checkpoint is serialised in memory and written with one plain write, so a full disk
    surfaces as the file system's own error (torch's writer reports it as an opaque RuntimeError).
    """
    import torch  # at call time, like every use of torch here: rle and prepare never need it

    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint saved by :func:`save_checkpoint` (weights_only, so no code runs)."""
    import torch

    if not path.exists():
        raise fail(path, "no such checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise fail(path, f"unreadable checkpoint ({type(exc).__name__})") from None


def _fmt(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def _read_json(path: Path, missing: str) -> dict[str, Any]:
    if not path.exists():
        raise fail(path.parent, missing)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise fail(path, "not valid JSON") from None
    except OSError as exc:
        raise fail(path, f"cannot be read ({exc.strerror})") from None
    if not isinstance(obj, dict):
        raise fail(path, "is not a JSON object")
    return obj


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")
