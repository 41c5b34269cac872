"""Synthetic pixel data that look like their modality: numpy drawings of a body, not of anyone.

Each picture is a function of one `Frame` (where in its series the image lies, a random stream
seeded from its UIDs, and whether the study's report is abnormal) returning the stored pixel
values: CT in HU + 1024 (12 bits), MR and radiographs in 12 bits, ultrasound in 8. Shapes are
drawn as soft-edged masks over a coordinate grid (shapes.py), whole images at a time, so that a
slice costs a few milliseconds: sections.py (CT and MR cross-sections), radiographs.py (X-rays,
mammograms, CT topograms) and ultrasound.py (abdominal sectors and echocardiograms)."""

from lifeline.generate.phantoms.shapes import Frame

__all__ = ["Frame"]
