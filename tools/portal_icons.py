"""Draw the portal's app icons (issue 25) from src/lifeline/web/static/icon.svg, once, into the same
folder: icon-192.png and icon-512.png (the icon as it is), icon-maskable-512.png (the same mark
on a full-bleed square, inside the central 80 % that a launcher's mask keeps: W3C Web App
Manifest, "maskable" icons).

Run by hand when icon.svg changes, with CairoSVG in a throwaway environment:

    python -m venv /tmp/icons && /tmp/icons/bin/pip install cairosvg==2.9.1
    /tmp/icons/bin/python tools/portal_icons.py

The PNGs are committed rather than drawn at start or at build time: a server then needs no
rendering library (nor Cairo's system libraries), and the files' hashed names (web/assets.py)
stay the same from one install to the next.
"""

from __future__ import annotations

import re
from pathlib import Path

import cairosvg  # type: ignore[import-not-found]

STATIC = Path(__file__).resolve().parent.parent / "src" / "lifeline" / "web" / "static"


def maskable(svg: str) -> str:
    """The mark scaled to 60 % around the centre of a square without rounded corners."""
    mark = re.search(r"<path [^>]*/>", svg)
    fill = re.search(r'<rect [^>]*fill="([^"]+)"', svg)
    assert mark and fill, "icon.svg is no longer a rect and a path: update this script"
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
        f'<rect width="32" height="32" fill="{fill.group(1)}"/>'
        f'<g transform="translate(16 16) scale(.6) translate(-16 -16)">{mark.group(0)}</g></svg>'
    )


def main() -> None:
    svg = (STATIC / "icon.svg").read_text()
    for size in (192, 512):
        cairosvg.svg2png(
            bytestring=svg.encode(), write_to=str(STATIC / f"icon-{size}.png"), output_width=size, output_height=size
        )
    cairosvg.svg2png(
        bytestring=maskable(svg).encode(),
        write_to=str(STATIC / "icon-maskable-512.png"),
        output_width=512,
        output_height=512,
    )


if __name__ == "__main__":
    main()
