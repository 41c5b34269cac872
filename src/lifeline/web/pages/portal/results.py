"""`/portal/results`: the patient's laboratory results in plain language: each test's newest
result with its reference range and the flag in words ("above the normal range"), and for the
test chosen (`?code=`) its results over time, a chart drawn by pygal as the chart's trend is
(web/pages/chart/trend.py) at `/portal/results/chart.svg` with the values in a table beside it.
Read through the core as the patient, about their own record only.
https://hl7.org/fhir/R4/observation.html#interpretation
"""

from __future__ import annotations

import re
from typing import Any

from lifeline.errors import BadRequest
from lifeline.fhir.acting import Acting
from lifeline.web.pages.chart import summary, trend, words
from lifeline.web.pages.chart.page import Reader
from lifeline.web.pages.chart.results import key_of
from lifeline.web.pages.portal.record import reader

CHART_PATH = "/portal/results/chart.svg"
RESULTS_READ = 300  # the newest results on the page; older ones are said to exist
TREND_READ = 200
HIDDEN = ("entered-in-error", "cancelled", "registered")  # not a result (yet) that a patient can read
_CODE = re.compile(r"[A-Za-z0-9\-.:_]{1,64}")
# The laboratory's flag (v3 ObservationInterpretation, summary.ABNORMAL) in the words the page uses.
DIRECTION = {"H": "above", "HH": "far-above", "HU": "far-above", ">": "above"}
DIRECTION |= {"L": "below", "LL": "far-below", "LU": "far-below", "<": "below", "A": "outside", "AA": "outside"}


def flag_words(flag: str | None) -> str:
    """The flag as the page says it: normal, above, far-above, below, far-below or outside."""
    return DIRECTION.get(flag or "", "outside") if flag else "normal"


def row(observation: dict[str, Any], language: str) -> dict[str, Any]:
    value, unit = summary.value_of(observation, language)
    flag = summary.abnormal_flag(observation)
    return {
        "code": key_of(observation.get("code")),
        "name": words.concept(observation.get("code")) or "?",
        "value": value,
        "unit": unit,
        "range": words.reference_range(observation.get("referenceRange"), language),
        "flag": flag,
        "meaning": flag_words(flag) if observation.get("referenceRange") or flag else "no-range",
        "when": words.when(summary.effective(observation), language),
        "preliminary": observation.get("status") == "preliminary",
    }


def tests(observations: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """Each test's newest result (observations come newest first), how many there are and whether
    two or more have a number to draw; the tests whose newest result is abnormal first, then by name."""
    found: dict[str, dict[str, Any]] = {}
    for observation in observations:
        key = key_of(observation.get("code"))
        if not key:
            continue
        if key not in found:
            found[key] = {**row(observation, language), "count": 0, "numeric": 0}
        found[key]["count"] += 1
        found[key]["numeric"] += isinstance((observation.get("valueQuantity") or {}).get("value"), int | float)
    for test in found.values():
        test["chartable"] = test.pop("numeric") >= 2
    return sorted(found.values(), key=lambda t: (t["flag"] is None, t["name"].lower()))


def series(read: Reader, code: str, language: str) -> dict[str, Any]:
    """One test's results over time (trend.series) read through the core; a malformed code matches nothing."""
    observations: list[dict[str, Any]] = []
    if _CODE.fullmatch(code):
        observations, _ = read.search(
            "Observation", ("category", "laboratory"), ("code", code), ("_sort", "-date"), ("_count", str(TREND_READ))
        )
    shown = [o for o in observations if o.get("status") not in HIDDEN and code in words.codes(o.get("code"))]
    drawn = trend.series(list(reversed(shown)), code, language)
    for point in drawn["points"]:
        point["meaning"] = flag_words(point["flag"]) if point["range"] or point["flag"] else "no-range"
    return drawn


def results(core: Acting, patient_id: str, language: str, chosen: str | None = None) -> dict[str, Any]:
    """What `/portal/results` shows the patient `core` acts as: their tests, and the trend of `chosen`."""
    read, _ = reader(core, patient_id)
    observations, _ = read.search(
        "Observation", ("category", "laboratory"), ("_sort", "-date"), ("_count", str(RESULTS_READ))
    )
    older = read.more
    shown = [o for o in observations if o.get("status") not in HIDDEN]
    trend_of = None
    if chosen:
        drawn = series(read, chosen.strip(), language)
        query = f"code={drawn['code']}" if _CODE.fullmatch(drawn["code"]) else ""
        trend_of = {
            **drawn,
            "chart": f"{CHART_PATH}?{query}" if len(drawn["points"]) >= 1 and query else None,
            "chartSmall": f"{CHART_PATH}?{query}&size=small" if len(drawn["points"]) >= 1 and query else None,
        }
    return {"tests": tests(shown, language), "older": older, "read": RESULTS_READ, "trend": trend_of}


def chosen_code(values: list[str]) -> str:
    """The one test a chart image is of: exactly one well-formed code, else a 400."""
    if len(values) != 1 or not _CODE.fullmatch(values[0]):
        raise BadRequest("Choose one test for the chart")
    return values[0]
