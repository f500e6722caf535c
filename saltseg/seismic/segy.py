"""SEG-Y volumes read in slabs and written back with the input's headers, through segyio.

A file is opened with ``ignore_geometry`` and its grid is built here from the trace headers (the
inline and crossline numbers at bytes ``iline`` and ``xline``, 189 and 193 by default):

* every trace has a pair of its own: the grid is the sorted distinct inline numbers by the sorted
  distinct crossline numbers, whatever the sorting of the file. Cells without a trace are
  missing: they read as NaN and are never written, so what is absent stays absent;
* every trace has the same pair (a 2-D line, whose headers often hold zeros there): one line of
  traces in file order;
* anything else is refused: pairs shared by some traces only (pre-stack gathers, wrong header
  bytes), or a grid of more than :data:`GRID_CELLS_PER_TRACE` cells per trace (garbage numbers
  from a wrong header byte).

The byte order (``auto``) is read from the binary header's sample format code, bytes 3225-3226:
a valid code swapped is 256 times larger, so it is a SEG-Y code in one byte order only. Where it is
one in neither, big-endian is tried and the file refused. ``big`` or ``little`` forces the order;
a binary header read in the wrong one is refused the same way. Refused too, in one line: a file of
headers without traces, a sample format segyio reads wrongly (4, 7, 15: it falls back to IBM
floats), and SEG-Y rev 2 trace header extensions (extra 240-byte headers per trace, which segyio
cannot skip).

The output is a new file with the input's textual (extended ones too), binary and trace headers,
in the same trace order and byte order; only the sample format becomes 5, 4-byte IEEE float.
Lines of the textual header that hold nothing but their ``Cnn`` label receive the notes saying
what the samples are (:func:`with_notes`), in the header's own encoding: EBCDIC (segyio's), or
ASCII when the input's header is ASCII.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import segyio

from saltseg.errors import SaltsegError, fail
from saltseg.seismic.options import ENDIANS

log = logging.getLogger("saltseg")

IEEE_FLOAT = 5
"""The SEG-Y sample format code of 4-byte IEEE floats, the output's."""
FORMAT_NAMES = {code: name.lower().replace("_", " ") for name, code in vars(segyio.SegySampleFormat).items()
                if name.isupper() and code not in (19, 20)}
SAMPLE_FORMATS = set(FORMAT_NAMES)
"""The sample format codes of the binary header; byte-swapped, a code is none of these."""
SEGYIO_FORMATS = SAMPLE_FORMATS - {4, 7, 15}
"""The codes segyio decodes; 4 (fixed point with gain) and 7, 15 (3-byte integers) it reads as IBM floats."""
TEXT_BYTES, BINARY_BYTES = 3200, 400
FORMAT_AT = 24
"""Offset of the sample format code (bytes 3225-3226 of the file) in the binary header."""
REVISION_AT, EXTENSIONS_AT = 300, 306
"""Offsets of the major revision (byte 3501) and, from rev 2, the count of extra trace headers (3507-3510)."""
GRID_CELLS_PER_TRACE = 4
"""A grid with more cells per trace than this comes from garbage header numbers, not a survey."""
TEXT_LINE = 80


def header_byte_problem(name: str, byte: int) -> str | None:
    """Return why ``byte`` cannot be the trace-header byte of ``name`` (inline, crossline), or None."""
    if byte not in segyio.tracefield.keys.values():
        return f"--{name} must be the first byte of a trace-header field (189 or 193, say), got {byte}"
    return None


class SegyVolume:
    """An open SEG-Y file seen as a volume (inline, crossline, sample), read in slabs.

    Attributes:
        path: the file.
        traces: (inlines, crosslines) int64, each cell's trace number in the file, -1 where missing.
        numbers: the inline numbers of the grid's rows and the crossline numbers of its columns.
        n_samples: samples per trace.
        endian: the byte order read, big or little (``auto`` resolved).
    """

    def __init__(self, path: Path, endian: str = "auto", iline: int = 189, xline: int = 193) -> None:
        self.path = Path(path)
        self.file, self.endian = _open(self.path, endian)
        try:
            self.n_samples = len(self.file.samples)
            inlines, crosslines = _header_numbers(self.file, self.path, iline, xline)
            self.traces = trace_grid(self.path, inlines, crosslines)
            self.numbers = line_numbers(self.traces.shape, inlines, crosslines)
        except BaseException:
            self.file.close()
            raise

    def __enter__(self) -> SegyVolume:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    @property
    def shape(self) -> tuple[int, int, int]:
        """(inlines, crosslines, samples)."""
        return (*self.traces.shape, self.n_samples)

    def read(self, axis: int, start: int, stop: int) -> np.ndarray:
        """Return the inlines (``axis`` 0) or crosslines (1) ``start:stop`` as float32, NaN where missing.

        Returns:
            (stop - start, crosslines, samples) for inlines, (inlines, stop - start, samples) for
            crosslines.
        """
        cells = _cells(self.traces, axis, start, stop)
        out = np.full((*cells.shape, self.n_samples), np.nan, dtype=np.float32)
        present = cells >= 0
        out[present] = self.read_traces(cells[present])
        return out

    def read_traces(self, numbers: np.ndarray) -> np.ndarray:
        """Return the traces ``numbers`` (any order) as float32 (len(numbers), samples)."""
        order = np.argsort(numbers, kind="stable")
        values = np.empty((len(numbers), self.n_samples), dtype=np.float32)
        for run, rows in _runs(numbers[order], order):
            values[rows] = self.file.trace.raw[run[0] : run[-1] + 1]
        return values

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """Return up to ``n`` traces drawn at random (seeded) from the file, float32 (n, samples)."""
        count = self.file.tracecount
        numbers = np.random.default_rng(seed).choice(count, size=min(n, count), replace=False)
        return self.read_traces(np.sort(numbers))


def _open(path: Path, endian: str) -> tuple[segyio.SegyFile, str]:
    """Return the file opened by segyio without geometry and its byte order, or raise one line naming it."""
    if endian not in ENDIANS:
        raise SaltsegError(f"--endian must be one of: {', '.join(ENDIANS)}, got {endian!r}")
    head = _binary_header(path)
    order = (byte_order(head) or "big") if endian == "auto" else endian
    _check_trace_extensions(path, head, order)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an unknown sample format: refused below, in one line
            file = segyio.open(str(path), "r", ignore_geometry=True, endian=order)
    except IndexError:  # segyio.open reads the first trace header, and there is none
        raise fail(path, "holds no traces (its headers alone)") from None
    except (RuntimeError, ValueError, OSError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise fail(path, f"not a readable {order}-endian SEG-Y file ({reason})") from None
    try:
        _check_format(path, file.bin[segyio.BinField.Format], order, endian == "auto")
    except SaltsegError:
        file.close()
        raise
    return file, order


def _binary_header(path: Path) -> bytes:
    """Return the file's binary header (fewer bytes when the file is shorter), or raise one line."""
    try:
        with open(path, "rb") as f:
            f.seek(TEXT_BYTES)
            return f.read(BINARY_BYTES)
    except FileNotFoundError:
        raise fail(path, "no such file") from None
    except OSError as exc:
        raise fail(path, f"not a readable SEG-Y file ({type(exc).__name__})") from None


def byte_order(head: bytes) -> str | None:
    """Return the byte order in which the binary header ``head``'s sample format code is a SEG-Y
    one; None when it is one in neither order (or in both)."""
    code = head[FORMAT_AT : FORMAT_AT + 2]
    valid = [order for order in ("big", "little") if int.from_bytes(code, order) in SAMPLE_FORMATS]
    return valid[0] if len(valid) == 1 else None


def _check_trace_extensions(path: Path, head: bytes, endian: str) -> None:
    """Refuse a SEG-Y rev 2 file whose traces carry extra 240-byte headers (segyio reads them as samples)."""
    if len(head) < EXTENSIONS_AT + 4 or head[REVISION_AT] < 2:
        return
    count = int.from_bytes(head[EXTENSIONS_AT : EXTENSIONS_AT + 4], endian, signed=True)
    if count != 0:
        raise fail(path, f"SEG-Y rev {head[REVISION_AT]} with {count} trace header extension(s) per trace "
                   "(binary header bytes 3507-3510), which segyio cannot read")


def _check_format(path: Path, code: int, endian: str, detected: bool) -> None:
    """Raise unless ``code`` is a sample format segyio decodes."""
    if code not in SAMPLE_FORMATS:
        where = "in either byte order" if detected else f"in {endian}-endian (wrong --endian?)"
        raise fail(path, f"sample format code {code} is not a SEG-Y one {where}")
    if code not in SEGYIO_FORMATS:
        raise fail(path, f"sample format {code} ({FORMAT_NAMES[code]}) is one segyio cannot decode; "
                   "convert the file to IEEE floats (format 5)")


def _header_numbers(file: segyio.SegyFile, path: Path, iline: int, xline: int) -> tuple[np.ndarray, ...]:
    """Return every trace's inline and crossline numbers, read from the header bytes given."""
    for name, byte in (("iline", iline), ("xline", xline)):
        if (problem := header_byte_problem(name, byte)) is not None:
            raise SaltsegError(problem)
    if file.tracecount == 0:
        raise fail(path, "holds no traces")
    return np.asarray(file.attributes(iline)[:]), np.asarray(file.attributes(xline)[:])


def trace_grid(path: Path, inlines: np.ndarray, crosslines: np.ndarray) -> np.ndarray:
    """Return the (inlines, crosslines) grid of trace numbers, -1 where missing (rules above).

    Args:
        path: the file, named in errors.
        inlines, crosslines: each trace's numbers, in file order.
    """
    pairs = np.stack([inlines, crosslines], axis=1)
    distinct = np.unique(pairs, axis=0)
    if len(distinct) == 1:
        return np.arange(len(pairs), dtype=np.int64)[None, :]
    if len(distinct) < len(pairs):
        raise fail(path, f"unreadable geometry: {len(pairs) - len(distinct)} traces share their inline and "
                   "crossline numbers with another (pre-stack gathers, or wrong --iline/--xline?)")
    il_values, il = np.unique(inlines, return_inverse=True)
    xl_values, xl = np.unique(crosslines, return_inverse=True)
    if len(il_values) * len(xl_values) > GRID_CELLS_PER_TRACE * len(pairs):
        raise fail(path, f"unreadable geometry: {len(il_values)} inlines x {len(xl_values)} crosslines for "
                   f"{len(pairs)} traces (wrong --endian, --iline or --xline?)")
    grid = np.full((len(il_values), len(xl_values)), -1, dtype=np.int64)
    grid[il, xl] = np.arange(len(pairs))
    return grid


def line_numbers(shape: tuple[int, int], inlines: np.ndarray, crosslines: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Return the header numbers of a grid's inlines and crosslines; a 2-D line whose traces share
    one pair numbers its traces 1, 2, ... along it."""
    il_values, xl_values = np.unique(inlines), np.unique(crosslines)
    if (len(il_values), len(xl_values)) == (1, 1) and shape[1] > 1:
        return il_values, np.arange(1, shape[1] + 1)
    return il_values, xl_values


def _cells(traces: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    """Return the trace numbers of inlines (axis 0) or crosslines (axis 1) ``start:stop``."""
    return traces[start:stop] if axis == 0 else traces[:, start:stop]


def _runs(numbers: np.ndarray, rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split sorted trace ``numbers`` (with their ``rows``) into runs of consecutive numbers."""
    breaks = np.flatnonzero(np.diff(numbers) != 1) + 1
    return list(zip(np.split(numbers, breaks), np.split(rows, breaks), strict=True))


class SegyWriter:
    """A new SEG-Y file with the headers of ``source``, sample format IEEE float, filled in slabs."""

    def __init__(self, source: SegyVolume, path: Path, notes: list[str]) -> None:
        self.traces, self.path = source.traces, Path(path)
        spec = segyio.tools.metadata(source.file)
        spec.format = IEEE_FLOAT
        self.file = segyio.create(str(path), spec)
        try:
            self.ascii_text = _copy_headers(source, self.file, notes)
        except BaseException:
            self.file.close()
            raise

    def __enter__(self) -> SegyWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()
        if self.ascii_text is not None:  # segyio writes EBCDIC: the ASCII header goes in as bytes
            with open(self.path, "r+b") as f:
                f.write(self.ascii_text)

    def write(self, axis: int, start: int, slab: np.ndarray) -> None:
        """Write the traces of the inlines (``axis`` 0) or crosslines (1) from ``start`` (as read)."""
        cells = _cells(self.traces, axis, start, start + slab.shape[axis])
        present = cells >= 0
        numbers, values = cells[present], np.ascontiguousarray(slab[present], dtype=np.float32)
        order = np.argsort(numbers, kind="stable")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # segyio's notes on its copies: not the user's
            for run, rows in _runs(numbers[order], order):
                self.file.trace[int(run[0]) : int(run[-1]) + 1] = values[rows]


def _copy_headers(source: SegyVolume, dst: segyio.SegyFile, notes: list[str]) -> bytes | None:
    """Copy the textual, binary and trace headers of ``source`` into ``dst``, notes added; return the
    textual header to write over segyio's EBCDIC one when the source's is ASCII, else None."""
    src = source.file
    with open(source.path, "rb") as f:
        raw = f.read(TEXT_BYTES)
    ascii_text = with_notes(raw, notes, source.path) if is_ascii(raw) else None
    dst.text[0] = src.text[0] if ascii_text else with_notes(bytes(src.text[0]), notes, source.path)
    for i in range(1, 1 + src.ext_headers):
        dst.text[i] = src.text[i]
    dst.bin = src.bin
    dst.bin.update(format=IEEE_FLOAT)
    dst.header = src.header
    return ascii_text


def is_ascii(text: bytes) -> bool:
    """Whether a textual header is ASCII, not EBCDIC: more ASCII spaces (0x20) than EBCDIC ones (0x40)."""
    return text.count(b"\x20") > text.count(b"\x40")


def with_notes(text: bytes, notes: list[str], path: Path) -> bytes:
    """Return the 3200-byte textual header ``text`` with ``notes`` written into its last free lines.

    A free line holds only its label (``C12`` and spaces); each note keeps the label and is cut at
    the line's end. Notes that find no free line are left out, with a warning naming ``path``.
    """
    lines = [bytearray(text[i : i + TEXT_LINE]) for i in range(0, len(text), TEXT_LINE)]
    free = [i for i, line in enumerate(lines) if not line[4:].strip(b" \x00\x80")]
    if len(free) < len(notes):
        log.warning("%s: %d free lines in the textual header for %d notes; the JSON beside the output "
                    "has them all", path, len(free), len(notes))
    kept = notes[: len(free)]
    for i, note in zip(free[len(free) - len(kept) :], kept, strict=True):
        ascii_note = note.encode("ascii", "replace")[: TEXT_LINE - 5]
        lines[i][4 : 4 + len(ascii_note)] = ascii_note
    return b"".join(lines)
