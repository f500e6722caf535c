"""SEG-Y files as they come: every sample format in both byte orders, rev 2 headers, ASCII textual
headers, gathers, 2-D lines, files without traces, sections smaller than one window.

Each file is written here with segyio (bytes patched by hand where segyio cannot write them) and
given to ``saltseg predict``: it is predicted into an output of the input's shape, or refused in
one line with exit code 2 and nothing written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import segyio
import torch
from helpers import assert_one_line_error, invoke
from runs import ok

from saltseg.models import build_model
from saltseg.rundir import RunDir, save_checkpoint
from saltseg.seismic import record_path
from saltseg.seismic.segy import byte_order
from saltseg.seismic.windows import pad_to_tile
from saltseg.training.config import new_config
from saltseg.training.options import TrainOptions

SHAPE = (2, 3, 101)
"""Inlines, crosslines, samples: every inline is padded from 101x3 to one 101x101 window."""
DECODED = (1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 16)
"""The sample formats segyio decodes."""
MISREAD = (4, 7, 15)
"""Formats segyio reads as IBM floats (with a warning): refused."""
ENDIANS = ("big", "little")


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Predict on one CPU thread: single tiny windows gain nothing from more, and on a busy machine
    threads that wait for each other make every forward pass 20 times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of the default network, 4 filters, random weights (as tests/test_segy.py's): shapes and
    refusals need no training."""
    root = tmp_path_factory.mktemp("wild") / "run"
    torch.manual_seed(0)
    config = new_config(TrainOptions(start_filters=4, run=root), torch.device("cpu"))
    RunDir(root).write_config(config)
    save_checkpoint(RunDir(root).best_checkpoint, {"model": build_model(config).state_dict()})
    return root


def samples(shape: tuple[int, ...], dtype: np.dtype, seed: int = 0) -> np.ndarray:
    """Return seismic-like samples of ``shape`` that fill a good part of ``dtype``'s range."""
    t = np.arange(shape[-1], dtype=np.float64)
    wave = np.sin(0.3 * t) * np.cos(0.05 * t) + 0.1 * np.random.default_rng(seed).standard_normal(shape)
    if np.dtype(dtype).kind == "f":
        return (1000.0 * wave).astype(dtype)
    info = np.iinfo(dtype)
    middle, half = (float(info.min) + float(info.max)) / 2, min(float(info.max) - float(info.min), 2e6) / 2
    return np.clip(np.rint(middle + 0.4 * half * wave), info.min, info.max).astype(dtype)


def write_volume(path: Path, shape: tuple[int, int, int] = SHAPE, fmt: int = 5, endian: str = "big",
                 pairs: list[tuple[int, int]] | None = None) -> Path:
    """Write a SEG-Y of ``shape`` (inline, crossline, sample), traces inline-sorted, inlines numbered
    from 21 and crosslines from 301; ``pairs`` gives every trace's (inline, crossline) instead."""
    pairs = pairs or [(21 + i, 301 + j) for i in range(shape[0]) for j in range(shape[1])]
    spec = segyio.spec()
    spec.tracecount, spec.samples, spec.format, spec.endian = len(pairs), list(range(shape[2])), fmt, endian
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # formats segyio cannot decode: it writes them as IBM floats
        with segyio.create(str(path), spec) as f:
            f.bin.update(hdt=4000, hns=shape[2])
            data = samples((len(pairs), shape[2]), f.dtype)
            for number, (il, xl) in enumerate(pairs):
                f.header[number] = {segyio.su.iline: il, segyio.su.xline: xl, segyio.su.ns: shape[2],
                                    segyio.su.dt: 4000}
                f.trace[number] = data[number]
    return path


def predict(run: Path, source: Path, *options: object) -> tuple[object, Path]:
    """Run ``saltseg predict RUN SOURCE`` beside it (no preview, no TTA); return the result and the output."""
    out = source.with_name(f"out{source.suffix}")
    quick = ("--device", "cpu", "--no-preview", "--no-tta")
    return invoke("predict", run, source, "--out", out, *quick, *options), out


def assert_predicted(result: object, source: Path, out: Path, endian: str = "big") -> dict:
    """Assert ``out`` holds one probability per sample of ``source``, with its headers; return the record."""
    ok(result)
    with segyio.open(str(source), ignore_geometry=True, endian=endian) as a, \
            segyio.open(str(out), ignore_geometry=True, endian=endian) as b:
        assert (b.tracecount, list(b.samples)) == (a.tracecount, list(a.samples))
        assert all(dict(b.header[i]) == dict(a.header[i]) for i in range(a.tracecount))
        probs = b.trace.raw[:]
    assert probs.dtype == np.float32 and np.isfinite(probs).all() and 0 <= probs.min() <= probs.max() <= 1
    record = json.loads(record_path(out).read_text())
    assert record["endian"] == endian
    return record


def assert_refused(result: object, source: Path, out: Path, *words: str) -> None:
    """Assert a one-line refusal naming ``source`` and ``words``, exit code 2, nothing written."""
    assert_one_line_error(result, source, *words)
    assert not out.exists() and not record_path(out).exists()


# ---------------------------------------------------------------- sample formats and byte orders


@pytest.mark.parametrize("endian", ENDIANS)
@pytest.mark.parametrize("fmt", DECODED)
def test_every_format_segyio_decodes_is_predicted_in_either_byte_order(
        run: Path, tmp_path: Path, fmt: int, endian: str) -> None:
    source = write_volume(tmp_path / "wild.sgy", fmt=fmt, endian=endian)
    result, out = predict(run, source)
    record = assert_predicted(result, source, out, endian)
    assert record["shape"] == list(SHAPE)


@pytest.mark.parametrize("endian", ENDIANS)
@pytest.mark.parametrize("fmt", MISREAD)
def test_formats_segyio_misreads_are_refused_in_one_line(run: Path, tmp_path: Path, fmt: int,
                                                         endian: str) -> None:
    source = write_volume(tmp_path / "wild.sgy", fmt=fmt, endian=endian)
    result, out = predict(run, source)
    assert_refused(result, source, out, f"sample format {fmt}", "segyio cannot decode")


def test_the_byte_order_is_read_from_the_sample_format_code() -> None:
    head = bytearray(400)
    head[24:26] = (5).to_bytes(2, "big")
    assert byte_order(bytes(head)) == "big"
    head[24:26] = (5).to_bytes(2, "little")
    assert byte_order(bytes(head)) == "little"
    head[24:26] = b"\x12\x34"  # a code in neither order
    assert byte_order(bytes(head)) is None
    assert byte_order(b"") is None  # a file shorter than its binary header


def test_endian_overrides_detection_and_a_wrong_one_is_refused(run: Path, tmp_path: Path) -> None:
    source = write_volume(tmp_path / "wild.sgy", endian="little")
    result, out = predict(run, source, "--endian", "big")
    assert_refused(result, source, out, "big-endian")
    assert_predicted(predict(run, source, "--endian", "little")[0], source, out, "little")


def test_a_code_valid_in_neither_byte_order_is_refused(run: Path, tmp_path: Path) -> None:
    source = write_volume(tmp_path / "wild.sgy")
    patch(source, 3224, b"\x12\x34")
    result, out = predict(run, source)
    assert_refused(result, source, out, "sample format code", "either byte order")


def patch(path: Path, offset: int, data: bytes) -> None:
    """Overwrite the bytes of ``path`` at ``offset`` with ``data``."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


# ---------------------------------------------------------------- revision 2 and textual headers


@pytest.mark.parametrize("endian", ENDIANS)
def test_revision_2_is_predicted_without_trace_header_extensions_and_refused_with(
        run: Path, tmp_path: Path, endian: str) -> None:
    plain = write_volume(tmp_path / "rev2.sgy", endian=endian)
    patch(plain, 3500, b"\x02\x00")  # bytes 3501-3502: major and minor revision, one byte each
    assert_predicted(predict(run, plain)[0], plain, plain.with_name("out.sgy"), endian)

    extended = tmp_path / "ext" / "rev2.sgy"
    extended.parent.mkdir()
    extended.write_bytes(with_trace_extensions(plain.read_bytes(), endian))
    result, out = predict(run, extended)
    assert_refused(result, extended, out, "trace header extension")


def with_trace_extensions(data: bytes, endian: str) -> bytes:
    """Return a rev 2 SEG-Y of fixed-length traces with one extra 240-byte header after each
    trace header, its count at bytes 3507-3510."""
    head = bytearray(data[:3600])
    head[3506:3510] = (1).to_bytes(4, endian)
    n_samples = int.from_bytes(head[3220:3222], endian)
    size = 240 + 4 * n_samples
    traces = [data[start : start + size] for start in range(3600, len(data), size)]
    return bytes(head) + b"".join(t[:240] + b"\0" * 240 + t[240:] for t in traces)


def test_an_ascii_textual_header_stays_ascii_with_the_notes(run: Path, tmp_path: Path) -> None:
    source = write_volume(tmp_path / "ascii.sgy")
    text = b"".join(f"C{i:2d} {'SURVEY WILD' if i < 30 else ''}".ljust(80).encode() for i in range(1, 41))
    patch(source, 0, text)
    result, out = predict(run, source)
    assert_predicted(result, source, out)
    written = out.read_bytes()[:3200]
    assert written[: 29 * 80] == text[: 29 * 80]
    notes = [written[i : i + 80] for i in range(29 * 80, 3200, 80)]
    assert any(b"saltseg" in line for line in notes)
    assert all(line[:4] == f"C{30 + k:2d} ".encode() and line.isascii() for k, line in enumerate(notes))


# ---------------------------------------------------------------- geometry


def test_pre_stack_gathers_are_refused_in_one_line(run: Path, tmp_path: Path) -> None:
    pairs = [(21 + i, 301 + j) for i in range(3) for j in range(4) for _offset in range(2)]
    source = write_volume(tmp_path / "gathers.sgy", pairs=pairs)
    result, out = predict(run, source)
    assert_refused(result, source, out, "share their inline and crossline")


@pytest.mark.parametrize("traces", [18, 130])
def test_a_2d_line_of_one_pair_is_predicted_as_one_section(run: Path, tmp_path: Path, traces: int) -> None:
    source = write_volume(tmp_path / "line.sgy", (1, traces, 75), pairs=[(0, 0)] * traces)
    result, out = predict(run, source)
    record = assert_predicted(result, source, out)
    assert record["shape"] == [1, traces, 75] and record["along"] == ["inline"]
    assert padding_warnings(result) == 1


def test_a_file_of_headers_without_traces_is_refused_in_one_line(run: Path, tmp_path: Path) -> None:
    source = tmp_path / "empty.sgy"
    source.write_bytes(write_volume(tmp_path / "full.sgy").read_bytes()[:3600])
    result, out = predict(run, source)
    assert_refused(result, source, out, "holds no traces")


# ---------------------------------------------------------------- sections smaller than a window


def padding_warnings(result: object) -> int:
    """Return how many lines of the result's stderr say a section was padded."""
    return sum("padded to" in line for line in result.stderr.splitlines())  # type: ignore[attr-defined]


@pytest.mark.parametrize(("shape", "along", "said"), [
    ((2, 18, 75), "inline", ["inlines are 75x18 samples, padded to 101x101"]),
    ((2, 3, 75), "both", ["inlines are 75x3 samples, padded", "crosslines are 75x2 samples, padded"]),
])
def test_a_cropped_volume_is_padded_to_one_window_and_cropped_back(
        run: Path, tmp_path: Path, shape: tuple[int, int, int], along: str, said: list[str]) -> None:
    source = write_volume(tmp_path / "crop.sgy", shape)
    result, out = predict(run, source, "--along", along)
    record = assert_predicted(result, source, out)
    assert record["shape"] == list(shape)
    assert padding_warnings(result) == len(said)  # one line per direction, not one per section
    assert all(words in result.stderr for words in said)


@pytest.mark.parametrize(("shape", "options", "said"), [
    ((75, 18), (), "75x18 samples, padded to 101x101"),
    ((120, 120), ("--resample", "0.5,1"), "(resampled to 60x120), padded to 101x120"),
    ((1, 300), (), "1x300 samples, padded to 101x300"),
])
def test_a_small_section_file_is_padded_and_cropped_back(run: Path, tmp_path: Path, shape: tuple[int, int],
                                                         options: tuple[str, ...], said: str) -> None:
    source = tmp_path / "short.npy"
    np.save(source, samples(shape, np.float32))
    result, out = predict(run, source, *options)
    ok(result)
    probs = np.load(out)
    assert probs.shape == shape and np.isfinite(probs).all()
    assert padding_warnings(result) == 1 and said in result.stderr


def test_an_empty_section_is_refused_in_one_line(run: Path, tmp_path: Path) -> None:
    source = tmp_path / "empty.npy"
    np.save(source, np.zeros((0, 40), np.float32))
    result, out = predict(run, source)
    assert_refused(result, source, out, "empty section")


def test_padding_reflects_where_it_can_and_repeats_the_edge_where_not() -> None:
    pixels = np.arange(75 * 18, dtype=np.uint8).reshape(75, 18)
    padded, crop = pad_to_tile(pixels)
    assert padded.shape == (101, 101) and np.array_equal(padded[crop], pixels)
    assert np.array_equal(padded[:13, crop[1]], pixels[13:0:-1])  # 13 rows reflected above
    assert (padded[:, :41] == padded[:, 41:42]).all()  # 41 columns: more than 18, the edge repeated
    full = np.zeros((101, 130), np.uint8)
    assert pad_to_tile(full)[0] is full  # sections of a window or more are untouched


# ---------------------------------------------------------------- stderr holds saltseg's messages only


def test_no_other_package_warns_while_a_segy_is_predicted(run: Path, tmp_path: Path) -> None:
    source = write_volume(tmp_path / "wild.sgy", (2, 3, 75), fmt=1, endian="little")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result, out = predict(run, source, "--along", "both", "--as-masks")
    assert_predicted(result, source, out, "little")
    assert [str(w.message) for w in caught] == []


def test_stderr_carries_only_saltsegs_lines_in_a_fresh_process(run: Path, tmp_path: Path) -> None:
    source = write_volume(tmp_path / "wild.sgy", (2, 3, 75), fmt=3, endian="little")
    cuda_home = tmp_path / "cuda"  # torch names a CUDA_HOME it finds on a machine without CUDA
    cuda_home.mkdir()
    env = {**os.environ, "CUDA_HOME": str(cuda_home), "PYTHONWARNINGS": "default", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "saltseg", "predict", run, source, "--out", tmp_path / "o.sgy",
               "--device", "cpu", "--no-preview"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "o.sgy")
    lines = done.stderr.splitlines()
    assert lines and all(line.startswith((str(source), source.name)) for line in lines), done.stderr
