"""What every picture draws with: a coordinate grid over the image (x to the right and y downward,
both from -1 to 1), soft-edged ellipses and capsules, blurred noise, and stored-value conversion."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.floating[Any]]  # float32 mostly; numpy promotes a few steps to float64


@dataclass(frozen=True)
class Frame:
    """One image of a series: `t` runs from 0 to 1 through a stack (0 for a single image)."""

    number: int  # the InstanceNumber, from 1
    count: int  # images in the series
    rows: int
    cols: int
    rng: np.random.Generator
    abnormal: bool = False

    @property
    def t(self) -> float:
        return (self.number - 1) / (self.count - 1) if self.count > 1 else 0.0


@lru_cache(maxsize=16)
def grid(rows: int, cols: int) -> tuple[Image, Image]:
    """x (columns) and y (rows) from -1 to 1, as float32 arrays of the image's shape."""
    y, x = np.meshgrid(np.linspace(-1, 1, rows, dtype=np.float32), np.linspace(-1, 1, cols, dtype=np.float32),
                       indexing="ij")  # fmt: skip
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def soft(distance: Image | float, edge: float = 0.015) -> Image:
    """1 where `distance` (positive inside) is well inside, 0 well outside, a ramp `edge` wide."""
    return np.clip(np.asarray(distance, dtype=np.float32) / edge + 0.5, 0.0, 1.0)


def ellipse(x: Image, y: Image, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> Image:
    """The ellipse's radial coordinate: below 1 inside, 1 on the edge."""
    dx, dy = x - cx, y - cy
    if angle:
        c, s = np.cos(angle), np.sin(angle)
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    return np.sqrt((dx / rx) ** 2 + (dy / ry) ** 2)


def disc(
    x: Image, y: Image, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, edge: float = 0.015
) -> Image:
    """A filled ellipse with a soft edge (about `edge` wide in grid units)."""
    return soft((1.0 - ellipse(x, y, cx, cy, rx, ry, angle)) * min(rx, ry), edge)


def segment_distance(x: Image, y: Image, x0: float, y0: float, x1: float, y1: float) -> Image:
    """The distance from every point to the segment (x0, y0)-(x1, y1)."""
    dx, dy = x1 - x0, y1 - y0
    along = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(x - (x0 + along * dx), y - (y0 + along * dy))


def bone(x: Image, y: Image, x0: float, y0: float, x1: float, y1: float, width: float) -> Image:
    """A long bone seen through: a capsule whose cortex, seen edge-on at its sides, is brightest."""
    d = segment_distance(x, y, x0, y0, x1, y1) / width
    return soft(1.0 - d, 0.015 / width) * (0.55 + 0.45 * np.clip(d, 0.0, 1.0) ** 6)


def blurred_noise(rng: np.random.Generator, rows: int, cols: int, cell: int) -> Image:
    """Smooth noise of about `cell` pixels' grain, from -1 to 1 roughly."""
    small = rng.standard_normal(((rows + cell - 1) // cell + 1, (cols + cell - 1) // cell + 1), dtype=np.float32)
    big = np.repeat(np.repeat(small, cell, axis=0), cell, axis=1)[:rows, :cols]
    return box_blur(box_blur(big, cell), cell)


def box_blur(image: Image, size: int, axis: int | None = None) -> Image:
    """A moving average `size` pixels wide along one axis (or both), by cumulative sums."""
    if axis is None:
        return box_blur(box_blur(image, size, 0), size, 1)
    if size <= 1:
        return image
    pad = [(0, 0), (0, 0)]
    pad[axis] = (size // 2 + 1, size - size // 2 - 1)
    summed = np.cumsum(np.pad(image, pad, mode="edge"), axis=axis, dtype=np.float32)
    ahead = np.take(summed, range(size, summed.shape[axis]), axis=axis)
    behind = np.take(summed, range(0, summed.shape[axis] - size), axis=axis)
    return (ahead - behind) / size


def stored(
    values: Image, low: int, high: int, dtype: type[np.unsignedinteger] = np.uint16
) -> NDArray[np.unsignedinteger]:
    """Round and clip to the stored range (e.g. 0..4095 for 12 bits)."""
    return np.clip(np.rint(values), low, high).astype(dtype)
