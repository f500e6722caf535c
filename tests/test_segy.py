"""SEG-Y and 3-D volumes: files built here with segyio, predicted by a tiny network, read back.

The expected probabilities are computed independently of the volume code: the source's traces
as segyio reads them, mapped by the recorded amplitude map, each section given to
``predict_section`` samples down, as a user would do it by hand.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import segyio
import torch
from helpers import assert_one_line_error, invoke

from saltseg.errors import SaltsegError
from saltseg.inference.predictor import Predictor, load_predictor
from saltseg.models import build_model
from saltseg.rundir import RunDir, save_checkpoint
from saltseg.seismic import volume as volumes
from saltseg.seismic.amplitude import AmplitudeMap, amplitude_map
from saltseg.seismic.options import AmplitudeOptions, VolumeOptions, WindowOptions
from saltseg.seismic.regions import cut_section
from saltseg.seismic.segy import with_notes
from saltseg.seismic.volume import predict_volume_file
from saltseg.seismic.windows import predict_section
from saltseg.training.config import new_config
from saltseg.training.options import TrainOptions

IBM, INT32, INT16, IEEE = 1, 2, 3, 5
DTYPES = {IBM: np.float32, INT32: np.int32, INT16: np.int16, IEEE: np.float32}
WINDOWS = WindowOptions()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory of the default network (resunet with its gate), 4 filters, random weights."""
    root = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    config = new_config(TrainOptions(start_filters=4, run=root), torch.device("cpu"))
    RunDir(root).write_config(config)
    save_checkpoint(RunDir(root).best_checkpoint, {"model": build_model(config).state_dict()})
    return root


@pytest.fixture(scope="module")
def predictor(run: Path) -> Predictor:
    return load_predictor([RunDir(run)], "cpu", 64, tta=True)


def seismic(shape: tuple[int, int, int], scale: float = 1000.0, seed: int = 0) -> np.ndarray:
    """Return a seismic-like volume (inline, crossline, sample) float32: dipping layers, a quiet body."""
    rng = np.random.default_rng(seed)
    il, xl, t = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij")
    layers = np.sin(0.35 * t + 0.04 * xl + 0.02 * il) * np.cos(0.05 * t)
    body = ((xl - shape[1] / 2) ** 2 + (t - shape[2] / 2) ** 2) < (min(shape[1:]) / 4) ** 2
    data = np.where(body, 0.1, 1.0) * layers + 0.1 * rng.standard_normal(shape)
    return (scale * data).astype(np.float32)


def write_segy(path: Path, data: np.ndarray, fmt: int = IEEE, endian: str = "big",
               crossline_sorted: bool = False, missing: tuple[tuple[int, int], ...] = (),
               line: bool = False) -> Path:
    """Write ``data`` (inline, crossline, sample) as SEG-Y, inlines numbered from 21, crosslines from 301.

    ``missing`` (inline, crossline) cells get no trace; ``line`` writes a 2-D line (one inline)
    whose inline/crossline header bytes stay zero.
    """
    n_il, n_xl, n_samples = data.shape
    cells = [(i, j) for i in range(n_il) for j in range(n_xl) if (i, j) not in missing]
    if crossline_sorted:
        cells.sort(key=lambda c: (c[1], c[0]))
    samples = np.rint(data).astype(DTYPES[fmt]) if fmt in (INT32, INT16) else data
    spec = segyio.spec()
    spec.tracecount, spec.samples, spec.format, spec.endian = len(cells), list(range(n_samples)), fmt, endian
    with segyio.create(str(path), spec) as f:
        f.bin.update(hdt=4000, hns=n_samples, tsort=1 if line else (3 if crossline_sorted else 2))
        for number, (i, j) in enumerate(cells):
            numbers = {} if line else {segyio.su.iline: 21 + i, segyio.su.xline: 301 + j}
            f.header[number] = {**numbers, segyio.su.cdp: 1000 + j, segyio.su.cdpx: 5000 + 25 * j,
                                segyio.su.cdpy: 7000 + 25 * i, segyio.su.ns: n_samples, segyio.su.dt: 4000}
            f.trace[number] = samples[i, j]
    return path


def read_traces(path: Path, endian: str = "big") -> np.ndarray:
    with segyio.open(str(path), ignore_geometry=True, endian=endian) as f:
        return f.trace.raw[:].astype(np.float32)


def expected_probs(predictor: Predictor, data: np.ndarray, out: Path, axis: int = 0) -> np.ndarray:
    """Return the probabilities of every section of ``data`` along ``axis``, predicted one by one,
    its samples mapped to pixels as the record beside ``out`` says."""
    recorded = json.loads(out.with_name(f"{out.name}.json").read_text())["amplitude"]
    pixels = AmplitudeMap(recorded["low"], recorded["high"]).to_uint8(data)
    sections = np.moveaxis(pixels, axis, 0)
    probs = np.stack([predict_section(predictor, section.T, WINDOWS).T for section in sections])
    return np.moveaxis(probs, 0, axis)


def predict(predictor: Predictor, source: Path, out: Path, cut: tuple[float, int] | None = None,
            **options: object) -> None:
    predict_volume_file(predictor, source, out, WINDOWS, AmplitudeOptions(), VolumeOptions(**options), cut)


def assert_same_headers(source: Path, out: Path, endian: str = "big") -> None:
    """Assert ``out`` has ``source``'s trace count, samples and headers, but for the sample format
    (5) and the notes written into the textual header's free lines."""
    with segyio.open(str(source), ignore_geometry=True, endian=endian) as a, \
            segyio.open(str(out), ignore_geometry=True, endian=endian) as b:
        assert b.tracecount == a.tracecount and list(b.samples) == list(a.samples)
        assert dict(b.bin) == {**dict(a.bin), segyio.BinField.Format: IEEE}
        assert all(dict(b.header[i]) == dict(a.header[i]) for i in range(a.tracecount))
        lines = [[bytes(t[k : k + 80]) for k in range(0, 3200, 80)] for t in (a.text[0], b.text[0])]
        changed = [(x, y) for x, y in zip(*lines, strict=True) if x != y]
        assert b"saltseg" in b"".join(y for _, y in changed)
        assert all(not x[4:].strip(b" \x80") and y[:4] == x[:4] for x, y in changed)  # free lines only


@pytest.mark.parametrize(("fmt", "endian", "crossline_sorted"), [
    (IBM, "big", False), (IEEE, "little", True), (INT32, "big", True), (INT16, "little", False)])
def test_segy_output_keeps_headers_and_holds_each_inline_prediction(
        tmp_path: Path, predictor: Predictor, fmt: int, endian: str, crossline_sorted: bool) -> None:
    data = seismic((3, 104, 110), scale=15000.0 if fmt == INT16 else 1000.0)
    source = write_segy(tmp_path / "survey.sgy", data, fmt, endian, crossline_sorted)
    stored = read_traces(source, endian)  # IBM and integer rounding included
    out = tmp_path / "out" / "salt.sgy"
    predict(predictor, source, out, endian=endian)

    assert_same_headers(source, out, endian)
    order = [(i, j) for i in range(3) for j in range(104)]
    if crossline_sorted:
        order.sort(key=lambda c: (c[1], c[0]))
    as_read = np.empty_like(data)
    as_read[tuple(np.array(order).T)] = stored
    want = expected_probs(predictor, as_read, out)[tuple(np.array(order).T)]
    got = read_traces(out, endian)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert got.std() > 1e-4  # the network's output depends on its input
    record = json.loads((tmp_path / "out" / "salt.sgy.json").read_text())
    assert record["amplitude"]["high"] == pytest.approx(amplitude_map(as_read, AmplitudeOptions()).high)
    assert record["amplitude"]["low"] == -record["amplitude"]["high"]
    written = sorted(p.name for p in out.parent.iterdir())
    assert written == ["salt.sgy", "salt.sgy.json", "salt.sgy.preview.png"]


def test_missing_traces_stay_absent(tmp_path: Path, predictor: Predictor) -> None:
    data = seismic((3, 102, 101))
    missing = ((0, 5), (2, 101))
    source = write_segy(tmp_path / "holes.sgy", data, missing=missing)
    predict(predictor, source, tmp_path / "salt.sgy")
    predict(predictor, source, tmp_path / "salt.npy")

    assert_same_headers(source, tmp_path / "salt.sgy")
    dense = np.load(tmp_path / "salt.npy")
    holes = np.isnan(dense).all(axis=-1)
    assert sorted(zip(*np.nonzero(holes), strict=True)) == list(missing)
    present = ~holes
    np.testing.assert_array_equal(read_traces(tmp_path / "salt.sgy"), dense[present])


def test_a_2d_line_without_inline_numbers_is_one_section(tmp_path: Path, predictor: Predictor) -> None:
    data = seismic((1, 150, 120))
    source = write_segy(tmp_path / "line.segy", data, IBM, line=True)
    predict(predictor, source, tmp_path / "salt.segy", along="both")

    assert_same_headers(source, tmp_path / "salt.segy")
    want = expected_probs(predictor, read_traces(source)[None], tmp_path / "salt.segy")[0]
    np.testing.assert_allclose(read_traces(tmp_path / "salt.segy"), want, atol=1e-6)


def test_crosslines_and_both_average_through_a_disk_accumulator(tmp_path: Path, predictor: Predictor,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    data = seismic((101, 102, 101))
    source = tmp_path / "cube.npy"
    np.save(source, data)
    monkeypatch.setattr(volumes, "SLAB_BYTES", 3 * 102 * 101 * 4)  # slabs of 3 inlines, 2 crosslines
    predict(predictor, source, tmp_path / "crosslines.npy", along="crossline")
    predict(predictor, source, tmp_path / "both.npy", along="both")

    crosslines = expected_probs(predictor, data, tmp_path / "crosslines.npy", axis=1)
    np.testing.assert_allclose(np.load(tmp_path / "crosslines.npy"), crosslines, atol=1e-6)
    inlines = expected_probs(predictor, data, tmp_path / "both.npy", axis=0)
    crosslines = expected_probs(predictor, data, tmp_path / "both.npy", axis=1)
    np.testing.assert_allclose(np.load(tmp_path / "both.npy"), (inlines + crosslines) / 2, atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no accumulator left


def test_masks_are_cut_section_by_section(tmp_path: Path, predictor: Predictor) -> None:
    data = seismic((2, 103, 101))
    source = write_segy(tmp_path / "survey.sgy", data)
    predict(predictor, source, tmp_path / "probs.npy")
    probs = np.load(tmp_path / "probs.npy")
    threshold = float(np.median(probs))
    predict(predictor, source, tmp_path / "mask.sgy", cut=(threshold, 30))
    predict(predictor, source, tmp_path / "mask.npy", cut=(threshold, 30))

    want = np.stack([cut_section(section.T, threshold, 30).T for section in probs])
    got = np.load(tmp_path / "mask.npy")
    assert got.dtype == np.uint8 and 0 < want.mean() < 1
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(read_traces(tmp_path / "mask.sgy"), want.reshape(-1, 101))
    record = json.loads((tmp_path / "mask.sgy.json").read_text())
    assert (record["threshold"], record["min_area"]) == (threshold, 30)


def test_notes_fill_free_lines_only(tmp_path: Path) -> None:
    text = b"".join(f"C{i:2d} {'SURVEY' if i < 38 else ''}".ljust(80).encode() for i in range(1, 41))
    noted = with_notes(text, ["first", "second"], tmp_path)
    assert noted[38 * 80 :] == b"C39 first".ljust(80) + b"C40 second".ljust(80)
    assert noted[: 38 * 80] == text[: 38 * 80]
    full = b"".join(f"C{i:2d} USED".ljust(80).encode() for i in range(1, 41))
    assert with_notes(full, ["note"], tmp_path) == full


def test_sigterm_while_writing_leaves_nothing(tmp_path: Path, predictor: Predictor) -> None:
    source = write_segy(tmp_path / "survey.sgy", seismic((30, 101, 101)))
    out_dir = tmp_path / "out"

    def terminate_once_writing() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if out_dir.exists() and any(out_dir.iterdir()):
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.001)

    watcher = threading.Thread(target=terminate_once_writing)
    watcher.start()
    with pytest.raises(KeyboardInterrupt):
        predict(predictor, source, out_dir / "salt.sgy")
    watcher.join()
    assert list(out_dir.iterdir()) == []


def bad_volumes(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    """Return name -> (a bad source, extra CLI options), each refused before anything is written."""
    shared = seismic((2, 101, 101))
    gathers = np.concatenate([shared, shared])  # two traces per (inline, crossline): pre-stack
    sources = {
        "not_segy": (folder / "text.sgy", []),
        "gathers": (folder / "gathers.sgy", []),
        "wrong_endian": (write_segy(folder / "little.sgy", seismic((2, 101, 257)), endian="little"),
                         ["--endian", "big"]),
        "bad_byte": (write_segy(folder / "fine.sgy", shared), ["--iline", "190"]),
        "npy_to_segy": (folder / "cube.npy", ["--out", folder / "out" / "salt.sgy"]),
    }
    (folder / "text.sgy").write_text("this is not SEG-Y\n" * 500)
    write_segy(folder / "gathers.sgy", gathers[:, :, :])
    with segyio.open(str(folder / "gathers.sgy"), "r+", ignore_geometry=True) as f:
        for number in range(f.tracecount):
            f.header[number] = {segyio.su.iline: 21 + number // 101 % 2, segyio.su.xline: 301 + number % 101}
    np.save(folder / "cube.npy", shared)
    return sources


@pytest.mark.parametrize("case", ["not_segy", "gathers", "wrong_endian", "bad_byte", "npy_to_segy"])
def test_bad_volumes_exit_2_naming_the_file_and_write_nothing(tmp_path: Path, run: Path, case: str) -> None:
    source, extra = bad_volumes(tmp_path)[case]
    out = tmp_path / "out" / "salt.sgy"
    result = invoke("predict", run, source, "--out", out, *extra)
    named = out if case == "npy_to_segy" else ("--iline" if case == "bad_byte" else source)
    assert_one_line_error(result, named)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_cli_predicts_a_segy_into_the_run(run: Path, tmp_path: Path) -> None:
    source = write_segy(tmp_path / "survey.sgy", seismic((2, 101, 101)))
    result = invoke("predict", run, source, "--as-masks", "--no-preview")
    assert result.exit_code == 0, result.output
    out = Path(result.stdout.strip())
    assert out == RunDir(run).section_output_path("survey", ".sgy")
    assert_same_headers(source, out)
    assert set(np.unique(read_traces(out))) <= {0.0, 1.0}
    assert json.loads(out.with_name("survey.sgy.json").read_text())["output"] == "mask (0/1)"


def test_options_are_checked(tmp_path: Path, predictor: Predictor) -> None:
    source = write_segy(tmp_path / "survey.sgy", seismic((2, 101, 101)))
    for options, words in (({"along": "diagonal"}, "--along"), ({"endian": "middle"}, "--endian"),
                           ({"xline": 7}, "--xline")):
        with pytest.raises(SaltsegError, match=words):
            predict(predictor, source, tmp_path / "out.sgy", **options)
    assert not (tmp_path / "out.sgy").exists()
