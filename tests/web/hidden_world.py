"""A small region in which some records are hidden from the one who asks (issue 19): two
departments with a doctor each, patients cared for by department A or not, two of them under
name and address protection, and the tokens of staff, patients and apps. Built like the world of
test_access_policy.py, with fresh ids, for the search-leak and history-access tests."""

from __future__ import annotations

import uuid
from typing import Any

from lifeline.fhir.service import FhirService
from tests.conftest import put_resource

CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
CARED_FOR_BY_A = ("mine", "prot_mine", "open_mine")
PATIENTS = (*CARED_FOR_BY_A, "stranger", "prot_stranger")


def ref(kind: str, key: str) -> dict[str, str]:
    return {"reference": f"{kind}/{key}"}


def build(client: Any, service: FhirService) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    w: dict[str, Any] = {"tag": tag, "family": f"Leak{tag}", "code": f"urn:leak:{tag}", "city": f"Hemmelig{tag}"}
    w.update({name: f"{name.replace('_', '-')}-{tag}" for name in (*PATIENTS, "depA", "depB", "docA", "docB")})
    put = lambda resource: put_resource(client, resource)  # noqa: E731
    put({"resourceType": "Organization", "id": w["depA"], "name": "A"})
    w["since"] = client.get(f"/fhir/Organization/{w['depA']}").json()["meta"]["lastUpdated"]
    put({"resourceType": "Organization", "id": w["depB"], "name": "B"})
    for doc, dep in (("docA", "depA"), ("docB", "depB")):
        put({"resourceType": "Practitioner", "id": w[doc], "name": [{"family": doc}]})
        put(
            {
                "resourceType": "PractitionerRole",
                "id": f"role-{w[doc]}",
                "active": True,
                "practitioner": ref("Practitioner", w[doc]),
                "organization": ref("Organization", w[dep]),
            }
        )
    for name in PATIENTS:
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": w[name],
            "name": [{"family": w["family"], "given": [name]}],
            "birthDate": "1970-01-01",
        }
        if name.startswith("prot"):
            patient["meta"] = {"security": [{"system": CONFIDENTIALITY, "code": "R"}]}
            patient["address"] = [{"line": ["Skjultvej 7"], "city": w["city"], "postalCode": "9999"}]
            patient["telecom"] = [
                {"system": "phone", "value": f"+45 7{tag[:7]}"},
                {"system": "email", "value": f"{name}-{tag}@example.org"},
            ]
        if name == "open_mine":
            patient["address"] = [{"line": ["Aabenvej 1"], "city": f"Aaben{tag}", "postalCode": "1000"}]
        put(patient)
        department = "depA" if name in CARED_FOR_BY_A else "depB"
        put(
            {
                "resourceType": "Encounter",
                "id": f"enc-{w[name]}",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": ref("Patient", w[name]),
                "serviceProvider": ref("Organization", w[department]),
                "period": {"start": "2026-11-15T10:00:00Z", "end": "2026-11-16T10:00:00Z"},
            }
        )
        put(observation(w, f"obs-{w[name]}", name))
    put(condition(w, f"af-{w['stranger']}", "stranger", "I48.9"))
    put(condition(w, f"htn-{w['mine']}", "mine", "I10"))
    put({"resourceType": "Schedule", "id": f"sched-{tag}", "actor": [ref("Practitioner", w["docA"])]})
    put(
        {
            "resourceType": "Slot",
            "id": f"slot-{tag}",
            "schedule": ref("Schedule", f"sched-{tag}"),
            "status": "free",
            "start": "2026-12-01T09:00:00Z",
            "end": "2026-12-01T09:15:00Z",
        }
    )

    def token(**claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {service.identity.issue(client_id='tests', lifetime=3600, **claims)}"}

    w["staff"] = lambda doc, scopes="user/*.cruds": token(  # noqa: E731
        subject=f"{doc}-{tag}", scopes=scopes, fhir_user=f"Practitioner/{w[doc]}"
    )
    w["patient"] = lambda name: token(  # noqa: E731
        subject=f"citizen-{name}-{tag}", scopes="patient/*.rs", fhir_user=f"Patient/{w[name]}", patient=w[name]
    )
    w["app"] = lambda scopes: token(subject=f"app-{tag}", scopes=scopes)  # noqa: E731
    return w


def observation(w: dict[str, Any], key: str, patient: str, code: str = "x") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": key,
        "status": "final",
        "code": {"coding": [{"system": w["code"], "code": code}]},
        "subject": ref("Patient", w[patient]),
    }


def condition(w: dict[str, Any], key: str, patient: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": key,
        "code": {"coding": [{"system": f"{w['code']}:icd10", "code": code}]},
        "subject": ref("Patient", w[patient]),
    }


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode", "match") == mode
    ]


def notes(bundle: dict[str, Any]) -> list[str]:
    return [
        issue["code"]
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == "outcome"
        for issue in e["resource"]["issue"]
    ]


def link(bundle: dict[str, Any], relation: str) -> str | None:
    url = next((lnk["url"] for lnk in bundle["link"] if lnk["relation"] == relation), None)
    return url.replace("http://testserver", "") if url else None
