"""Results held back from patients (access/held_results.py, issue 25), on both backends: a patient
and a parent acting for a child neither see nor count a held-back result by read, search, `_total`,
`_include`, `_revinclude`, `$everything`, history or vread; they see it once its days have passed
on the service's clock, or at once when a clinician releases it; staff always see it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.access.held_results import RELEASE_SYSTEM, Holding, is_released, released
from lifeline.config import parse_hold_days
from lifeline.fhir.service import FhirService
from lifeline.search.registry import default_registry
from lifeline.web.app import create_app
from tests.conftest import ALL_ACCESS, TEST_SETTINGS, TickingClock, dispose, fresh_repository

FHIR = {"Content-Type": "application/fhir+json"}
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def _ref(key: str) -> dict[str, str]:
    return {"reference": key}


def _at(days: float) -> str:
    return (NOW + timedelta(days=days)).isoformat()


@pytest.fixture(scope="module")
def held(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A patient with results held back and not, a parent with a young child, a doctor in care."""
    repo = fresh_repository(backend, Path(tmp_path_factory.mktemp(f"held-{backend}")))
    clock = TickingClock(NOW)
    service = FhirService(repo, TEST_SETTINGS, clock=clock)
    token = service.identity.issue(subject="tests", client_id="tests", scopes=ALL_ACCESS, lifetime=10**8)
    app = create_app(service, close_on_shutdown=False)
    with TestClient(app, base_url="http://testserver", headers={"Authorization": f"Bearer {token}"}) as client:
        tag = uuid.uuid4().hex[:6]
        ids = {name: f"{name}-{tag}" for name in ("pat", "mother", "child", "rp", "dep", "doc", "role")}

        def put(resource: dict[str, Any]) -> None:
            answer = client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=FHIR)
            assert answer.status_code in (200, 201), answer.text

        put({"resourceType": "Organization", "id": ids["dep"], "name": "Klinisk biokemi"})
        put({"resourceType": "Practitioner", "id": ids["doc"], "name": [{"family": "Læge"}]})
        put({"resourceType": "PractitionerRole", "id": ids["role"], "active": True,
             "practitioner": _ref(f"Practitioner/{ids['doc']}"),
             "organization": _ref(f"Organization/{ids['dep']}")})  # fmt: skip
        put({"resourceType": "Patient", "id": ids["pat"], "birthDate": "1970-01-01"})
        put({"resourceType": "Patient", "id": ids["child"], "birthDate": "2020-02-03"})
        put({"resourceType": "Patient", "id": ids["mother"], "birthDate": "1990-01-01",
             "link": [{"other": _ref(f"RelatedPerson/{ids['rp']}"), "type": "seealso"}]})  # fmt: skip
        put({"resourceType": "RelatedPerson", "id": ids["rp"], "patient": _ref(f"Patient/{ids['child']}"),
             "relationship": [{"coding": [{"system": ROLE, "code": "MTH"}]}]})  # fmt: skip
        for who in ("pat", "child"):
            put({"resourceType": "Encounter", "id": f"enc-{who}-{tag}", "status": "in-progress",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                 "subject": _ref(f"Patient/{ids[who]}"), "period": {"start": _at(-10)},
                 "serviceProvider": _ref(f"Organization/{ids['dep']}")})  # fmt: skip

        def observation(key: str, who: str, category: tuple[str, str], effective: float) -> str:
            put({"resourceType": "Observation", "id": f"{key}-{tag}", "status": "final",
                 "category": [{"coding": [{"system": category[0], "code": category[1]}]}],
                 "code": {"text": key}, "subject": _ref(f"Patient/{ids[who]}"),
                 "effectiveDateTime": _at(effective)})  # fmt: skip
            return f"{key}-{tag}"

        def report(key: str, who: str, section: str, issued: float, results: list[str]) -> str:
            put({"resourceType": "DiagnosticReport", "id": f"{key}-{tag}", "status": "final",
                 "category": [{"coding": [{"system": V2_0074, "code": section}]}], "code": {"text": key},
                 "subject": _ref(f"Patient/{ids[who]}"), "effectiveDateTime": _at(issued - 0.1),
                 "issued": _at(issued), "result": [_ref(f"Observation/{r}") for r in results]})  # fmt: skip
            return f"{key}-{tag}"

        lab = (OBS_CATEGORY, "laboratory")
        made = {
            # A blood test taken yesterday: held 3 days from its report's issue, until 3 December.
            "obs-lab": observation("obs-lab", "pat", lab, -1.2),
            # A pathology result whose own 3 days have passed, but its report (SP: 7 days) holds it.
            "obs-path": observation("obs-path", "pat", lab, -5),
            "obs-old": observation("obs-old", "pat", lab, -20),  # long released
            "obs-vital": observation("obs-vital", "pat", (OBS_CATEGORY, "vital-signs"), -0.1),  # never held
            "obs-alone": observation("obs-alone", "pat", lab, -0.5),  # in no report: held by its own time
            "obs-child": observation("obs-child", "child", lab, -1.2),
        }
        made["dr-lab"] = report("dr-lab", "pat", "LAB", -1, [made["obs-lab"]])
        made["dr-path"] = report("dr-path", "pat", "SP", -4, [made["obs-path"]])
        made["dr-old"] = report("dr-old", "pat", "LAB", -19, [made["obs-old"]])
        made["dr-child"] = report("dr-child", "child", "LAB", -1, [made["obs-child"]])

        def headers(**claims: Any) -> dict[str, str]:
            # Issued at the clock's moment, so a token lives as the clock moves.
            issued = service.identity.issue(client_id="tests", lifetime=600, **claims)
            return {"Authorization": f"Bearer {issued}"}

        yield {
            "client": client,
            "service": service,
            "clock": clock,
            "ids": ids,
            "made": made,
            "tag": tag,
            "patient": lambda who="pat": headers(
                subject=f"citizen-{who}-{tag}", scopes="patient/*.rs", fhir_user=f"Patient/{ids[who]}", patient=ids[who]
            ),
            "doctor": lambda: headers(
                subject=f"doc-{tag}", scopes="user/*.cruds", fhir_user=f"Practitioner/{ids['doc']}"
            ),
        }
    dispose(repo, service)


def _ids(bundle: dict[str, Any], mode: str = "match") -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode}


def _seen(held: dict[str, Any], headers: dict[str, str]) -> set[str]:
    """Every result the principal reads by id (the names of `made`)."""
    client = held["client"]
    found = set()
    for name, res_id in held["made"].items():
        kind = "DiagnosticReport" if name.startswith("dr-") else "Observation"
        answer = client.get(f"/fhir/{kind}/{res_id}", headers=headers)
        assert answer.status_code in (200, 404), answer.text
        if answer.status_code == 200:
            found.add(name)
    return found


SHOWN_NOW = {"obs-old", "obs-vital", "dr-old"}


def test_a_patient_neither_sees_nor_counts_a_held_back_result(held: dict[str, Any]) -> None:
    client, made, ids = held["client"], held["made"], held["ids"]
    held["clock"].now = NOW
    patient = held["patient"]()
    assert _seen(held, patient) == SHOWN_NOW
    name_of = {v: k for k, v in made.items()}
    # A search and its total.
    found = client.get(f"/fhir/Observation?subject=Patient/{ids['pat']}&_total=accurate", headers=patient).json()
    assert {name_of[i] for i in _ids(found)} == {"obs-old", "obs-vital"} and found["total"] == 2
    counted = client.get("/fhir/DiagnosticReport?_summary=count", headers=patient).json()
    assert counted["total"] == 1
    # A report's results through _include, and reports through _revinclude.
    included = client.get("/fhir/DiagnosticReport?_include=DiagnosticReport:result", headers=patient).json()
    assert {name_of[i] for i in _ids(included) | _ids(included, "include")} == {"dr-old", "obs-old"}
    revincluded = client.get(
        f"/fhir/Observation?_id={made['obs-lab']},{made['obs-old']}&_revinclude=DiagnosticReport:result",
        headers=patient,
    ).json()
    assert {name_of[i] for i in _ids(revincluded) | _ids(revincluded, "include")} == {"obs-old", "dr-old"}
    # $everything.
    everything = client.get(f"/fhir/Patient/{ids['pat']}/$everything?_count=100", headers=patient).json()
    assert {name_of[i] for i in _ids(everything) if i in name_of} == SHOWN_NOW
    # History and vread.
    history = client.get("/fhir/Observation/_history?_count=100", headers=patient).json()
    assert {name_of[e["resource"]["id"]] for e in history["entry"]} == {"obs-old", "obs-vital"}
    assert history["total"] == 2
    assert client.get(f"/fhir/Observation/{made['obs-lab']}/_history", headers=patient).status_code == 404
    assert client.get(f"/fhir/DiagnosticReport/{made['dr-lab']}/_history/1", headers=patient).status_code == 404
    # A held result cannot be released by the patient: it is not there to update.
    labelled = released({"resourceType": "DiagnosticReport", "id": made["dr-lab"], "status": "final",
                         "code": {"text": "x"}, "subject": _ref(f"Patient/{ids['pat']}")})  # fmt: skip
    writer = {**FHIR, **held["patient"]("pat")}
    answer = client.put(f"/fhir/DiagnosticReport/{made['dr-lab']}", json=labelled, headers=writer)
    assert answer.status_code in (403, 404)


def test_a_parent_does_not_see_a_childs_held_back_result(held: dict[str, Any]) -> None:
    held["clock"].now = NOW
    mother = held["patient"]("mother")
    seen = _seen(held, mother)
    assert "obs-child" not in seen and "dr-child" not in seen
    held["clock"].now = NOW + timedelta(days=2, hours=1)
    assert {"obs-child", "dr-child"} <= _seen(held, held["patient"]("mother"))


def test_staff_always_see_held_back_results(held: dict[str, Any]) -> None:
    held["clock"].now = NOW
    assert _seen(held, held["doctor"]()) == set(held["made"])


def test_a_result_appears_once_its_days_have_passed(held: dict[str, Any]) -> None:
    # 1 December 12:00: the blood test was issued on 30 November at 12:00, so it shows from
    # 3 December 12:00; the pathology report (SP, 7 days) from 4 December 12:00, and the blood test
    # in no report, taken on 1 December at 00:00, from 4 December at 00:00.
    held["clock"].now = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
    assert _seen(held, held["patient"]()) == SHOWN_NOW
    held["clock"].now = datetime(2026, 12, 3, 12, 30, tzinfo=UTC)
    assert _seen(held, held["patient"]()) == SHOWN_NOW | {"obs-lab", "dr-lab"}
    held["clock"].now = datetime(2026, 12, 4, 12, 30, tzinfo=UTC)
    assert _seen(held, held["patient"]()) == SHOWN_NOW | {"obs-lab", "dr-lab", "obs-alone", "obs-path", "dr-path"}
    held["clock"].now = NOW


def test_a_clinicians_release_shows_it_at_once(held: dict[str, Any]) -> None:
    client, made = held["client"], held["made"]
    held["clock"].now = NOW
    doctor = {**held["doctor"](), **FHIR}
    report = client.get(f"/fhir/DiagnosticReport/{made['dr-path']}", headers=doctor).json()
    assert not is_released(report)
    answer = client.put(f"/fhir/DiagnosticReport/{made['dr-path']}", json=released(report), headers=doctor)
    assert answer.status_code == 200, answer.text
    assert any(label["system"] == RELEASE_SYSTEM for label in answer.json()["meta"]["security"])
    # The report and the result it lists, though the report's days have not passed.
    assert _seen(held, held["patient"]()) == SHOWN_NOW | {"obs-path", "dr-path"}
    found = client.get("/fhir/Observation?_total=accurate", headers=held["patient"]()).json()
    assert found["total"] == 3


def test_a_result_deleted_while_held_stays_unseen_in_its_history(held: dict[str, Any]) -> None:
    client, ids, tag = held["client"], held["ids"], held["tag"]
    held["clock"].now = NOW
    for key, days in (("gone-held", -0.5), ("gone-old", -30)):
        body = {"resourceType": "Observation", "id": f"{key}-{tag}", "status": "final", "code": {"text": key},
                "category": [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory"}]}],
                "subject": _ref(f"Patient/{ids['pat']}"), "effectiveDateTime": _at(days)}  # fmt: skip
        assert client.put(f"/fhir/Observation/{key}-{tag}", json=body, headers=FHIR).status_code == 201
        assert client.delete(f"/fhir/Observation/{key}-{tag}").status_code in (200, 204)
    patient = held["patient"]()
    assert client.get(f"/fhir/Observation/gone-held-{tag}/_history", headers=patient).status_code == 404
    assert client.get(f"/fhir/Observation/gone-old-{tag}/_history", headers=patient).status_code == 200


def test_a_patients_own_measurement_is_not_held(held: dict[str, Any]) -> None:
    client, ids, tag = held["client"], held["ids"], held["tag"]
    held["clock"].now = NOW
    body = {"resourceType": "Observation", "id": f"home-inr-{tag}", "status": "final", "code": {"text": "INR"},
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory"}]}],
            "subject": _ref(f"Patient/{ids['pat']}"), "performer": [_ref(f"Patient/{ids['pat']}")],
            "effectiveDateTime": _at(-0.1)}  # fmt: skip
    assert client.put(f"/fhir/Observation/home-inr-{tag}", json=body, headers=FHIR).status_code == 201
    assert client.get(f"/fhir/Observation/home-inr-{tag}", headers=held["patient"]()).status_code == 200


def test_held_until_says_when_as_the_rule_does() -> None:
    """To the second: a moment's index row ends at its last microsecond."""
    registry = default_registry()
    holding = Holding(3, (("SP", 7),), int(NOW.timestamp()) * 1_000_000)
    report = {"resourceType": "DiagnosticReport", "issued": _at(-1), "effectiveDateTime": _at(-2),
              "category": [{"coding": [{"system": V2_0074, "code": "SP"}]}]}  # fmt: skip
    assert _second(holding.held_until(report, registry)) == NOW + timedelta(days=6)
    vital = {"resourceType": "Observation", "effectiveDateTime": _at(-0.1),
             "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs"}]}]}  # fmt: skip
    assert holding.held_until(vital, registry) is None
    lab = {**vital, "category": [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory"}]}]}
    assert _second(holding.held_until(lab, registry)) == NOW + timedelta(days=2.9)
    assert _second(holding.held_until(lab, registry, [report])) == NOW + timedelta(days=6)
    assert holding.held_until(lab, registry, [released(report)]) is None
    assert holding.held_until(released(lab), registry) is None
    assert holding.held_until({**lab, "performer": [_ref("Patient/p1")]}, registry) is None  # their own reading


def _second(moment: datetime | None) -> datetime | None:
    return moment.replace(microsecond=0) if moment is not None else None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("default=3,PAT=7,CY=7,GE=7,RAD=7", (3, (("CY", 7), ("GE", 7), ("PAT", 7), ("RAD", 7)))),
        (" default=0 ", (0, ())),
        ("SP=7", (0, (("SP", 7),))),
    ],
)
def test_the_setting_is_read(text: str, expected: tuple[int, tuple[tuple[str, int], ...]]) -> None:
    assert parse_hold_days(text) == expected
