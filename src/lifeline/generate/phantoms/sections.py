"""Cross-sections for CT and MR: a chest and a head drawn as tissue masks, slice by slice (`t` from
the lung apices to the bases, from the skull base to the vertex), then given each modality's values:
Hounsfield units for CT, relative signal for MR's T1, T2, FLAIR and diffusion contrasts. Patient
right is image left, anterior is up (the radiological convention for axial images)."""

from __future__ import annotations

import math

import numpy as np

from lifeline.generate.phantoms.shapes import Frame, Image, blurred_noise, disc, ellipse, grid, soft, stored

CT_OFFSET = 1024  # stored = HU + 1024: RescaleIntercept -1024


def ct_chest(frame: Frame, sharp: bool = False) -> np.ndarray:
    """A contrast-enhanced chest slice in HU + 1024; `sharp`: the lung kernel's grainier noise."""
    x, y = grid(frame.rows, frame.cols)
    t = frame.t
    body = disc(x, y, 0.0, 0.04, 0.9, 0.62)
    muscle = disc(x, y, 0.0, 0.04, 0.82, 0.55)
    hu = -1000.0 + body * 900.0 + muscle * 140.0  # air, fat (-100), muscle (40)
    lung_size = 0.45 + 0.55 * math.sin(math.pi * min(1.0, 0.08 + 0.92 * t) ** 0.8)
    liver = disc(x, y, -0.28, 0.12, 0.5, 0.4) * min(1.0, max(0.0, (t - 0.72) / 0.2))
    heart_size = math.sin(math.pi * (t - 0.35) / 0.6) if 0.35 < t < 0.95 else 0.0
    heart = disc(x, y, 0.12, -0.05, 0.32 * heart_size + 1e-3, 0.26 * heart_size + 1e-3, 0.4)
    right = disc(x, y, -0.36, 0.0, 0.3 * lung_size, 0.44 * lung_size, -0.15)
    left = disc(x, y, 0.38, 0.02, 0.28 * lung_size, 0.42 * lung_size, 0.15)
    lungs = np.clip(right * (1.0 - liver) + left - heart, 0.0, 1.0)
    vessels = np.clip(blurred_noise(frame.rng, frame.rows, frame.cols, 3) * 3.0 - 2.2, 0.0, 1.0)
    hu = hu * (1.0 - lungs) + lungs * (-870.0 + 760.0 * vessels)
    hu += liver * (60.0 - 0.0) * (1.0 - lungs)
    hu = np.where(heart > 0, hu * (1.0 - heart) + heart * 45.0, hu)
    hu += 130.0 * disc(
        x, y, 0.13, -0.05, 0.12 * heart_size + 1e-3, 0.09 * heart_size + 1e-3
    )  # the contrast-filled ventricle
    if t < 0.55:  # the ascending aorta and the trachea above the carina
        hu = _paint(hu, disc(x, y, 0.04, -0.16, 0.075, 0.075), 180.0)
        hu = _paint(hu, disc(x, y, -0.02, 0.05, 0.06, 0.06), -1000.0 if t < 0.35 else -50.0)
    hu = _paint(hu, disc(x, y, 0.14, 0.28, 0.06, 0.06) * (t > 0.12), 180.0)  # the descending aorta
    hu = _spine(hu, x, y, 0.0, 0.34)
    angle = np.arctan2(y - 0.04, x)
    rim = soft((0.97 - ellipse(x, y, 0.0, 0.04, 0.86, 0.59)) * 0.6) * soft(ellipse(x, y, 0.0, 0.04, 0.86, 0.59) - 0.9)
    ribs = rim * (np.cos(angle * 9.0 + 12.0 * t) > 0.55) * (np.abs(x) > 0.12)
    hu = _paint(hu, ribs, 650.0)
    hu = _paint(hu, disc(x, y, 0.0, -0.52, 0.09, 0.035) * (0.15 < t < 0.8), 450.0)  # the sternum
    if frame.abnormal and 0.15 < t < 0.45:  # a tumour in the left upper lobe, 28 mm across
        r = 0.075 * math.sqrt(max(0.0, 1.0 - ((t - 0.3) / 0.15) ** 2))
        hu = _paint(hu, disc(x, y, 0.36, -0.16, r + 1e-3, r * 0.9 + 1e-3), 35.0)
    noise = frame.rng.standard_normal(hu.shape, dtype=np.float32) * (28.0 if sharp else 9.0)
    return stored(hu + noise * body + CT_OFFSET, 0, 4095)


def _spine(hu: Image, x: Image, y: Image, cx: float, cy: float) -> Image:
    hu = _paint(hu, disc(x, y, cx, cy, 0.11, 0.1), 700.0)
    hu = _paint(hu, disc(x, y, cx, cy, 0.085, 0.075), 250.0)  # the cancellous body in its cortex
    hu = _paint(hu, disc(x, y, cx, cy + 0.17, 0.07, 0.06), 600.0)
    hu = _paint(hu, disc(x, y, cx, cy + 0.165, 0.045, 0.04), 20.0)  # the spinal canal
    return _paint(hu, disc(x, y, cx, cy + 0.25, 0.025, 0.05), 600.0)


def _paint(image: Image, mask: Image, value: float) -> Image:
    return image * (1.0 - mask) + mask * value


# Tissue values of a head: CT in HU, and MR signal (arbitrary units, about 0-2000) per contrast.
_HEAD = {
    #         scalp  bone  marrow grey  white  csf   deep  lesion
    "CT":    (20.0, 1100, 600.0, 38.0, 29.0, 6.0, 36.0, 16.0),
    "T1":    (900.0, 60, 650.0, 480.0, 700.0, 130.0, 540.0, 420.0),
    "T2":    (550.0, 40, 400.0, 900.0, 600.0, 1800.0, 800.0, 1300.0),
    "FLAIR": (500.0, 40, 350.0, 800.0, 560.0, 90.0, 720.0, 1400.0),
    "DWI":   (90.0, 20, 60.0, 430.0, 380.0, 50.0, 420.0, 1100.0),
}  # fmt: skip


def head(frame: Frame, contrast: str) -> np.ndarray:
    """An axial head slice: HU + 1024 for CT, signal for MR (T1, T2, FLAIR, DWI)."""
    x, y = grid(frame.rows, frame.cols)
    t = frame.t
    size = max(0.45, math.sqrt(max(0.0, 1.0 - ((t - 0.4) / 0.78) ** 2)))
    rx, ry = 0.74 * size, 0.9 * size
    outline = ellipse(x, y, 0.0, 0.02, rx, ry)
    scalp = soft((1.0 - outline) * 0.5)
    skull = soft((0.955 - outline) * 0.5)
    brain_r = ellipse(x, y, 0.0, 0.03, rx * 0.86, ry * 0.88)
    brain = soft((1.0 - brain_r) * 0.5)
    angle = np.arctan2(y, x)
    sulci = brain * soft(brain_r - 0.86) * (np.cos(angle * 34.0 + 5.0 * np.sin(angle * 7.0 + 9.0 * t)) > 0.9)
    grey = brain * soft(brain_r - 0.78, 0.05)
    ventricle = 0.0 if not 0.3 < t < 0.75 else math.sin(math.pi * (t - 0.3) / 0.45)
    csf = sulci
    if ventricle > 0.05:  # the lateral ventricles, and the falx between the hemispheres
        csf = np.clip(csf + disc(x, y, -0.1, -0.08, 0.05 + 0.03 * ventricle, 0.3 * ventricle, 0.25)
                      + disc(x, y, 0.1, -0.08, 0.05 + 0.03 * ventricle, 0.3 * ventricle, -0.25)
                      + soft(0.008 - np.abs(x), 0.008) * brain, 0.0, 1.0)  # fmt: skip
    deep = (disc(x, y, -0.2, 0.06, 0.1, 0.16) + disc(x, y, 0.2, 0.06, 0.1, 0.16)) * (0.25 < t < 0.55)
    lesion = np.zeros_like(x)
    if frame.abnormal and contrast in ("CT", "DWI") and 0.3 < t < 0.75:  # an infarct in the left hemisphere
        lesion = brain * soft(np.cos(angle - 0.25) - 0.93, 0.02) * soft(brain_r - 0.35, 0.1)
    elif frame.abnormal and 0.35 < t < 0.8:  # scattered white-matter lesions
        lesion = brain * soft(blurred_noise(frame.rng, frame.rows, frame.cols, 4) - 1.1, 0.1) * soft(0.7 - brain_r)
    s_scalp, s_bone, s_marrow, s_grey, s_white, s_csf, s_deep, s_lesion = _HEAD[contrast]
    value = scalp * s_scalp
    value = _paint(value, skull, s_bone)
    value = _paint(value, skull * soft(0.93 - outline, 0.02) * soft(outline - 0.9, 0.02), s_marrow)
    value = _paint(value, brain, s_white)
    value = _paint(value, grey, s_grey)
    value = _paint(value, deep, s_deep)
    value = _paint(value, csf, s_csf)
    value = _paint(value, lesion, s_lesion)
    return _finish(frame, value, contrast, scalp)


def sagittal_t1(frame: Frame) -> np.ndarray:
    """A sagittal T1 slice from right to left: the midline shows the corpus callosum, brainstem
    and cerebellum; lateral slices a smaller hemisphere. Anterior is image left, up is superior."""
    x, y = grid(frame.rows, frame.cols)
    off = abs(frame.t * 2.0 - 1.0)
    size = math.sqrt(max(0.05, 1.0 - off**2 * 0.9))
    outline = ellipse(x, y, 0.02, -0.05, 0.86 * size, 0.78 * size)
    scalp = np.maximum(soft((1.0 - outline) * 0.5), disc(x, y, -0.62, 0.45, 0.22, 0.3, 0.3) * (off < 0.5))  # the face
    skull = soft((0.955 - outline) * 0.5)
    brain_r = ellipse(x, y, 0.05, -0.08, 0.74 * size, 0.62 * size)
    brain = soft((1.0 - brain_r) * 0.5) * (1.0 - soft(y - 0.35 - 0.3 * x, 0.05))
    grey = brain * soft(brain_r - 0.8, 0.05)
    angle = np.arctan2(y, x)
    csf = brain * soft(brain_r - 0.86) * (np.cos(angle * 34.0 + 5.0 * np.sin(angle * 4.0)) > 0.9)
    cerebellum = disc(x, y, 0.42, 0.42, 0.3 * size, 0.2 * size) * (off < 0.6)
    midline = np.zeros_like(x)
    if off < 0.12:
        midline = soft(0.025 - np.abs(ellipse(x, y, 0.05, 0.02, 0.4, 0.22) - 1.0) * 0.3) * (y < 0.02)
        brain = np.maximum(brain, disc(x, y, 0.12, 0.42, 0.07, 0.26, -0.35))  # the brainstem
        csf = np.maximum(csf, disc(x, y, 0.05, 0.0, 0.3, 0.12) - midline)
    s_scalp, s_bone, s_marrow, s_grey, s_white, s_csf, _, _ = _HEAD["T1"]
    value: Image = scalp * s_scalp
    value = _paint(value, skull, s_bone)
    value = _paint(value, np.maximum(brain, cerebellum), s_white)
    value = _paint(value, grey + cerebellum * 0.5, s_grey)
    value = _paint(value, np.clip(csf, 0.0, 1.0), s_csf)
    value = _paint(value, midline, s_white * 1.1)
    return _finish(frame, value, "T1", np.clip(scalp, 0.0, 1.0))


def _finish(frame: Frame, value: Image, contrast: str, body: Image) -> np.ndarray:
    if contrast == "CT":
        hu = value * body - 1000.0 * (1.0 - body)
        noise = frame.rng.standard_normal(hu.shape, dtype=np.float32) * 3.0
        return stored(hu + noise * body + CT_OFFSET, 0, 4095)
    sigma = 45.0 if contrast == "DWI" else 18.0
    real = value + frame.rng.standard_normal(value.shape, dtype=np.float32) * sigma
    imaginary = frame.rng.standard_normal(value.shape, dtype=np.float32) * sigma
    return stored(np.hypot(real, imaginary), 0, 4095)  # magnitude images: Rician noise
