"""A labelled survey: prepare cuts it into patches, train holds out blocks of lines apart in space,
evaluate scores its lines; on small volumes made here (benchmarks/synthetic_survey.py's model)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import segyio
from helpers import assert_one_line_error, invoke
from PIL import Image
from runs import TINY, ok, train_args

from saltseg.data.hdf5 import read_dataset
from saltseg.data.split import make_block_split
from saltseg.inference.predictor import load_predictor, resolve
from saltseg.rundir import RunDir
from saltseg.seismic.amplitude import AmplitudeMap
from saltseg.seismic.options import AmplitudeOptions, VolumeOptions, WindowOptions
from saltseg.seismic.regions import cut_section
from saltseg.seismic.survey import open_survey
from saltseg.seismic.windows import predict_section
from saltseg.shapes import IMAGE_SIZE

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from synthetic_survey import every_kth_inline, make_survey, write_segy

SHAPE = (104, 130, 120)  # inlines, crosslines, samples: crosslines hold one 101-trace patch


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A small synthetic survey as .npy: (folder, seismic float32, salt labels uint8)."""
    folder = tmp_path_factory.mktemp("survey")
    seismic, salt = make_survey(SHAPE, seed=3)
    np.save(folder / "seismic.npy", seismic)
    np.save(folder / "labels.npy", salt)
    return folder, seismic, salt


def _prepared(folder: Path, *args: object, name: str = "s.h5", labels: str = "labels.npy") -> Path:
    ok(invoke("prepare", folder / "seismic.npy", "--labels", folder / labels, "--out", folder / name,
              "--force", *args))
    return folder / name


def _mapping(data_file: Path) -> AmplitudeMap:
    record = json.loads(read_dataset(data_file).attrs["survey"])["amplitude"]
    return AmplitudeMap(record["low"], record["high"])


def test_a_patch_is_its_slice_of_the_mapped_seismic_and_of_the_labels(survey: tuple) -> None:
    folder, seismic, salt = survey
    data = read_dataset(_prepared(folder, "--along", "both"))
    mapping = _mapping(folder / "s.h5")
    for k in range(0, len(data), 37):
        axis, line, sample, trace = data.origins[k]
        section = seismic[line] if axis == 0 else seismic[:, line]
        labels = salt[line] if axis == 0 else salt[:, line]
        window = (slice(trace, trace + IMAGE_SIZE), slice(sample, sample + IMAGE_SIZE))
        np.testing.assert_array_equal(data.images[k], mapping.to_uint8(section[window]).T)
        np.testing.assert_array_equal(data.masks[k], labels[window].T)
        name = ("inline", "crossline")[axis]
        assert data.ids[k] == f"{name}{line}_s{sample}_t{trace}"


@pytest.mark.parametrize(("patch", "stride", "rows", "columns"), [(101, None, [0, 19], [0, 29]),
                                                                   (101, 10, [0, 10, 19], [0, 10, 20, 29]),
                                                                   (60, 30, [0, 30, 60], [0, 30, 60, 70])])
def test_patches_sit_every_stride_and_the_last_ends_at_the_edge(survey: tuple, patch: int, stride: int | None,
                                                                 rows: list[int], columns: list[int]) -> None:
    folder, _, _ = survey
    extra = ("--patch", patch) + (("--stride", stride) if stride else ())
    data = read_dataset(_prepared(folder, *extra))
    assert len(data) == SHAPE[0] * len(rows) * len(columns)
    line = data.origins[data.origins[:, 1] == 5]
    assert sorted({int(r) for r in line[:, 2]}) == rows and sorted({int(c) for c in line[:, 3]}) == columns
    assert data.images.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE)


def test_unlabelled_lines_are_skipped(survey: tuple) -> None:
    folder, _, salt = survey
    np.save(folder / "every5.npy", every_kth_inline(salt, 5))
    data = read_dataset(_prepared(folder, labels="every5.npy", name="every5.h5"))
    assert sorted({int(line) for line in data.origins[:, 1]}) == list(range(0, SHAPE[0], 5))


def test_a_folder_of_line_masks_named_by_number_labels_those_lines(survey: tuple) -> None:
    folder, _, salt = survey
    masks = folder / "painted"
    masks.mkdir(exist_ok=True)
    for line in (3, 11):
        Image.fromarray(salt[line].T * np.uint8(255)).save(masks / f"il_{line}.png")
    data = read_dataset(_prepared(folder, labels="painted", name="painted.h5"))
    assert sorted({int(line) for line in data.origins[:, 1]}) == [3, 11]
    reference = read_dataset(_prepared(folder, name="all.h5"))
    for k, pid in enumerate(data.ids):
        np.testing.assert_array_equal(data.masks[k], reference.masks[reference.ids.index(pid)])


def test_class_k_is_salt_and_classes_without_it_are_refused(survey: tuple) -> None:
    folder, _, salt = survey
    classes = (salt * 2 + (np.arange(SHAPE[2]) > 60)).astype(np.int16)  # 0, 1: sediments; 2, 3: salt
    np.save(folder / "facies.npy", classes)
    data = read_dataset(_prepared(folder, "--class", 3, labels="facies.npy", name="facies.h5"))
    reference = read_dataset(_prepared(folder, name="all.h5"))
    deep = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for k in range(len(data)):
        sample = data.origins[k, 2]
        deep[:] = (np.arange(sample, sample + IMAGE_SIZE) > 60)[:, None]
        np.testing.assert_array_equal(data.masks[k], reference.masks[k] & deep)
    result = invoke("prepare", folder / "seismic.npy", "--labels", folder / "facies.npy", "--out",
                    folder / "no.h5")
    assert_one_line_error(result, "facies.npy", "--class")
    assert not (folder / "no.h5").exists()


def test_a_geometry_that_differs_is_one_line_naming_both(survey: tuple) -> None:
    folder, _, salt = survey
    np.save(folder / "short.npy", salt[:, :, :100])
    short = folder / "short.npy"
    result = invoke("prepare", folder / "seismic.npy", "--labels", short, "--out", folder / "x.h5")
    assert_one_line_error(result, "short.npy", "seismic.npy", "104x130x100", "104x130x120")
    assert not (folder / "x.h5").exists()


def test_a_section_and_its_mask_image_prepare(survey: tuple) -> None:
    folder, seismic, salt = survey
    np.save(folder / "section.npy", seismic[7].T)
    Image.fromarray(salt[7].T * np.uint8(255)).save(folder / "section_mask.png")
    ok(invoke("prepare", folder / "section.npy", "--labels", folder / "section_mask.png", "--out",
              folder / "section.h5"))
    data = read_dataset(folder / "section.h5")
    line = read_dataset(_prepared(folder, name="all.h5"))
    rows = line.origins[:, 1] == 7
    np.testing.assert_array_equal(data.masks, line.masks[rows])


def test_no_validation_patch_overlaps_a_training_patch(survey: tuple) -> None:
    folder, _, _ = survey
    data = read_dataset(_prepared(folder, "--along", "both", "--stride", 30))
    record = json.loads(data.attrs["survey"])
    for fold in range(3):
        split = make_block_split(data.ids, data.origins, record, 0, 0.2, 3, fold)
        val, train = (np.isin(data.ids, split[part]) for part in ("val", "train"))
        covered = {part: np.zeros(SHAPE[:2], bool) for part in ("val", "train")}
        for part, rows in (("val", val), ("train", train)):
            for axis, line, _, trace in data.origins[rows]:
                if axis == 0:
                    covered[part][line, trace : trace + IMAGE_SIZE] = True
                else:
                    covered[part][trace : trace + IMAGE_SIZE, line] = True
        assert val.any() and train.any() and not (covered["val"] & covered["train"]).any()
        gap = split["apart"]["gap"]
        val_lines, train_lines = set(split["apart"]["val_lines"]), set(split["apart"]["train_lines"])
        assert min(abs(v - t) for v in val_lines for t in train_lines) > gap


def test_evaluate_scores_lines_as_a_direct_computation(survey: tuple, trained_run: Path, tmp_path: Path
                                                        ) -> None:
    folder, seismic, salt = survey
    run = Path(shutil.copytree(trained_run, tmp_path / "run"))
    result = ok(invoke("evaluate", run, folder / "seismic.npy", "--labels", folder / "labels.npy",
                       "--lines", "2,9-10", "--json", "--device", "cpu"))
    summary = json.loads(result.stdout)
    predictor = load_predictor(resolve([run]), "cpu")
    with open_survey(folder / "seismic.npy", VolumeOptions(), AmplitudeOptions()) as opened:
        mapping = opened.mapping
    inter = union = 0
    for line in (2, 9, 10):
        pixels = mapping.to_uint8(seismic[line]).T
        pred = cut_section(predict_section(predictor, pixels, WindowOptions()), *RunDir(run).read_cut())
        true = salt[line].T
        inter += int((pred & true).sum())
        union += int((pred | true).sum())
    assert summary["lines"] == 3
    assert summary == json.loads(RunDir(run).eval_summary_path("seismic").read_text())
    assert summary["iou"] == pytest.approx(inter / union if union else 1.0)
    rows = RunDir(run).eval_lines_path("seismic").read_text().splitlines()
    assert rows[0].startswith("line,iou")
    assert [r.split(",")[0] for r in rows[1:]] == ["inline 2", "inline 9", "inline 10"]
    assert RunDir(run).eval_worst_lines_path("seismic").stat().st_size > 0


def test_a_run_trained_on_a_survey_holds_out_lines_and_evaluates_them(survey: tuple, tmp_path: Path) -> None:
    folder, _, _ = survey
    data_file = _prepared(folder, "--stride", 30, name="train.h5")
    run = tmp_path / "survey-run"
    ok(invoke(*train_args(data_file, run, "--epochs", "1")))
    split = RunDir(run).read_split()
    assert split["apart"]["axis"] == "inline" and split["apart"]["val_lines"]
    result = ok(invoke("evaluate", run, folder / "seismic.npy", "--labels", folder / "labels.npy",
                       "--split", "validation", "--json", "--device", "cpu"))
    summary = json.loads(result.stdout)
    assert summary["lines"] == len(split["apart"]["val_lines"])
    assert "amplitudes clipped" in result.stderr
    predicted = ok(invoke("predict", run, folder / "seismic.npy", "--out", tmp_path / "p.npy",
                          "--device", "cpu", "--no-preview"))
    recorded = json.loads((tmp_path / "p.npy.json").read_text())["amplitude"]
    trained = _mapping(data_file)
    assert (recorded["low"], recorded["high"]) == (trained.low, trained.high)
    assert "amplitudes clipped" in predicted.stderr


def test_the_survey_example_predicts_the_volume_and_scores_held_out_lines(tmp_path: Path) -> None:
    seismic, salt = make_survey((40, 110, 104), seed=5)
    write_segy(tmp_path / "survey.sgy", seismic)
    write_segy(tmp_path / "labels.sgy", every_kth_inline(salt, 4))
    env = {**os.environ, "BUDGET": "8s", "TRAIN_ARGS": " ".join(map(str, (*TINY, "--device", "cpu"))),
           "DEVICE": "cpu"}
    script = Path(__file__).resolve().parent.parent / "examples" / "survey.sh"
    done = subprocess.run(["bash", str(script), "survey.sgy", "labels.sgy", "work"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    with segyio.open(tmp_path / "work" / "survey-salt.sgy", ignore_geometry=True) as f:
        masks = f.trace.raw[:]
    assert masks.shape == (40 * 110, 104) and set(np.unique(masks)) <= {0.0, 1.0}
    held_out = RunDir(tmp_path / "work" / "run").read_split()["apart"]["val_lines"]
    summary = json.loads(RunDir(tmp_path / "work" / "run").eval_summary_path("survey-validation").read_text())
    assert summary["lines"] == len(held_out) and 0 <= summary["iou"] <= 1
