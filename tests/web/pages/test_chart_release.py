"""Results held back from the patient on the chart's results page, and the clinician's release of
them (web/pages/chart/held.py, release.py; issue 25), through the page's JSON and its form, on
both backends: when the patient will see a report, the release written as the clinician (a new
version with the label, on the audit trail), a second press writing nothing, and bad forms."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.access.held_results import RELEASE_SYSTEM, is_released
from lifeline.clock import COPENHAGEN
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from tests.web.pages.test_chart import OPERATOR, Ward, admitted_patient, mmol, observation, put, ref
from tests.web.pages.test_chart_notes import doctor

V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
POTASSIUM = "2823-3"


def add_held_report(service: FhirService, ward: Ward, section: str = "LAB", patient: str | None = None) -> str:
    """A blood test issued just now on the service's clock (held back from the patient); its id."""
    now = service.clock().astimezone(COPENHAGEN)
    taken = (now - timedelta(hours=2)).isoformat(timespec="seconds")
    subject = ref(f"Patient/{patient or ward.mine}")
    key = f"held-{section.lower()}-{ward.tag}-{patient or 'mine'}"
    put(service, observation(f"obs-{key}", subject, "laboratory", POTASSIUM, "Kalium", effectiveDateTime=taken,
                             valueQuantity=mmol(4.2)))  # fmt: skip
    put(service, {"resourceType": "DiagnosticReport", "id": key, "status": "final", "code": {"text": "Nyt svar"},
                  "category": [{"coding": [{"system": V2_0074, "code": section}]}], "subject": subject,
                  "effectiveDateTime": taken, "issued": now.isoformat(timespec="seconds"),
                  "result": [ref(f"Observation/obs-{key}")]})  # fmt: skip
    return key


def stored(service: FhirService, res_type: str, res_id: str) -> dict[str, Any]:
    answer = service.handle(FhirRequest("read", res_type, res_id, principal=OPERATOR))
    return answer.resource or orjson.loads(answer.raw or "{}")


@pytest.fixture
def ward(service: FhirService) -> Ward:
    return admitted_patient(service)


def panel_of(web: TestClient, ward: Ward, report: str) -> dict[str, Any]:
    shown = web.get(f"/patients/{ward.mine}/results", params={"_format": "json"}).json()
    return next(p for p in shown["panels"] if p["id"] == report)


def test_a_held_report_says_when_and_is_released_as_the_clinician(service: FhirService, ward: Ward) -> None:
    report = add_held_report(service, ward, "SP")
    web, _, csrf = doctor(service, ward)
    panel = panel_of(web, ward, report)
    issued = stored(service, "DiagnosticReport", report)["issued"]
    assert panel["held"]["release"] == [f"DiagnosticReport/{report}"]
    assert panel["held"]["until"]["at"][:10] == (
        (datetime.fromisoformat(issued) + timedelta(days=7)).date().isoformat()
    )
    page = web.get(f"/patients/{ward.mine}/results").text
    assert "Release to the patient now" in page and 'name="result"' in page
    answer = web.post(
        f"/patients/{ward.mine}/results/release", data={"csrf": csrf, "result": f"DiagnosticReport/{report}"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/patients/{ward.mine}/results#reports"
    after = stored(service, "DiagnosticReport", report)
    assert is_released(after) and after["meta"]["versionId"] == "2"
    assert any(label["system"] == RELEASE_SYSTEM for label in after["meta"]["security"])
    assert panel_of(web, ward, report)["held"] is None
    # The version is the clinician's, on the history; a second press writes nothing more.
    again = web.post(
        f"/patients/{ward.mine}/results/release", data={"csrf": csrf, "result": f"DiagnosticReport/{report}"}
    )
    assert again.status_code == 303
    assert stored(service, "DiagnosticReport", report)["meta"]["versionId"] == "2"


def test_danish_words_for_the_hold(service: FhirService, ward: Ward) -> None:
    add_held_report(service, ward)
    web, _, _ = doctor(service, ward, language="da")
    page = web.get(f"/patients/{ward.mine}/results").text
    assert "Tilbageholdt for patienten indtil" in page and "Frigiv til patienten nu" in page


def test_bad_release_forms_write_nothing(service: FhirService, ward: Ward) -> None:
    report = add_held_report(service, ward)
    theirs = add_held_report(service, ward, patient=ward.theirs)
    web, _, csrf = doctor(service, ward)
    url = f"/patients/{ward.mine}/results/release"
    assert web.post(url, data={"result": f"DiagnosticReport/{report}"}).status_code == 403  # no CSRF token
    empty = web.post(url, data={"csrf": csrf})
    assert empty.status_code == 400 and 'id="release-problem"' in empty.text
    mangled = web.post(url, data={"csrf": csrf, "result": "Patient/../x"})
    assert mangled.status_code == 400
    # Another patient's result named under this patient's address: refused, nothing written.
    other = web.post(url, data={"csrf": csrf, "result": [f"DiagnosticReport/{report}", f"DiagnosticReport/{theirs}"]})
    assert other.status_code in (400, 403), other.text
    assert ward.theirs not in other.text
    assert not is_released(stored(service, "DiagnosticReport", report))
    assert not is_released(stored(service, "DiagnosticReport", theirs))
    # A patient outside the doctor's care: the chart's refusal.
    outside = web.post(
        f"/patients/{ward.theirs}/results/release", data={"csrf": csrf, "result": f"DiagnosticReport/{theirs}"}
    )
    assert outside.status_code == 403
    assert not is_released(stored(service, "DiagnosticReport", theirs))


def test_results_in_no_report_are_released_together(service: FhirService, ward: Ward) -> None:
    taken = service.clock().astimezone(COPENHAGEN).replace(microsecond=0) - timedelta(minutes=30)
    subject = ref(f"Patient/{ward.mine}")
    ids = [f"alone-{n}-{ward.tag}" for n in (1, 2)]
    for res_id in ids:
        put(service, observation(res_id, subject, "laboratory", POTASSIUM, "Kalium",
                                 effectiveDateTime=taken.isoformat(), valueQuantity=mmol(4.0)))  # fmt: skip
    web, _, csrf = doctor(service, ward)
    shown = web.get(f"/patients/{ward.mine}/results", params={"_format": "json"}).json()
    panel = next(p for p in shown["panels"] if p["id"] is None and p["when"]["at"] == taken.isoformat())
    assert sorted(panel["held"]["release"]) == sorted(f"Observation/{i}" for i in ids)
    answer = web.post(f"/patients/{ward.mine}/results/release", data={"csrf": csrf, "result": panel["held"]["release"]})
    assert answer.status_code == 303
    assert all(is_released(stored(service, "Observation", i)) for i in ids)
