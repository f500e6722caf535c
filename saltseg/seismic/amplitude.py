"""Seismic amplitudes to the 8-bit pixels the network learned.

SEG-Y samples and float sections come at any scale, usually centred on zero, with outliers. They
are clipped to a range and scaled linearly to 0..255. The range comes from a sample of the data
(never the whole volume): for data of both signs, +-the ``percentile`` of |sample|, so zero stays
at mid-grey; for data of one sign, the (100 - ``percentile``) and ``percentile`` percentiles. An
explicit ``clip`` range overrides both. Missing samples (NaN) become mid-grey.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saltseg.seismic.options import AmplitudeOptions, check_options


@dataclass(frozen=True)
class AmplitudeMap:
    """Clip samples to [low, high] and scale them linearly to 0..255."""

    low: float
    high: float
    rule: str = "clip"

    def to_uint8(self, samples: np.ndarray) -> np.ndarray:
        """Return ``samples`` (any shape, any numeric dtype) as uint8 pixels of the same shape."""
        x = np.asarray(samples, dtype=np.float32)
        span = self.high - self.low
        if span <= 0:
            return np.zeros(x.shape, np.uint8)
        scaled = (np.clip(x, self.low, self.high) - self.low) * np.float32(255.0 / span)
        return np.rint(np.nan_to_num(scaled, nan=127.5)).astype(np.uint8)

    def as_dict(self) -> dict[str, float | str]:
        """Return the mapping as recorded beside an output."""
        return {"low": self.low, "high": self.high, "rule": self.rule,
                "to": "clip to [low, high], then scale linearly to 0..255"}

    def describe(self) -> str:
        """Return the mapping in one short line (for SEG-Y textual headers and logs)."""
        return f"amplitude {self.rule}: [{self.low:.6g}, {self.high:.6g}] -> 0..255"


def amplitude_map(sample: np.ndarray, options: AmplitudeOptions) -> AmplitudeMap:
    """Return the mapping to 0..255 chosen from ``sample`` (a sample of the data, any shape).

    Raises:
        SaltsegError: the options are invalid.
    """
    check_options(options)
    if options.clip is not None:
        return AmplitudeMap(float(options.clip[0]), float(options.clip[1]), "explicit range")
    values = np.asarray(sample, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return AmplitudeMap(0.0, 0.0, "no finite samples")
    if values.min() < 0 < values.max():
        high = float(np.percentile(np.abs(values), options.percentile))
        return AmplitudeMap(-high, high, f"+-{options.percentile:g}th percentile of |sample|")
    low, high = np.percentile(values, [100.0 - options.percentile, options.percentile])
    return AmplitudeMap(float(low), float(high), f"{100 - options.percentile:g}th..{options.percentile:g}th "
                        "percentile of sample")

