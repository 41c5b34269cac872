"""What the chart says of a result still held back from the patient (issue 25): until when, and
what the clinician's release names (release.py). The judgement is the access rule's own, in
Python (access/held_results.py), so the page says what the patient meets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifeline.access.held_results import Holding
from lifeline.clock import COPENHAGEN
from lifeline.fhir.acting import Acting
from lifeline.search.registry import SearchRegistry
from lifeline.web.pages.chart import words


def holding_of(core: Acting) -> Holding:
    """The hold as the patient meets it now, by the service's clock."""
    return Holding.of(core.service.settings, core.service.clock())


def panel_hold(
    holding: Holding,
    registry: SearchRegistry,
    report: dict[str, Any] | None,
    observations: list[dict[str, Any]],
    language: str,
) -> dict[str, Any] | None:
    """When the patient will see a panel's results (None: they see them now), and what a release
    names: the report (which releases what it lists), else each result held back."""
    untils: list[datetime] = []
    release: list[str] = []
    if report is not None:
        for until in (
            holding.held_until(report, registry),
            *(holding.held_until(o, registry, [report]) for o in observations),
        ):
            if until is not None:
                untils.append(until)
        release = [f"DiagnosticReport/{report.get('id')}"] if untils else []
    else:
        for observation in observations:
            until = holding.held_until(observation, registry)
            if until is not None:
                untils.append(until)
                release.append(f"Observation/{observation.get('id')}")
    if not untils:
        return None
    latest = max(untils)
    shown = latest.astimezone(COPENHAGEN).isoformat(timespec="minutes")
    return {"until": words.when(shown, language), "release": release}
