"""Projection images: chest, hip, knee and wrist radiographs, mammograms and CT topograms. Each is
drawn as how much a body part holds back the beam (soft tissue, lung, bone), added up and shown
bone-bright (MONOCHROME2, 12 bits). Frontal views put the patient's right on image left."""

from __future__ import annotations

import numpy as np

from lifeline.generate.phantoms.shapes import Frame, Image, blurred_noise, bone, disc, grid, soft, stored

_FULL = 4095


def chest(frame: Frame, view: str) -> np.ndarray:
    """A chest radiograph, PA or lateral: lung fields, mediastinum and heart, ribs, clavicles."""
    density = _chest_pa(frame) if view == "PA" else _chest_lateral(frame)
    return _expose(frame, density, 25.0)


def _chest_pa(frame: Frame) -> Image:
    x, y = grid(frame.rows, frame.cols)
    body = np.maximum(disc(x, y, 0.0, 0.3, 0.95, 1.05), disc(x, y, 0.0, -0.9, 0.22, 0.3))
    density = body * 0.42
    dome = 0.42 + 0.18 * (np.abs(x) - 0.38) ** 2 / 0.09
    lungs = (disc(x, y, -0.38, -0.05, 0.27, 0.62, 0.05) + disc(x, y, 0.38, -0.03, 0.25, 0.6, -0.05)) * soft(
        dome - y, 0.04
    )
    heart = disc(x, y, 0.12, 0.22, 0.3, 0.24, 0.3)
    density -= lungs * (0.3 - 0.05 * blurred_noise(frame.rng, frame.rows, frame.cols, 6))
    density += heart * 0.28 * (0.5 + 0.5 * lungs) + soft(0.12 - np.abs(x), 0.03) * soft(0.35 - y, 0.05) * 0.22
    density += soft(0.06 - np.abs(x), 0.02) * (0.08 + 0.04 * (np.cos(y * 40.0) > 0.2))  # the spine through it
    for side in (-1.0, 1.0):
        for k in range(10):  # posterior ribs arch out from the spine and fall laterally
            top = -0.72 + k * 0.115
            arc = top + 0.3 * np.clip(np.abs(x) - 0.05, 0.0, None) ** 1.6 - 0.25 * np.clip(0.3 - np.abs(x), 0.0, 1.0)
            band = soft(0.022 - np.abs(y - arc), 0.012) * soft(0.8 - np.abs(x), 0.05) * (x * side > 0.06)
            density += band * 0.14
        density += bone(x, y, side * 0.08, -0.66, side * 0.6, -0.78, 0.028) * 0.25  # the clavicles
        density += bone(x, y, side * 0.75, -0.85, side * 0.92, 0.1, 0.09) * 0.3 * (np.abs(x) > 0.7)  # the humeri
    if frame.abnormal:  # pneumonia: an opacity in the right lower lobe
        density += (
            disc(x, y, -0.36, 0.25, 0.2, 0.14, edge=0.12)
            * 0.24
            * (1 + 0.5 * blurred_noise(frame.rng, frame.rows, frame.cols, 10))
        )
    return density


def _chest_lateral(frame: Frame) -> Image:
    x, y = grid(frame.rows, frame.cols)  # anterior is image left
    body = disc(x, y, 0.02, 0.2, 0.82, 1.1)
    density = body * 0.5
    lung = disc(x, y, 0.05, -0.05, 0.58, 0.66) * soft(0.5 + 0.1 * x - y, 0.05)
    density -= lung * (0.3 - 0.05 * blurred_noise(frame.rng, frame.rows, frame.cols, 6))
    density += disc(x, y, -0.28, 0.32, 0.3, 0.27, 0.4) * 0.22  # the heart
    density += bone(x, y, -0.66, -0.6, -0.72, 0.3, 0.04) * 0.25  # the sternum
    for k in range(12):  # vertebral bodies with their discs
        cy = -0.85 + k * 0.15
        density += disc(x, y, 0.55 + 0.08 * cy**2, cy, 0.1, 0.06) * 0.32
    if frame.abnormal:
        density += disc(x, y, 0.2, 0.3, 0.22, 0.15, edge=0.12) * 0.14
    return density


def joint(frame: Frame, part: str, view: str) -> np.ndarray:
    """A hip, knee or wrist radiograph in two views; abnormal reports get their fracture or arthrosis."""
    x, y = grid(frame.rows, frame.cols)
    density = {"hip": _hip, "knee": _knee, "wrist": _wrist}[part](x, y, view, frame.abnormal)
    return _expose(frame, density, 20.0)


def _hip(x: Image, y: Image, view: str, broken: bool) -> Image:
    soft_tissue = soft(0.95 - np.abs(x + 0.1), 0.1) * 0.35
    shift = 0.05 if broken else 0.0
    if view == "AP":
        pelvis = disc(x, y, -0.35, -0.6, 0.55, 0.4, 0.3) * 0.25 + bone(x, y, -0.8, -0.9, -0.2, -0.2, 0.12) * 0.15
        head = disc(x, y, -0.05 - shift, -0.08 + shift, 0.2, 0.2) * 0.45
        neck = bone(x, y, -0.05, -0.08, 0.3, 0.2, 0.13)
        shaft = bone(x, y, 0.32, 0.15, 0.38, 1.2, 0.17)
        trochanter = disc(x, y, 0.45, 0.12, 0.16, 0.16) * 0.3
        socket = soft(0.03 - np.abs(np.hypot(x + 0.05, y + 0.08) - 0.23), 0.02) * (y < 0.0) * 0.2
        density = soft_tissue + pelvis + head + neck * 0.4 + shaft * 0.55 + trochanter + socket
    else:  # the axial (lateral) view: the neck end-on above the shaft
        head = disc(x, y, -0.3 - shift, -0.35, 0.22, 0.22) * 0.45
        neck = bone(x, y, -0.3, -0.35, 0.1, -0.05, 0.14)
        shaft = bone(x, y, 0.1, -0.05, 0.9, 0.35, 0.18)
        density = soft_tissue + head + neck * 0.4 + shaft * 0.55 + disc(x, y, 0.05, -0.05, 0.18, 0.2) * 0.25
    if broken:  # a displaced femoral neck fracture: a dark cleft across the neck
        density -= bone(x, y, 0.02, -0.3, 0.2, 0.2, 0.02) * 0.35 * (view == "AP")
        density -= bone(x, y, -0.2, -0.1, -0.05, -0.35, 0.02) * 0.35 * (view != "AP")
    return density


def _knee(x: Image, y: Image, view: str, worn: bool) -> Image:
    soft_tissue = soft(0.75 - np.abs(x), 0.15) * 0.35
    gap = 0.03 if worn else 0.07  # arthrosis narrows the joint space
    if view == "AP":
        femur = (
            bone(x, y, 0.0, -1.2, 0.0, -0.35, 0.24) * 0.55
            + (disc(x, y, -0.2, -0.22, 0.19, 0.17) + disc(x, y, 0.2, -0.22 + (0.04 if worn else 0.0), 0.19, 0.17))
            * 0.35
        )
        tibia = disc(x, y, 0.0, -0.05 + gap + 0.08, 0.44, 0.09) * 0.4 + bone(x, y, 0.0, 0.1, 0.0, 1.2, 0.22) * 0.55
        fibula = bone(x, y, 0.42, 0.15, 0.38, 1.2, 0.065) * 0.45
        patella = disc(x, y, 0.0, -0.3, 0.14, 0.16) * 0.12
        density = soft_tissue + femur + tibia + fibula + patella
    else:
        femur = bone(x, y, 0.25, -1.2, 0.05, -0.35, 0.24) * 0.55 + disc(x, y, 0.08, -0.22, 0.24, 0.2) * 0.35
        tibia = disc(x, y, 0.05, 0.0 + gap, 0.38, 0.09) * 0.35 + bone(x, y, 0.05, 0.05, 0.2, 1.2, 0.2) * 0.55
        patella = disc(x, y, -0.38, -0.35, 0.09, 0.2, -0.2) * 0.4
        density = soft_tissue + femur + tibia + patella
    return density


def _wrist(x: Image, y: Image, view: str, broken: bool) -> Image:
    soft_tissue = soft(0.62 - np.abs(x - 0.02), 0.15) * 0.32
    if view == "PA":
        radius = bone(x, y, -0.18, 1.2, -0.2, 0.4, 0.18) * 0.55 + disc(x, y, -0.22, 0.32, 0.25, 0.1, -0.2) * 0.35
        ulna = bone(x, y, 0.25, 1.2, 0.22, 0.38, 0.1) * 0.5
        carpals = sum(disc(x, y, cx, cy, 0.08, 0.07) for cx, cy in
                      ((-0.28, 0.12), (-0.1, 0.1), (0.07, 0.12), (0.22, 0.15),
                       (-0.3, -0.08), (-0.12, -0.08), (0.04, -0.08), (0.2, -0.06))) * 0.3  # fmt: skip
        fingers = sum(bone(x, y, cx, -0.22, cx * 1.5, -1.2, 0.055) for cx in (-0.3, -0.15, 0.0, 0.14, 0.27)) * 0.45
        density = soft_tissue + radius + ulna + carpals + fingers
    else:
        forearm = bone(x, y, 0.0, 1.2, -0.02, 0.35, 0.2) * 0.7
        carpals = disc(x, y, 0.0, 0.1, 0.16, 0.22) * 0.45
        fingers = bone(x, y, 0.0, -0.2, -0.12, -1.2, 0.12) * 0.6
        density = soft_tissue + forearm + carpals + fingers
    if broken:  # a distal radius fracture: a cleft and a dorsal tilt of the end
        density -= soft(0.018 - np.abs(y - 0.45 - 0.15 * x), 0.01) * soft(0.17 - np.abs(x + 0.2), 0.02) * 0.35
    return density


def laterality(frame: Frame) -> str:
    """A mammography series holds the right breast, then the left."""
    return "R" if frame.number % 2 else "L"


def mammogram(frame: Frame, view: str) -> np.ndarray:
    """One breast, CC or MLO, the chest wall at the image edge the viewer expects for its side."""
    x, y = grid(frame.rows, frame.cols)
    side = laterality(frame)
    if side == "L":
        x = -x  # the left breast is the mirror of the right
    breast = disc(x, y, 1.05, 0.0 if view == "CC" else 0.1, 1.5, 0.82 if view == "CC" else 0.9)
    glands = np.clip(blurred_noise(frame.rng, frame.rows, frame.cols, 10) * 0.6 + 0.2, 0.0, 1.0)
    glands *= breast * soft(0.95 - np.hypot((x - 0.6) / 0.9, y / 0.7), 0.3)
    density = breast * 0.32 + glands * 0.3 + breast * (1.0 - soft(x + 0.43, 0.02)) * 0.04  # the skin line
    if view == "MLO":  # the pectoral muscle in the upper corner
        density += soft(x - 0.6 + (y + 1.0) * 0.45, 0.02) * soft(-0.1 - y, 0.05) * breast * 0.25
    if frame.abnormal and side == "R":  # a spiculated mass, 14 mm
        cx, cy = 0.2, -0.2
        angle = np.arctan2(y - cy, x - cx)
        r = np.hypot(x - cx, y - cy)
        spicules = soft(np.cos(angle * 13.0) - 0.85, 0.05) * soft(0.22 - r, 0.08)
        density += (disc(x, y, cx, cy, 0.07, 0.07, edge=0.02) * 0.3 + spicules * 0.12) * breast
    return _expose(frame, density, 18.0)


def topogram(frame: Frame, part: str) -> np.ndarray:
    """The CT scout: a frontal chest or lateral skull projection, in the CT image's HU + 1024 scale."""
    if part == "chest":
        density = _chest_pa(frame)
    else:
        x, y = grid(frame.rows, frame.cols)
        skull = disc(x, y, 0.05, -0.15, 0.72, 0.68)
        density = skull * 0.35 + (skull - disc(x, y, 0.05, -0.15, 0.66, 0.62)) * 0.4
        density += disc(x, y, -0.5, 0.5, 0.3, 0.4, 0.3) * 0.35 + bone(x, y, 0.2, 0.5, 0.25, 1.2, 0.1) * 0.4
    values = (
        -1000.0
        + 2000.0 * np.clip(density, 0.0, 1.0)
        + frame.rng.standard_normal(density.shape, dtype=np.float32) * 15.0
    )
    return stored(values + 1024.0, 0, 4095)


def _expose(frame: Frame, density: Image, noise: float) -> np.ndarray:
    """Density (0 for air, about 1 for thick bone) to 12-bit pixels, bone bright, with quantum noise."""
    values = 120.0 + 3700.0 * np.clip(density, 0.0, 1.0) ** 1.1
    values += frame.rng.standard_normal(density.shape, dtype=np.float32) * noise
    return stored(values, 0, _FULL)


WINDOW_12_BIT = (2048.0, 4096.0)
