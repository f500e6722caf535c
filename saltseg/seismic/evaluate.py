"""``saltseg evaluate RUN SEISMIC --labels LABELS``: score a run on a labelled survey's lines.

Each chosen line is predicted through the section path, exactly as ``predict`` predicts a section
(windows, blending, TTA, gate, the run's threshold and minimum area per 8-connected region), and
compared with its labels where it is labelled and has traces. Per line: IoU, salt precision and
recall; over the lines: the same from the summed counts. Written under ``RUN/eval/<name>/``:
``per_line.csv``, ``summary.json`` and ``worst_lines.png`` (the seismic in grey, the true salt
outlined in green, the predicted in red).

Lines: every labelled line along ``along`` by default; ``lines`` picks line numbers
(``1040,1045,1100-1150``); ``split="validation"`` the run's own held-out lines (its split.json),
which needs the run to have been trained on a data file prepared from this seismic.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from saltseg.atomic import write_text_atomic
from saltseg.console import progress_bar
from saltseg.errors import SaltsegError, fail
from saltseg.inference.predictor import Models, Predictor, load_predictor, resolve
from saltseg.seismic.labels import SurveyLabels, open_labels, salt_mask
from saltseg.seismic.options import ALONG, AmplitudeOptions, VolumeOptions, WindowOptions, check_options
from saltseg.seismic.preview import write_comparison
from saltseg.seismic.regions import cut_section
from saltseg.seismic.survey import SurveyPixels, open_survey, trained_amplitude
from saltseg.seismic.volume import AXIS_NAMES
from saltseg.seismic.windows import predict_section

log = logging.getLogger("saltseg")

WORST_LINES = 4
LINE_COLUMNS = ("line", "iou", "precision", "recall", "true_area", "pred_area", "labelled_samples")


@dataclass
class LineScore:
    """A line's counts: labelled samples, true and predicted salt, and their intersection."""

    line: str
    labelled: int
    true_area: int
    pred_area: int
    intersection: int

    @property
    def iou(self) -> float:
        """Intersection over union; 1 when neither holds salt."""
        union = self.true_area + self.pred_area - self.intersection
        return self.intersection / union if union else 1.0

    @property
    def precision(self) -> float:
        """Share of the predicted salt that is salt; 1 when none is predicted."""
        return self.intersection / self.pred_area if self.pred_area else 1.0

    @property
    def recall(self) -> float:
        """Share of the true salt that is predicted; 1 when there is none."""
        return self.intersection / self.true_area if self.true_area else 1.0


@dataclass
class SurveyEvalResult:
    """What ``evaluate`` of a labelled survey found and wrote."""

    lines: list[LineScore]
    total: LineScore
    threshold: float
    min_area: int
    out_dir: Path
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as written to summary.json."""
        return {"lines": len(self.lines), "iou": self.total.iou, "precision": self.total.precision,
                "recall": self.total.recall, "mean_line_iou": float(np.mean([s.iou for s in self.lines])),
                "threshold": self.threshold, "min_area": self.min_area, **asdict(self.total), **self.notes}

    def summary(self) -> str:
        """Return the one-line summary printed on stdout."""
        total = self.total
        return (f"IoU {total.iou:.4f} over {len(self.lines)} lines (precision {total.precision:.4f}, "
                f"recall {total.recall:.4f}; mean line IoU {self.as_dict()['mean_line_iou']:.4f}) "
                f"-> {self.out_dir}")


@dataclass(frozen=True)
class LineChoice:
    """Which lines to score: ``along`` an axis, the line numbers ``lines``, or the run's ``split``."""

    along: str = "inline"
    lines: str | None = None
    split: str | None = None


def evaluate_survey(runs: list[Path], source: Path, labels: Path, choice: LineChoice = LineChoice(),
                    salt_class: int | None = None, ensemble: Path | None = None,
                    windows: WindowOptions = WindowOptions(),
                    volume: VolumeOptions = VolumeOptions(), amplitude: AmplitudeOptions = AmplitudeOptions(),
                    batch_size: int = 64, device: str = "auto") -> SurveyEvalResult:
    """Predict the chosen labelled lines of a survey as ``predict`` would, score them, write the report.

    Raises:
        SaltsegError: bad options or files, labels of another geometry, no labelled line chosen.
    """
    check_options(windows, amplitude, volume)
    models = resolve(runs, ensemble)
    amplitude = trained_amplitude(models.members[0], Path(source), amplitude)
    cut = models.home.read_cut()
    with open_survey(Path(source), volume, amplitude) as survey:
        axis, wanted, columns = _chosen_lines(models, survey, choice)
        with open_labels(Path(labels), survey, volume, (axis,)) as truth:
            predictor = load_predictor(models, device, batch_size, windows.tta)
            scores, panels = _score_lines(predictor, survey, truth, (axis, wanted, columns), salt_class,
                                          windows, cut)
    if not scores:
        raise fail(labels, f"labels none of the chosen {AXIS_NAMES[axis]}s")
    name = _eval_name(Path(source), choice)
    result = SurveyEvalResult(scores, _summed(scores), *cut, models.home.eval_dir(name),
                              {"axis": AXIS_NAMES[axis]})
    _write_report(models, result, panels, name)
    models.save()
    return result


def _chosen_lines(models: Models, survey: SurveyPixels, choice: LineChoice
                  ) -> tuple[int, list[int], np.ndarray | None]:
    """Return the axis, the line indices to score and (a 2-D section's validation) the trace columns."""
    if choice.split is not None:
        return _validation_lines(models, survey, choice.split)
    if choice.along not in ALONG or len(ALONG[choice.along]) != 1:
        raise SaltsegError(f"--along must be inline or crossline to evaluate, got '{choice.along}'")
    axis = ALONG[choice.along][0] if ALONG[choice.along][0] in survey.axes else survey.axes[0]
    numbers = survey.numbers[axis]
    if choice.lines is None:
        return axis, list(range(len(numbers))), None
    wanted = parse_lines(choice.lines)
    unknown = sorted(wanted - {int(n) for n in numbers})
    if unknown:
        raise SaltsegError(f"--lines names {AXIS_NAMES[axis]} {unknown[0]}, which {survey.source.name} lacks "
                           f"({AXIS_NAMES[axis]}s {int(numbers.min())}..{int(numbers.max())})")
    return axis, [i for i, n in enumerate(numbers) if int(n) in wanted], None


def _validation_lines(models: Models, survey: SurveyPixels, split: str
                      ) -> tuple[int, list[int], np.ndarray | None]:
    """Return the run's held-out lines of ``survey`` (split.json's ``apart``)."""
    if split != "validation":
        raise SaltsegError(f"--split takes 'validation', got '{split}'")
    if len(models.members) != 1:
        raise SaltsegError("--split validation scores one run's held-out lines: name one run")
    run = models.members[0]
    apart = run.read_split().get("apart")
    if apart is None:
        raise fail(run.split_path, "holds no lines apart in space: not a run trained on a labelled survey")
    axis = AXIS_NAMES.index(apart["axis"])
    numbers = survey.numbers[axis]
    index = {int(n): i for i, n in enumerate(numbers)}
    if not set(apart["val_lines"]) <= set(index):
        raise fail(survey.source, f"lacks the run's validation {apart['axis']}s: not the survey it learned")
    held_out = [index[n] for n in apart["val_lines"]]
    if axis in survey.axes:
        return axis, held_out, None
    return survey.axes[0], [0], np.array(held_out)


def parse_lines(text: str) -> set[int]:
    """Return the line numbers of ``1040,1045,1100-1150``."""
    numbers: set[int] = set()
    for part in text.split(","):
        found = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if found is None:
            raise SaltsegError(f"--lines takes numbers and ranges like 1040,1045,1100-1150, got {text!r}")
        numbers.update(range(int(found[1]), int(found[2] or found[1]) + 1))
    return numbers


Panel = tuple[str, np.ndarray, np.ndarray, np.ndarray]


Chosen = tuple[int, list[int], "np.ndarray | None"]


def _score_lines(predictor: Predictor, survey: SurveyPixels, truth: SurveyLabels, chosen: Chosen,
                 salt_class: int | None, windows: WindowOptions, cut: tuple[float, int]
                 ) -> tuple[list[LineScore], dict[str, Panel]]:
    """Predict and score each labelled line of ``chosen`` (axis, line indices, trace columns or None);
    return the scores and each line's panel."""
    axis, wanted, columns = chosen
    scores, panels = [], {}
    with progress_bar() as bar:
        task = bar.add_task(f"{AXIS_NAMES[axis]}s", total=len(wanted))
        for index in wanted:
            bar.advance(task)
            labels = truth.line(axis, index)
            if labels is None:
                continue
            pixels, missing = survey.line(axis, index)
            scored = np.isfinite(labels) & ~missing[None, :]
            if columns is not None:
                scored[:, np.setdiff1d(np.arange(scored.shape[1]), columns)] = False
            true = np.zeros(labels.shape, np.uint8)
            true[scored] = salt_mask(labels[scored], salt_class, truth.path)
            pred = cut_section(predict_section(predictor, pixels, windows), *cut) * scored
            name = survey.line_name(axis, index)
            scores.append(LineScore(name, int(scored.sum()), int(true.sum()), int(pred.sum()),
                                    int((true & pred).sum())))
            panels[name] = (name, pixels, true, pred)
    return scores, panels


def _summed(scores: list[LineScore]) -> LineScore:
    return LineScore("all", *(sum(getattr(s, k) for s in scores)
                              for k in ("labelled", "true_area", "pred_area", "intersection")))


def _eval_name(source: Path, choice: LineChoice) -> str:
    return f"{source.stem}-validation" if choice.split else source.stem


def _write_report(models: Models, result: SurveyEvalResult, panels: dict[str, Panel], name: str) -> None:
    """Write per_line.csv, summary.json and worst_lines.png under the home's eval/<name>/."""
    home = models.home
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(LINE_COLUMNS)
    for s in result.lines:
        writer.writerow([s.line, f"{s.iou:.6f}", f"{s.precision:.6f}", f"{s.recall:.6f}", s.true_area,
                         s.pred_area, s.labelled])
    write_text_atomic(home.eval_lines_path(name), table.getvalue())
    write_text_atomic(home.eval_summary_path(name), json.dumps(result.as_dict(), indent=2) + "\n")
    worst = sorted(result.lines, key=lambda s: s.iou)[:WORST_LINES]
    write_comparison(home.eval_worst_lines_path(name),
                     [(f"{panels[s.line][0]}: IoU {s.iou:.3f}", *panels[s.line][1:]) for s in worst])
    log.info("wrote per_line.csv, summary.json and worst_lines.png in %s", home.eval_dir(name))
