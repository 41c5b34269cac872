"""`/patients/{id}/vitals`: the patient's vital signs as a flowsheet (issue 21): the times they
were measured in columns, newest first and at most `COLUMNS` to a screen (`?page=` for older),
the kinds in rows (blood pressure as systolic/diastolic, 132/79), each value with its unit and,
where the data carry a reference range or an interpretation, its flag; and per kind its curve,
drawn by pygal (trend.py) at `/patients/{id}/vitals/chart.svg?code=`, blood pressure's two
components as two lines (LOINC 85354-9 with 8480-6 and 8462-4).

Every read goes through the core acting as the clinician, as the results part does (results.py):
the patient first, so a patient outside care is refused before anything else is asked.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.routing import Route

from lifeline.clock import today
from lifeline.errors import BadRequest
from lifeline.fhir.acting import Acting
from lifeline.fhir.service import FhirService
from lifeline.web.pages import acting, page
from lifeline.web.pages.chart import summary, trend, words
from lifeline.web.pages.chart.page import Reader, built_parts, chart_header, language, part_path, refusing
from lifeline.web.pages.chart.results import _CODE, key_of

PATH = part_path("vitals")
CHART_PATH = f"{PATH}/chart.svg"
VITALS_READ = 500  # the newest measurements on the page; older ones are said to exist
COLUMNS = 12  # measurement times to a screen
BLOOD_PRESSURE, SYSTOLIC, DIASTOLIC = "85354-9", "8480-6", "8462-4"
# The rows in the order a nurse's flowsheet has them; kinds not named here follow by name.
ORDER = ("8867-4", BLOOD_PRESSURE, "9279-1", "59408-5", "8310-5", "29463-7", "8302-2", "39156-5")
NOT_SHOWN = ("entered-in-error", "cancelled")


def vitals(
    core: Acting,
    patient_id: str,
    today_: date,
    language: str,
    built: frozenset[str] = frozenset(),
    page_: int = 0,
) -> dict[str, Any]:
    """What the vital signs part shows of `patient_id` to the person `core` acts as: the header,
    the flowsheet's `page_`th screen of measurement times (0: the newest) and each kind's curve."""
    read, top = chart_header(core, patient_id, today_, language, built, showing="vitals")
    observations, _ = read.search(
        "Observation", ("category", "vital-signs"), ("_sort", "-date"), ("_count", str(VITALS_READ))
    )
    older = read.more
    shown = [o for o in observations if o.get("status") not in NOT_SHOWN and summary.effective(o)]
    moments = sorted({_at(o) for o in shown}, reverse=True)
    pages = max(1, -(-len(moments) // COLUMNS))
    page_ = min(page_, pages - 1)
    columns = moments[page_ * COLUMNS : (page_ + 1) * COLUMNS]
    return {
        **top,
        "columns": [_column(moment, shown, language) for moment in columns],
        "rows": _rows(shown, columns, language, CHART_PATH.replace("{id}", read.patient_id)),
        "page": page_,
        "pages": pages,
        "measured": len(moments),
        "older": older,
        "read": VITALS_READ,
        "language": language,
    }


def _at(observation: dict[str, Any]) -> str:
    """When it was measured, in an order that sorts (Danish time, ISO)."""
    return trend._moment(summary.effective(observation) or "").isoformat()


def _column(moment: str, observations: list[dict[str, Any]], language: str) -> dict[str, Any]:
    """A measurement time, its day and its clock time apart: the column's head on two lines."""
    recorded = next(summary.effective(o) or "" for o in observations if _at(o) == moment)
    day = words.when(recorded, language, day=True) or {}
    clock = trend._moment(recorded).strftime("%H:%M") if len(recorded) > 10 else ""
    return {"at": moment, "when": words.when(recorded, language), "day": day.get("text", ""), "time": clock}


def _rows(
    observations: list[dict[str, Any]], columns: list[str], language: str, chart_path: str
) -> list[dict[str, Any]]:
    """Each kind measured (among all read, so a row stays when this screen has none of it), with
    a cell per column (None where it was not measured then) and its curve's address at `chart_path`."""
    rows: dict[str, dict[str, Any]] = {}
    for observation in observations:  # newest first: a row's name and unit are its newest
        key = key_of(observation.get("code"))
        if not key:
            continue
        if key not in rows:
            rows[key] = {"code": key, "name": words.concept(observation.get("code")) or key, "unit": "",
                         "cells": {}, "numeric": 0}  # fmt: skip
        row, moment = rows[key], _at(observation)
        cell = _cell(observation, language)
        row["numeric"] += cell["numbers"] is not None
        row["unit"] = row["unit"] or cell["unit"]
        if moment in columns and moment not in row["cells"]:
            row["cells"][moment] = cell
    shown = []
    for row in rows.values():
        cells = row.pop("cells")
        chartable = row.pop("numeric") >= 2
        chart = f"{chart_path}?{urlencode({'code': row['code']})}" if chartable else None
        shown.append({**row, "cells": [cells.get(moment) for moment in columns], "chart": chart})
    rank = {code: index for index, code in enumerate(ORDER)}
    return sorted(shown, key=lambda r: (rank.get(r["code"], len(ORDER)), r["name"].lower()))


def _cell(observation: dict[str, Any], language: str) -> dict[str, Any]:
    """One measurement: its value as read (blood pressure 132/79), its numbers, unit and flag."""
    value, unit = summary.value_of(observation, language)
    parts = [_component(observation, c) for c in observation.get("component") or []]
    numbers: list[float] | None = None
    flag = summary.abnormal_flag(observation)
    if "valueQuantity" in observation:
        number = observation["valueQuantity"].get("value")
        numbers = [number] if isinstance(number, int | float) and not isinstance(number, bool) else None
    elif parts:
        numbers = [p["valueQuantity"]["value"] for p in parts if _numeric(p)] or None
        flag = flag or next((f for f in map(summary.abnormal_flag, parts) if f), None)
    return {
        "id": observation.get("id"),
        "value": value,
        "unit": unit,
        "numbers": numbers,
        "flag": flag,
        "range": words.reference_range(observation.get("referenceRange"), language),
    }


def _component(observation: dict[str, Any], component: dict[str, Any]) -> dict[str, Any]:
    """A component as an observation of its own (its time and status the panel's), for the flag
    and the curve."""
    kept = ("code", "valueQuantity", "referenceRange", "interpretation")
    timing = {k: v for k, v in observation.items() if k.startswith("effective") or k == "status"}
    return {**timing, **{k: component[k] for k in kept if k in component}}


def _numeric(observation: dict[str, Any]) -> bool:
    value = (observation.get("valueQuantity") or {}).get("value")
    return isinstance(value, int | float) and not isinstance(value, bool)


def curves(read: Reader, code: str, language: str, names: dict[str, str]) -> list[dict[str, Any]]:
    """The series of one kind for its chart, oldest first: blood pressure's systolic and diastolic
    as two (`names` says them in the reader's language), any other kind one."""
    if not _CODE.fullmatch(code):
        return [trend.series([], code, language)]
    observations, _ = read.search(
        "Observation",
        ("category", "vital-signs"),
        ("code", code),
        ("_sort", "-date"),  # the newest, when there are more than are read
        ("_count", str(VITALS_READ)),
    )
    observations = list(reversed(observations))
    if code != BLOOD_PRESSURE:
        return [trend.series(observations, code, language)]
    drawn = []
    for part in (SYSTOLIC, DIASTOLIC):
        parts = [
            _component(o, c)
            for o in observations
            for c in o.get("component") or []
            if part in words.codes(c.get("code"))
        ]
        drawn.append({**trend.series(parts, part, language), "name": names[part]})
    return drawn


def routes(service: FhirService, paths: Callable[[], set[str]]) -> list[Route]:
    """The vital signs page and its curves; `paths` gives the app's route paths (page.routes)."""

    def data(request: Request) -> dict[str, Any]:
        try:
            page_ = max(0, int(request.query_params.get("page", "0")))
        except ValueError as error:
            raise BadRequest("page is a whole number: 0 for the newest measurements") from error
        core, built = acting(service, request), built_parts(paths())
        return vitals(core, request.path_params["id"], today(service.clock), language(), built, page_)

    def chosen(request: Request) -> str:
        code = request.query_params.get("code", "")
        if not code:
            raise BadRequest("Choose the vital sign to draw: ?code=")
        return code

    def drawn(read: Reader, code: str, reader_language: str, gettext: Callable[[str], str]) -> list[Any]:
        names = {SYSTOLIC: gettext("Systolic"), DIASTOLIC: gettext("Diastolic")}
        return curves(read, code, reader_language, names)

    chart_image = trend.image(service, chosen, drawn, "No measurements of this kind")

    return [
        Route(PATH, refusing(service, page("chart/vitals.html", data)), methods=["GET"]),
        Route(CHART_PATH, chart_image, methods=["GET"]),
    ]
