"""A 3-D .npy array (inline, crossline, sample) on disk, read and written a slab at a time.

The file is mapped (``np.load(mmap_mode=...)``) for one slab and unmapped after it, so a volume
larger than memory never piles up in the process: only the slab copied out (or in) is resident.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from saltseg.atomic import sweep_stale_temporaries, temporary_sibling
from saltseg.errors import fail


class NpyVolume:
    """A .npy volume (inline, crossline, sample) of numbers, as :class:`~saltseg.seismic.segy.SegyVolume`.

    Attributes:
        path: the file.
        shape: (inlines, crosslines, samples).
        dtype: the samples' type.
        numbers: the line numbers of the inlines and crosslines: their indices, from 0.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        array = self._mapped("r")
        if array.ndim != 3:
            raise fail(self.path, f"holds a {array.ndim}-D array of shape {array.shape}; a volume is 3-D "
                       "(inline, crossline, sample)")
        if array.dtype.kind not in "uif":
            raise fail(self.path, f"holds {array.dtype} samples; expected numbers")
        self.shape: tuple[int, int, int] = tuple(array.shape)  # type: ignore[assignment]
        self.dtype = array.dtype
        self.numbers = (np.arange(self.shape[0]), np.arange(self.shape[1]))

    @classmethod
    def create(cls, path: Path, shape: tuple[int, int, int], dtype: type) -> NpyVolume:
        """Create a .npy of zeros of ``shape`` and ``dtype`` at ``path`` (sparse on most file systems)."""
        array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        del array
        return cls(path)

    def read(self, axis: int, start: int, stop: int) -> np.ndarray:
        """Return a copy of the inlines (``axis`` 0) or crosslines (1) ``start:stop``."""
        array = self._mapped("r")
        return np.array(array[start:stop] if axis == 0 else array[:, start:stop])

    def write(self, axis: int, start: int, slab: np.ndarray) -> None:
        """Write ``slab`` as the inlines (``axis`` 0) or crosslines (1) from ``start``."""
        array = self._mapped("r+")
        stop = start + slab.shape[axis]
        if axis == 0:
            array[start:stop] = slab
        else:
            array[:, start:stop] = slab
        array.flush()

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """Return up to ``n`` traces drawn at random (seeded), float32 (n, samples)."""
        count = self.shape[0] * self.shape[1]
        cells = np.sort(np.random.default_rng(seed).choice(count, size=min(n, count), replace=False))
        inline, crossline = np.divmod(cells, self.shape[1])
        return self._mapped("r")[inline, crossline].astype(np.float32)

    def _mapped(self, mode: str) -> np.memmap:
        """Return the array mapped from the file (``mode`` r or r+), or raise one line naming it."""
        try:
            return np.load(self.path, mmap_mode=mode, allow_pickle=False)
        except FileNotFoundError:
            raise fail(self.path, "no such file") from None
        except (ValueError, OSError, EOFError) as exc:
            raise fail(self.path, f"not a .npy array ({type(exc).__name__})") from None


@contextmanager
def temporary_volume(beside: Path, shape: tuple[int, int, int]) -> Iterator[NpyVolume]:
    """Yield a temporary float32 volume of zeros in ``beside``'s folder, removed after.

    Its name is saltseg's temporary name (:func:`saltseg.atomic.temporary_sibling`), so one left by
    a killed process, as large as the volume, is swept by the next prediction there.
    """
    accumulator = beside.with_name(f"{beside.name}.sum.npy")
    sweep_stale_temporaries(accumulator)
    path = temporary_sibling(accumulator)
    try:
        yield NpyVolume.create(path, shape, np.float32)
    finally:
        path.unlink(missing_ok=True)
