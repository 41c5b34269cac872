"""Ultrasound frames (8 bits): a sector fanning out from the probe at the top, tissue echoes as
speckle (Rayleigh-distributed, smeared sideways as a beam smears it), fading with depth. The
abdomen shows liver, gallbladder and kidney; the heart an apical four-chamber view through the
cardiac cycle, one frame per phase, with the ECG trace beneath it."""

from __future__ import annotations

import math

import numpy as np

from lifeline.generate.phantoms.shapes import Frame, Image, box_blur, disc, grid, soft, stored


def abdomen(frame: Frame) -> np.ndarray:
    x, y = grid(frame.rows, frame.cols)
    sweep = frame.t * 0.5 - 0.25  # each frame a little further along the probe's sweep
    echo = 0.55 * disc(x, y, -0.1 + sweep, 0.25, 1.0, 0.75)  # the liver
    gallbladder = disc(x, y, 0.25 + sweep, 0.15, 0.2, 0.11, 0.3)
    kidney = disc(x, y, -0.4 + sweep, 0.6, 0.3, 0.16, -0.2)
    echo = echo * (1.0 - gallbladder) * (1.0 - kidney * 0.5) + kidney * 0.9 * disc(
        x, y, -0.4 + sweep, 0.6, 0.16, 0.06, -0.2
    )
    echo += 0.35 * soft(0.02 - np.abs(y - 0.0 - 0.1 * x), 0.02)  # the diaphragm's bright line
    shadow = np.ones_like(x)
    if frame.abnormal:  # gallstones: bright, with their acoustic shadow behind them
        for dx in (0.0, 0.07, -0.06):
            sx, sy = 0.25 + sweep + dx, 0.2
            echo += disc(x, y, sx, sy, 0.03, 0.025) * 1.5
            shadow *= 1.0 - 0.85 * soft(0.03 - np.abs(_angle(x, y) - _angle_at(sx, sy)) * 1.6, 0.01) * (y > sy)
    return _scan(frame, echo * shadow, 0.6)


def heart(frame: Frame) -> np.ndarray:
    x, y = grid(frame.rows, frame.cols)
    phase = 0.5 + 0.5 * math.cos(2.0 * math.pi * frame.t)  # 1 at end-diastole
    squeeze = 0.12 if frame.abnormal else 0.3  # a failing ventricle barely empties (EF 35 %)
    scale = (1.1 if frame.abnormal else 1.0) * (1.0 - squeeze * (1.0 - phase))
    muscle = disc(x, y, 0.0, 0.3, 0.62, 0.75) * 0.75
    cavities = (disc(x, y, 0.18, 0.05, 0.2 * scale, 0.38 * scale, -0.15)  # the left ventricle
                + disc(x, y, -0.22, 0.1, 0.16 * scale, 0.3 * scale, 0.15)
                + disc(x, y, 0.18, 0.65, 0.17, 0.16) + disc(x, y, -0.2, 0.65, 0.15, 0.15))  # fmt: skip
    echo = muscle * (1.0 - np.clip(cavities, 0.0, 1.0) * 0.95)
    image = _scan(frame, echo, 0.75)
    trace = _ecg(x, frame.t)
    return np.maximum(image, stored(trace * 220.0, 0, 255, np.uint8))


def _angle(x: Image, y: Image) -> Image:
    return np.arctan2(x, y + 1.05)


def _angle_at(x: float, y: float) -> float:
    return math.atan2(x, y + 1.05)


def _scan(frame: Frame, echo: Image, width: float) -> np.ndarray:
    """Echo strength to 8-bit pixels inside the sector: speckle, depth gain, black outside."""
    x, y = grid(frame.rows, frame.cols)
    depth = np.hypot(x, y + 1.05)
    sector = soft(width - np.abs(_angle(x, y)), 0.01) * soft(depth - 0.12, 0.01) * soft(1.95 - depth, 0.01)
    speckle = box_blur(frame.rng.rayleigh(0.6, x.shape).astype(np.float32), 3, axis=1)
    values = 255.0 * np.clip(echo + 0.08, 0.0, 1.5) * speckle * np.exp(-0.35 * depth) * sector
    ticks = soft(0.006 - np.abs(x - 0.93), 0.004) * (np.cos(y * 16.0) > 0.96)  # the depth scale
    return stored(values + ticks * 200.0, 0, 255, np.uint8)


def _ecg(x: Image, t: float) -> Image:
    """The ECG along the bottom, with a marker at this frame's moment."""
    _, y = grid(*x.shape)
    beat = np.mod((x + 1.0) / 2.0 * 2.0, 1.0)
    wave = 0.02 * np.sin(beat * 2.0 * math.pi) - 0.12 * np.exp(-(((beat - 0.3) / 0.015) ** 2))
    line = soft(0.008 - np.abs(y - (0.88 + wave)), 0.006)
    marker = soft(0.006 - np.abs(x - (t * 2.0 - 1.0)), 0.004) * (y > 0.78)
    return np.maximum(line, marker * 0.6)
