"""An ImagingStudy's series as the chart shows their images (issue 22): each series with its
instances in the modality's order (their numbers), the proxy's address of a rendered image
(web/imaging_proxy.py, the only way the browser reaches the PACS), a thumbnail of the middle
image, and the window a reader would start with.

The windows are the usual CT presets, in Hounsfield units as centre/width; "default" asks for
no window, so the PACS renders with the DICOM's own (WindowCenter/WindowWidth), which is what
every other modality gets. A series' starting window follows what it shows: a lung series the
lung window, a bone series the bone window, a head CT the brain window, other CT soft tissue,
and a scout (topogram) the DICOM's own.
https://dicom.nema.org/medical/dicom/current/output/html/part18.html#sect_8.3.5.1.3 (window)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from lifeline.imaging.access import study_uid

PROXY = "/imaging/studies"
THUMBNAIL = "128,128"  # the viewport of a series' thumbnail, in pixels
DEFAULT = "default"
# centre, width (HU); in the order the buttons show them, the keys 1-4 (5: DEFAULT)
WINDOWS: dict[str, tuple[int, int]] = {
    "soft-tissue": (40, 400),
    "lung": (-600, 1500),
    "bone": (300, 1500),
    "brain": (40, 80),
}
HEAD_SITES = {"69536005", "12738006", "119235005"}  # head, brain, cerebral structure (SNOMED CT)
_WORDS = {
    "lung": ("lung", "lunge", "pulm"),
    "bone": ("bone", "knogle"),
    "brain": ("head", "hoved", "caput", "cerebr", "brain", "hjerne", "kranie"),
    DEFAULT: ("topogram", "scout", "localizer", "oversigt"),
}


def windows_for(modality: str | None) -> list[str]:
    """The windows a series of `modality` may be shown in: the CT presets only for CT."""
    return [*WINDOWS, DEFAULT] if modality == "CT" else [DEFAULT]


def window_param(window: str) -> str | None:
    """The proxy's `window` parameter of a preset (None: the DICOM's own)."""
    if window not in WINDOWS:
        return None
    centre, width = WINDOWS[window]
    return f"{centre},{width}"


def starting_window(series: dict[str, Any]) -> str:
    """The window a reader would open `series` in (above)."""
    if series.get("modality") != "CT":
        return DEFAULT
    said = f"{series.get('description') or ''} {series.get('bodySiteText') or ''}".lower()
    for window in (DEFAULT, "lung", "bone"):
        if any(word in said for word in _WORDS[window]):
            return window
    if series.get("bodySiteCode") in HEAD_SITES or any(word in said for word in _WORDS["brain"]):
        return "brain"
    return "soft-tissue"


def rendered(study: str, series: str, instance: str, window: str = DEFAULT, viewport: str | None = None) -> str:
    """The proxy's address of one instance rendered as an image."""
    params = {"window": window_param(window), "viewport": viewport}
    query = urlencode({k: v for k, v in params.items() if v}, safe=",")
    return f"{PROXY}/{study}/series/{series}/instances/{instance}/rendered" + (f"?{query}" if query else "")


def series_of(study: dict[str, Any]) -> list[dict[str, Any]]:
    """The series of an ImagingStudy in their numbers' order, each with its instances in theirs
    and, where the study names its DICOM UID and the series lists an image, a thumbnail."""
    uid = study_uid(study)
    shown = []
    listed = [s for s in study.get("series") or [] if isinstance(s, dict) and s.get("uid")]
    for series in sorted(listed, key=lambda s: _number(s.get("number"))):
        modality = (series.get("modality") or {}).get("code")
        site = series.get("bodySite") or {}
        instances = [i for i in series.get("instance") or [] if isinstance(i, dict) and i.get("uid")]
        instances.sort(key=lambda i: _number(i.get("number")))
        series_uid = str(series["uid"])
        described: dict[str, Any] = {
            "uid": series_uid,
            "number": series.get("number"),
            "modality": modality,
            "description": series.get("description") or "",
            "bodySite": site.get("display") or site.get("code"),
            "bodySiteCode": site.get("code"),
            "bodySiteText": site.get("display") or "",
            "started": series.get("started"),
            "images": series.get("numberOfInstances", len(instances) if instances else None),
            "instances": [{"uid": str(i["uid"]), "number": i.get("number")} for i in instances],
        }
        window = described["window"] = starting_window(described)
        middle = instances[(len(instances) - 1) // 2] if instances else None
        described["thumbnail"] = (
            rendered(uid, series_uid, str(middle["uid"]), window, THUMBNAIL) if uid and middle else None
        )
        del described["bodySiteText"]
        shown.append(described)
    return shown


def _number(value: Any) -> int:
    """A series' or an instance's number (0 when not recorded): the order the modality made them in."""
    return value if isinstance(value, int) else 0
