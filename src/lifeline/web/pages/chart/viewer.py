"""`/patients/{id}/imaging/{study_id}`: the image viewer (issue 22). One ImagingStudy of the
patient: its series (thumbnails), the chosen image large in the chosen window, the series'
particulars and the radiologist's report beside it.

The page works without a script: the image, its place in the series and its window are the
address's `?series=<uid>&image=<n>&window=<preset>`, and the previous, next and window links are
plain links. web/static/viewer.js, where it runs, scrolls, windows, zooms and pans in place,
preloading the series from the addresses this page lists, and keeps the address in step.

The study is read through the core as the clinician, after the chart's header (page.py), so a
patient outside care is refused as every part of the chart is, and the trail names the patient.
A study that is not this patient's is "not found", whoever's it is: the address says nothing of
other records. The images themselves come through the proxy (web/imaging_proxy.py), each call
authorised and audited again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.routing import Route

from lifeline.clock import today
from lifeline.errors import BadRequest, Forbidden, NotFound
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.imaging.access import study_uid
from lifeline.imaging.stores import Stores
from lifeline.web.pages import acting, page
from lifeline.web.pages.chart import words
from lifeline.web.pages.chart.imaging import HIDDEN, pictures, with_reports
from lifeline.web.pages.chart.page import built_parts, chart_header, language, part_path, refusing
from lifeline.web.pages.chart.series import WINDOWS, rendered, series_of, windows_for

PATH = part_path("imaging") + "/{study_id}"
STUDY_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # https://hl7.org/fhir/R4/datatypes.html#id
NO_STUDY = "This patient's record has no imaging study {id}."


def viewer(
    core: Acting,
    stores: Stores,
    patient_id: str,
    study_id: str,
    today_: date,
    language_: str,
    built: frozenset[str],
    asked: Mapping[str, str],
) -> dict[str, Any]:
    """What the viewer shows of `patient_id`'s study `study_id` to the person `core` acts as;
    `asked` is the address's choice of series, image and window (BadRequest if it names none of
    the study's)."""
    _, top = chart_header(core, patient_id, today_, language_, built, showing="imaging")
    resource = patients_study(core, patient_id, study_id)
    study = with_reports(core, patient_id, resource, language_)
    seen = pictures(resource, patient_id, stores)
    uid = study_uid(resource)
    series = series_of(resource)
    current = chosen_series(series, asked.get("series"))
    base = part_path("imaging").replace("{id}", patient_id) + f"/{study_id}"
    for one in series:
        one["href"] = f"{base}?{urlencode({'series': one['uid']})}"
        one["current"] = current is not None and one["uid"] == current["uid"]
        one["started"] = words.when(one["started"] or resource.get("started"), language_)
    shown = shown_image(uid, current, asked, base) if current is not None and seen["viewer"] else None
    return {
        **top,
        "study": {**study, "uid": uid},
        "pictures": {"availability": seen["availability"]},
        "series": series,
        "current": shown,
        "back": part_path("imaging").replace("{id}", patient_id) + f"#study-{study_id}",
        "language": language_,
    }


def patients_study(core: Acting, patient_id: str, study_id: str, missing: str = NO_STUDY) -> dict[str, Any]:
    """The ImagingStudy `study_id`, read as the person, if it is `patient_id`'s; not found
    (`missing`, with `{id}`) otherwise, also when it is another's outside the clinician's care
    (their chart would say so, not this address) or was entered in error."""
    if not STUDY_ID.fullmatch(study_id):
        raise NotFound(missing.format(id=study_id[:80]))
    try:
        answer = core.handle(FhirRequest("read", "ImagingStudy", study_id))
    except (NotFound, Forbidden):
        raise NotFound(missing.format(id=study_id)) from None
    resource = orjson.loads(answer.raw) if answer.raw is not None else dict(answer.resource or {})
    subject = str((resource.get("subject") or {}).get("reference") or "")
    if subject != f"Patient/{patient_id}" or resource.get("status") == HIDDEN:
        raise NotFound(missing.format(id=study_id))
    return resource  # type: ignore[no-any-return]


def chosen_series(series: list[dict[str, Any]], asked: str | None) -> dict[str, Any] | None:
    """The series asked for, or without a choice the study's largest (the first of equals: a
    scout of one image is passed over for the series it planned)."""
    if asked is not None:
        found = next((s for s in series if s["uid"] == asked), None)
        if found is None:
            raise BadRequest(f"This study has no series {asked[:80]!r}; choose one from the study's list.")
        return found
    return max(series, key=lambda s: len(s["instances"]), default=None)


def shown_image(uid: str | None, series: dict[str, Any], asked: Mapping[str, str], base: str) -> dict[str, Any] | None:
    """The image shown of `series`: its number, the window, the proxy's address of it, and the
    links to the neighbours and the other windows; None when the record lists no image of it."""
    instances = series["instances"]
    count = len(instances)
    if not count or uid is None:
        return None
    image = _number_asked(asked.get("image"), count)
    windows = windows_for(series["modality"])
    window = asked.get("window") or series["window"]
    if window not in windows:
        raise BadRequest(f"The window {window[:40]!r} is not one of this series': {', '.join(windows)}.")

    def link(n: int, w: str = window) -> str:
        return f"{base}?{urlencode({'series': series['uid'], 'image': n, 'window': w})}"

    instance = instances[image - 1]
    return {
        "series": series["uid"],
        "image": image,
        "count": count,
        "instance": instance["uid"],
        "window": window,
        "src": rendered(uid, series["uid"], instance["uid"], window),
        "previous": link(image - 1) if image > 1 else None,
        "next": link(image + 1) if image < count else None,
        "first": link(1),
        "last": link(count),
        "windows": [
            {
                "id": w,
                "centre": WINDOWS.get(w, (None, None))[0],
                "width": WINDOWS.get(w, (None, None))[1],
                "href": link(image, w),
                "current": w == window,
            }
            for w in windows
        ],  # fmt: skip
        # What the script needs to show any image of the series in any window without a reload.
        "script": {
            "base": base,
            "series": series["uid"],
            "image": image,
            "window": window,
            "windows": {w: (f"{WINDOWS[w][0]},{WINDOWS[w][1]}" if w in WINDOWS else None) for w in windows},
            "images": [rendered(uid, series["uid"], i["uid"]) for i in instances],  # `window=` added
        },
    }


def _number_asked(asked: str | None, count: int) -> int:
    """The image number in the address (1 without one), within the series' `count`."""
    if asked is None:
        return 1
    if not asked.isdecimal() or not 1 <= int(asked) <= count:
        raise BadRequest(f"There is no image {asked[:20]!r} in this series: it has images 1 to {count}.")
    return int(asked)


def routes(service: FhirService, stores: Stores, paths: Callable[[], set[str]] = set) -> list[Route]:
    """The viewer's page; `paths` gives the app's route paths (the chart's parts)."""

    def data(request: Request) -> dict[str, Any]:
        asked = {k: v for k, v in request.query_params.items() if k in ("series", "image", "window")}
        core, params = acting(service, request), request.path_params
        built = built_parts(paths())
        return viewer(core, stores, params["id"], params["study_id"], today(service.clock), language(), built, asked)

    return [Route(PATH, refusing(service, page("chart/viewer.html", data)), methods=["GET"])]
