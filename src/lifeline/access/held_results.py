"""Results held back from the patient for some days, as Danish practice does (issue 25).

A result (a DiagnosticReport, or an Observation of a result category) is not shown to a patient
principal, nor counted, until its hold has passed or a clinician has released it in the chart; a
parent acting for a child is a patient principal too. Staff and system principals see it at once.

- **Categories**: DiagnosticReport.category and Observation.category codes: the diagnostic service
  sections of http://terminology.hl7.org/CodeSystem/v2-0074 (LAB, SP surgical pathology, CP
  cytopathology, GE genetics, RAD …) and Observation's `laboratory` and `imaging`
  (http://terminology.hl7.org/CodeSystem/observation-category). The days of each code are
  LIFELINE_PORTAL_HOLD_DAYS (config.py); a result takes the longest of its categories, `default`
  for a category not named. Every DiagnosticReport is a result; an Observation is one when it has
  a category of those two systems or one the setting names (a vital sign or a patient's own
  reading is shown at once, and so is an Observation whose performer is a Patient: their own
  measurement). An Observation a DiagnosticReport lists in `result` is held as long as that
  report is, and released with it.
- **From when**: the later of `issued` and the effective time (their search index rows, so the
  rule stays SQL over the index; the later, because a correction may be issued long after the
  sample was taken). R4 has no search parameter for Observation.issued, so an Observation counts
  from its effective time and from its report's `issued`. A result with neither time is not held:
  there is nothing to count from (a laboratory's results always say when), and the access matrix
  keeps such records visible as before.
- **Released**: the label `released` of RELEASE_SYSTEM in the result's `meta.security`, written
  by an ordinary update as the clinician (audited, in the history, replicated like any write;
  web/pages/chart/release.py). A security label and not a Provenance: it is found through the
  `_security` index in one owner probe, it goes with the version it releases (a corrected result
  the lab writes again without it is held again), and a patient cannot add it to a held result
  (the update would have to see it first: 404).

The condition is a per-row probe of the owner indexes of search_date and search_token (and of
search_reference by target for an Observation's reports): a patient's own search stays driven by
their compartment lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from lifeline.access.care import micros
from lifeline.config import Settings, parse_hold_days
from lifeline.search.extract import extract_index
from lifeline.search.registry import SearchRegistry
from lifeline.storage.index_rows import DATE_MIN
from lifeline.storage.param_numbers import has, number

RELEASE_SYSTEM = "https://lifeline.example/fhir/CodeSystem/result-release"
RELEASED = "released"
RELEASE_LABEL = {"system": RELEASE_SYSTEM, "code": RELEASED, "display": "Released to the patient"}
RESULT_TYPES = ("DiagnosticReport", "Observation")
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
OBSERVATION_RESULTS = ("laboratory", "imaging")
ANCHORS = ("issued", "date")  # the search parameters of issued and the effective time
DAY = 86_400_000_000  # microseconds
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Holding:
    """The hold as it stands at `now` (microseconds, as search_date stores moments)."""

    default_days: int
    days: tuple[tuple[str, int], ...]
    now: int

    @classmethod
    def of(cls, settings: Settings, now: datetime) -> Holding:
        default, days = _holds(settings.portal_hold_days)
        return cls(default, days, micros(now))

    # SQL over `resource r`.

    def shown(self, res_type: str) -> tuple[str, list[Any]]:
        """SQL true when `r` (of `res_type`) is no held-back result."""
        if res_type == "DiagnosticReport":
            released, released_args = _released("DiagnosticReport", "r.res_id")
            due, due_args = self._due("DiagnosticReport", "r.res_id")
            return f"({released} OR {due})", [*released_args, *due_args]
        if res_type != "Observation":
            return "1 = 1", []
        released, released_args = _released("Observation", "r.res_id")
        by_report, by_report_args = _released("DiagnosticReport", "dr.res_id")
        report_due, report_due_args = self._due("DiagnosticReport", "dr.res_id")
        own_due, own_due_args = self._due("Observation", "r.res_id")
        reports = (
            "SELECT 1 FROM search_reference dr WHERE dr.target_id = r.res_id AND dr.target_type = 'Observation'"
            f" AND dr.pid = {number('DiagnosticReport', 'result')}"
        )
        # A patient's own measurement (performer: a Patient) is theirs already, not a result to explain.
        own = (
            "EXISTS (SELECT 1 FROM search_reference p WHERE p.res_type = 'Observation' AND p.res_id = r.res_id"
            f" AND p.pid = {number('Observation', 'performer')} AND p.target_type = 'Patient')"
        )
        sql = (
            f"({released} OR {own} OR EXISTS ({reports} AND {by_report})"
            f" OR ({own_due} AND NOT EXISTS ({reports} AND NOT {report_due})))"
        )
        return sql, [*released_args, *by_report_args, *own_due_args, *report_due_args]

    def shown_any(self) -> tuple[str, list[Any]]:
        """SQL true when `r`, of any type, is no held-back result."""
        report, report_args = self.shown("DiagnosticReport")
        observation, observation_args = self.shown("Observation")
        sql = (
            "(r.res_type NOT IN ('DiagnosticReport', 'Observation')"
            f" OR (r.res_type = 'DiagnosticReport' AND {report}) OR (r.res_type = 'Observation' AND {observation}))"
        )
        return sql, [*report_args, *observation_args]

    def _due(self, res_type: str, res_id: str) -> tuple[str, list[Any]]:
        """SQL true when the hold of the `res_type` whose id is the SQL `res_id` has passed."""
        anchor = (
            f"COALESCE((SELECT MAX(t.high) FROM search_date t WHERE t.res_type = '{res_type}'"
            f" AND t.res_id = {res_id} AND t.pid IN ({', '.join(str(n) for n in _anchors(res_type))})),"
            " CAST(? AS BIGINT))"
        )
        cases: list[str] = []
        args: list[Any] = [DATE_MIN]
        for days, codes in _by_days(self.days):
            cases.append(f"WHEN c.code IN ({', '.join('?' for _ in codes)}) THEN CAST(? AS BIGINT)")
            args += [*codes, days * DAY]
        otherwise = self.default_days * DAY
        if res_type == "Observation":
            cases.append("WHEN c.system = ? OR (c.system = ? AND c.code IN (?, ?)) THEN CAST(? AS BIGINT)")
            args += [DIAGNOSTIC_SERVICE, OBSERVATION_CATEGORY, *OBSERVATION_RESULTS, otherwise]
            otherwise = 0
        hold = (
            f"COALESCE((SELECT MAX(CASE {' '.join(cases)} ELSE CAST(? AS BIGINT) END) FROM search_token c"
            f" WHERE c.res_type = '{res_type}' AND c.res_id = {res_id} AND c.pid = {number(res_type, 'category')}),"
            " CAST(? AS BIGINT))"
        )
        args += [otherwise, otherwise, self.now]
        return f"({anchor} + {hold} <= CAST(? AS BIGINT))", args

    # The same judgement in Python, of a resource at hand (the chart's "held until" and a deleted
    # result's history, judged by its last version).

    def held_until(
        self, resource: dict[str, Any], registry: SearchRegistry, reports: list[dict[str, Any]] | None = None
    ) -> datetime | None:
        """When `resource` will be shown to the patient, or None if it is shown now. `reports`:
        the DiagnosticReports that list it in `result` (an Observation)."""
        res_type = resource.get("resourceType")
        if res_type not in RESULT_TYPES or is_released(resource) or _measured_by_a_patient(resource):
            return None
        until = self._until(resource, registry)
        for report in reports or []:
            if is_released(report):
                return None
            until = max(until, self._until(report, registry))
        if until <= self.now:
            return None
        return _EPOCH + timedelta(microseconds=until)

    def _until(self, resource: dict[str, Any], registry: SearchRegistry) -> int:
        index = extract_index(resource, registry)
        highs = [d.high for d in index.dates if d.param in ANCHORS]
        anchor = max(highs) if highs else DATE_MIN
        configured = dict(self.days)
        held = []
        for token in index.tokens:
            if token.param != "category" or token.code is None:
                continue
            if token.code in configured:
                held.append(configured[token.code])
            elif resource.get("resourceType") == "DiagnosticReport" or token.system == DIAGNOSTIC_SERVICE:
                held.append(self.default_days)
            elif token.system == OBSERVATION_CATEGORY and token.code in OBSERVATION_RESULTS:
                held.append(self.default_days)
        if not held:
            held.append(self.default_days if resource.get("resourceType") == "DiagnosticReport" else 0)
        return anchor + max(held) * DAY


def is_released(resource: dict[str, Any]) -> bool:
    """Whether a clinician released the result to the patient (its label)."""
    labels = (resource.get("meta") or {}).get("security") or []
    return any(
        isinstance(label, dict) and label.get("system") == RELEASE_SYSTEM and label.get("code") == RELEASED
        for label in labels
    )


def _measured_by_a_patient(resource: dict[str, Any]) -> bool:
    if resource.get("resourceType") != "Observation":
        return False
    performers = resource.get("performer") or []
    return any(isinstance(p, dict) and str(p.get("reference") or "").startswith("Patient/") for p in performers)


def released(resource: dict[str, Any]) -> dict[str, Any]:
    """`resource` with the release label added to its `meta.security` (a copy)."""
    meta = dict(resource.get("meta") or {})
    meta["security"] = [*(meta.get("security") or []), dict(RELEASE_LABEL)]
    return {**resource, "meta": meta}


def _anchors(res_type: str) -> list[int]:
    """The numbers of the type's `issued` and `date` parameters (those it has)."""
    return [number(res_type, code) for code in ("issued", "date") if has(res_type, code)]


def _released(res_type: str, res_id: str) -> tuple[str, list[Any]]:
    sql = (
        f"EXISTS (SELECT 1 FROM search_token s WHERE s.res_type = '{res_type}' AND s.res_id = {res_id}"
        f" AND s.pid = {number(res_type, '_security')} AND s.code = ? AND s.system = ?)"
    )
    return sql, [RELEASED, RELEASE_SYSTEM]


def _by_days(days: tuple[tuple[str, int], ...]) -> list[tuple[int, list[str]]]:
    grouped: dict[int, list[str]] = {}
    for code, value in days:
        grouped.setdefault(value, []).append(code)
    return sorted(grouped.items())


@lru_cache(maxsize=8)
def _holds(text: str) -> tuple[int, tuple[tuple[str, int], ...]]:
    return parse_hold_days(text)
