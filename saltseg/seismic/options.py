"""What ``predict`` does with a seismic section or volume: its options, each checked by ``problem()``
before anything is read. Plain data, read by the command line before anything heavy is imported.
"""

from __future__ import annotations

from dataclasses import dataclass

from saltseg.errors import SaltsegError
from saltseg.shapes import IMAGE_SIZE

MAX_PIXELS = 50_000_000
"""Sections with more samples are refused unless ``--max-pixels`` says otherwise."""
BLENDS = ("cosine", "linear", "none")
ALONG = {"inline": (0,), "crossline": (1,), "both": (0, 1)}
ENDIANS = ("auto", "big", "little")
"""SEG-Y byte orders; ``auto`` reads it from the binary header's sample format code."""


@dataclass(frozen=True)
class WindowOptions:
    """How a section is cut into windows and blended back (defaults measured on tile mosaics)."""

    size: int = IMAGE_SIZE
    overlap: float = 0.25
    blend: str = "cosine"
    tta: bool = True
    gate: bool = True
    resample: tuple[float, float] = (1.0, 1.0)

    @property
    def stride(self) -> int:
        """Return the step between neighbouring windows, in samples."""
        return max(1, round(self.size * (1.0 - self.overlap)))

    def problem(self) -> str | None:
        """Return why these options cannot work, or None."""
        if self.size < IMAGE_SIZE:
            return f"--window must be at least {IMAGE_SIZE} (one tile), got {self.size}"
        if not 0.0 <= self.overlap < 1.0:
            return f"--overlap must be in [0, 1), got {self.overlap:g}"
        if self.blend not in BLENDS:
            return f"unknown --blend '{self.blend}'; choose one of: {', '.join(BLENDS)}"
        if not all(0.0 < f <= 16.0 for f in self.resample):
            return f"--resample factors must be in (0, 16], got {self.resample[0]:g},{self.resample[1]:g}"
        return None

    def resampled(self, shape: tuple[int, int]) -> tuple[int, int]:
        """Return the shape a section of ``shape`` is predicted at."""
        return (max(1, round(shape[0] * self.resample[0])), max(1, round(shape[1] * self.resample[1])))


@dataclass(frozen=True)
class AmplitudeOptions:
    """How the clip range is chosen: a ``percentile`` of the sample, or an explicit ``clip``."""

    percentile: float = 99.0
    clip: tuple[float, float] | None = None

    def problem(self) -> str | None:
        """Return why these options cannot work, or None."""
        if not 50.0 < self.percentile <= 100.0:
            return f"--percentile must be in (50, 100], got {self.percentile:g}"
        if self.clip is not None and not self.clip[0] < self.clip[1]:
            return f"--clip LOW,HIGH needs LOW < HIGH, got {self.clip[0]:g},{self.clip[1]:g}"
        return None


@dataclass(frozen=True)
class VolumeOptions:
    """How a volume is read and along which sections it is predicted."""

    along: str = "inline"
    endian: str = "auto"
    iline: int = 189
    xline: int = 193

    def problem(self) -> str | None:
        """Return why these options cannot work, or None."""
        if self.along not in ALONG:
            return f"unknown --along '{self.along}'; choose one of: {', '.join(ALONG)}"
        if self.endian not in ENDIANS:
            return f"--endian must be one of: {', '.join(ENDIANS)}, got {self.endian!r}"
        from saltseg.seismic.segy import header_byte_problem  # segyio, when a volume is predicted

        return header_byte_problem("iline", self.iline) or header_byte_problem("xline", self.xline)


def parse_pair(text: str | None, option: str) -> tuple[float, float] | None:
    """Return the two numbers of an option's ``A,B`` text (None when the option was not given).

    Raises:
        SaltsegError: the text is not two numbers separated by a comma.
    """
    if text is None:
        return None
    try:
        first, second = (float(part) for part in text.split(","))
    except ValueError:
        raise SaltsegError(f"{option} takes two numbers A,B, got {text!r}") from None
    return first, second


@dataclass(frozen=True)
class PatchOptions:
    """How a labelled survey is cut: lines along ``along``, patches of ``patch`` samples every
    ``stride`` samples (default half a patch), labels of class ``salt_class`` as salt."""

    along: str = "inline"
    patch: int = IMAGE_SIZE
    stride: int | None = None
    salt_class: int | None = None

    @property
    def step(self) -> int:
        """The stride, half a patch unless given."""
        return self.stride or max(1, self.patch // 2)

    def problem(self) -> str | None:
        """Return why these options cannot work, or None."""
        if self.along not in ALONG:
            return f"unknown --along '{self.along}'; choose one of: {', '.join(ALONG)}"
        if self.patch < 16:
            return f"--patch must be at least 16 samples, got {self.patch}"
        if not 1 <= self.step <= self.patch:
            return f"--stride must be in 1..{self.patch} (the patch), got {self.stride}"
        return None


def check_options(*options: WindowOptions | AmplitudeOptions | VolumeOptions | PatchOptions) -> None:
    """Raise the first problem of ``options`` (each one's ``problem()``), before anything is read."""
    for option in options:
        if (problem := option.problem()) is not None:
            raise SaltsegError(problem)
