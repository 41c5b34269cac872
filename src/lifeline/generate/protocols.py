"""How each study in imaging.py is acquired, series by series, for the DICOM files (dicom.py):
the picture drawn, the matrix, the geometry of a stack, the default window, and the body part
(DICOM PS3.16 CID 4031 defined terms). The series follow STUDIES' order and descriptions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from lifeline.generate.imaging import STUDIES
from lifeline.generate.phantoms import radiographs, sections, ultrasound
from lifeline.generate.phantoms.shapes import Frame

Picture = Callable[[Frame], np.ndarray]


@dataclass(frozen=True)
class Series:
    picture: Picture
    rows: int
    cols: int
    window: tuple[float, float]  # centre, width, in the rescaled values (HU for CT)
    spacing: float = 1.0  # mm per pixel
    plane: str = "projection"  # "axial", "sagittal", "projection"
    thickness: float = 0.0  # mm
    extent: float = 0.0  # mm from the first slice's centre to the last's, signed (a chest goes down)
    first: float = 0.0  # the first slice's position along its normal (mm)
    views: tuple[str, ...] = ()  # each instance's ViewPosition (X-ray, mammography)


@dataclass(frozen=True)
class Protocol:
    body_part: str
    series: tuple[Series, ...]


_WINDOWS = {"soft": (40.0, 400.0), "lung": (-600.0, 1500.0), "brain": (40.0, 80.0), "bone": (500.0, 2500.0)}


def _axial(picture: Picture, window: str, spacing: float, thickness: float, extent: float, first: float) -> Series:
    return Series(picture, 256, 256, _WINDOWS[window], spacing, "axial", thickness, extent, first)


def _xray(picture: Callable[..., np.ndarray], size: int, spacing: float, position: str, **drawn: str) -> Series:
    """One radiograph in its ViewPosition, `drawn` as the picture's keywords say."""
    return Series(partial(picture, **drawn), size, size, (2048.0, 4096.0), spacing, views=(position,))


def _mri(contrast: str, window: tuple[float, float], size: int = 256) -> Series:
    return Series(
        partial(sections.head, contrast=contrast), size, size, window, 240.0 / size, "axial", 5.0, 130.0, -55.0
    )


def _mammo(view: str) -> Series:
    return Series(partial(radiographs.mammogram, view=view), 512, 416, (2048.0, 4096.0), 0.2,
                  views=(view, view))  # fmt: skip


_TOPOGRAM_WINDOW = (0.0, 2000.0)

PROTOCOLS = {
    "ct-chest": Protocol("CHEST", (
        Series(partial(radiographs.topogram, part="chest"), 256, 256, _TOPOGRAM_WINDOW, 1.8),
        _axial(sections.ct_chest, "soft", 1.5, 5.0, -270.0, -20.0),
        _axial(partial(sections.ct_chest, sharp=True), "lung", 1.5, 5.0, -270.0, -20.0),
    )),
    "ct-head": Protocol("HEAD", (
        Series(partial(radiographs.topogram, part="head"), 256, 256, _TOPOGRAM_WINDOW, 1.2),
        _axial(partial(sections.head, contrast="CT"), "brain", 0.9375, 5.0, 130.0, -55.0),
        _axial(partial(sections.head, contrast="CT"), "bone", 0.9375, 3.0, 130.0, -55.0),
    )),
    "mr-brain": Protocol("HEAD", (
        Series(sections.sagittal_t1, 256, 256, (550.0, 1100.0), 0.9375, "sagittal", 5.0, 120.0, -60.0),
        _mri("T2", (900.0, 1800.0)),
        _mri("FLAIR", (650.0, 1300.0)),
        _mri("DWI", (450.0, 900.0), 128),
    )),
    "us-abd": Protocol("ABDOMEN", (Series(ultrasound.abdomen, 300, 400, (128.0, 256.0), 0.3),)),
    "echo": Protocol("HEART", (Series(ultrasound.heart, 300, 400, (128.0, 256.0), 0.4),)),
    "xr-chest": Protocol("CHEST", (
        _xray(radiographs.chest, 448, 0.9, "PA", view="PA"),
        _xray(radiographs.chest, 448, 0.9, "LL", view="LAT"),
    )),
    "xr-hip": Protocol("HIP", (
        _xray(radiographs.joint, 384, 0.5, "AP", part="hip", view="AP"),
        _xray(radiographs.joint, 384, 0.5, "LATERAL", part="hip", view="AX"),
    )),
    "xr-knee": Protocol("KNEE", (
        _xray(radiographs.joint, 384, 0.4, "AP", part="knee", view="AP"),
        _xray(radiographs.joint, 384, 0.4, "LATERAL", part="knee", view="LAT"),
    )),
    "xr-wrist": Protocol("WRIST", (
        _xray(radiographs.joint, 384, 0.2, "PA", part="wrist", view="PA"),
        _xray(radiographs.joint, 384, 0.2, "LATERAL", part="wrist", view="LAT"),
    )),
    "mammo": Protocol("BREAST", (_mammo("CC"), _mammo("MLO"))),
}  # fmt: skip

# An ImagingStudy names its kind only by its description (the Danish name in STUDIES).
KEY_BY_DESCRIPTION = {study.danish: key for key, study in STUDIES.items()}
assert all(len(PROTOCOLS[key].series) == len(study.series) for key, study in STUDIES.items())
