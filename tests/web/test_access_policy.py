"""The access policy (issue 5) through the API, on both backends: care relationships for staff,
own and young children's records for patients, break-the-glass, and name/address protection."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import pytest

from lifeline.access.break_glass import grant, grants_for_review
from lifeline.fhir.service import FhirService
from tests.conftest import assert_outcome, put_resource

CPR = "urn:oid:1.2.208.176.1.2"
ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def _ref(kind: str, key: str) -> dict[str, str]:
    return {"reference": f"{kind}/{key}"}


@pytest.fixture(scope="module")
def world(client: Any, service: FhirService) -> dict[str, Any]:
    """Two departments with a doctor each, and patients tied to them (or not) in every way."""
    tag = uuid.uuid4().hex[:8]
    w: dict[str, Any] = {"tag": tag, "family": f"Acc{tag}", "code": f"urn:test:{tag}"}
    ids = {
        name: f"{name}-{tag}"
        for name in (
            "depA",
            "depB",
            "wardA",
            "bedA",
            "wardB",
            "docA",
            "docB",
            "roleA",
            "roleB",
            "enc",
            "bed",
            "old",
            "epi",
            "appt",
            "team",
            "b",
            "protected",
            "parent",
            "child",
            "child2",
            "teen",
        )
    }
    w.update(ids)
    put = lambda resource: put_resource(client, resource)  # noqa: E731
    for dep in ("depA", "depB"):
        put({"resourceType": "Organization", "id": ids[dep], "name": dep})
    put({"resourceType": "Location", "id": ids["wardA"], "managingOrganization": _ref("Organization", ids["depA"])})
    put({"resourceType": "Location", "id": ids["bedA"], "partOf": _ref("Location", ids["wardA"])})
    put({"resourceType": "Location", "id": ids["wardB"], "managingOrganization": _ref("Organization", ids["depB"])})
    for doc, role, dep, ward in (("docA", "roleA", "depA", "wardA"), ("docB", "roleB", "depB", "wardB")):
        put({"resourceType": "Practitioner", "id": ids[doc], "name": [{"family": doc}]})
        put(
            {
                "resourceType": "PractitionerRole",
                "id": ids[role],
                "active": True,
                "practitioner": _ref("Practitioner", ids[doc]),
                "organization": _ref("Organization", ids[dep]),
                "location": [_ref("Location", ids[ward])],
            }
        )
    serial = f"{random.randint(0, 3)}{random.randint(0, 999):03d}"
    w["parent_cpr"] = f"040385{serial}"
    births = {"child": "2020-02-03", "child2": "2021-05-06", "teen": "2005-01-01", "parent": "1985-03-04"}
    for name in ("enc", "bed", "old", "epi", "appt", "team", "b", "protected", "parent", "child", "child2", "teen"):
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": ids[name],
            "name": [{"family": w["family"], "given": [name]}],
            "birthDate": births.get(name, "1970-01-01"),
        }
        if name == "parent":
            patient["identifier"] = [{"system": CPR, "value": w["parent_cpr"]}]
            patient["link"] = [{"other": _ref("RelatedPerson", f"rp2-{tag}"), "type": "seealso"}]
        if name == "protected":
            patient["meta"] = {
                "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]
            }
            patient["address"] = [{"city": "Hemmelig"}]
            patient["telecom"] = [{"system": "phone", "value": "12345678"}]
        put(patient)

    def encounter(key: str, patient: str, start: str, end: str | None, status: str, **links: Any) -> None:
        period = {"start": start, **({"end": end} if end else {})}
        put(
            {
                "resourceType": "Encounter",
                "id": f"{key}-{tag}",
                "status": status,
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": _ref("Patient", ids[patient]),
                "period": period,
                **links,
            }
        )

    dep_a = {"serviceProvider": _ref("Organization", ids["depA"])}
    encounter("e-enc", "enc", "2026-11-15T10:00:00Z", "2026-11-16T10:00:00Z", "finished", **dep_a)
    encounter(
        "e-bed",
        "bed",
        "2026-01-01T10:00:00Z",
        None,
        "in-progress",
        location=[{"location": _ref("Location", ids["bedA"])}],
    )
    encounter("e-old", "old", "2026-01-01T10:00:00Z", "2026-01-05T10:00:00Z", "finished", **dep_a)
    encounter("e-prot", "protected", "2026-11-15T10:00:00Z", "2026-11-16T10:00:00Z", "finished", **dep_a)
    encounter(
        "e-b",
        "b",
        "2026-11-15T10:00:00Z",
        "2026-11-16T10:00:00Z",
        "finished",
        serviceProvider=_ref("Organization", ids["depB"]),
    )
    put(
        {
            "resourceType": "EpisodeOfCare",
            "id": f"eoc-{tag}",
            "status": "active",
            "patient": _ref("Patient", ids["epi"]),
            "managingOrganization": _ref("Organization", ids["depA"]),
        }
    )
    put(
        {
            "resourceType": "Appointment",
            "id": f"ap-{tag}",
            "status": "booked",
            "start": "2026-12-10T09:00:00Z",
            "end": "2026-12-10T09:30:00Z",
            "participant": [
                {"actor": _ref("Patient", ids["appt"]), "status": "accepted"},
                {"actor": _ref("PractitionerRole", ids["roleA"]), "status": "accepted"},
            ],
        }
    )
    put(
        {
            "resourceType": "CareTeam",
            "id": f"ct-{tag}",
            "status": "active",
            "subject": _ref("Patient", ids["team"]),
            "participant": [{"member": _ref("Practitioner", ids["docA"])}],
        }
    )
    put(
        {
            "resourceType": "RelatedPerson",
            "id": f"rp1-{tag}",
            "patient": _ref("Patient", ids["child"]),
            "relationship": [{"coding": [{"system": ROLE, "code": "MTH"}]}],
            "identifier": [{"system": CPR, "value": w["parent_cpr"]}],
        }
    )
    put(
        {
            "resourceType": "RelatedPerson",
            "id": f"rp2-{tag}",
            "patient": _ref("Patient", ids["child2"]),
            "relationship": [{"coding": [{"system": ROLE, "code": "MTH"}]}],
        }
    )
    put(
        {
            "resourceType": "RelatedPerson",
            "id": f"rp3-{tag}",
            "patient": _ref("Patient", ids["teen"]),
            "relationship": [{"coding": [{"system": ROLE, "code": "MTH"}]}],
            "identifier": [{"system": CPR, "value": w["parent_cpr"]}],
        }
    )
    # One Observation per patient; each points (focus, outside the compartment) at the old patient.
    for name in ("enc", "old", "b", "child", "teen", "parent"):
        put(
            {
                "resourceType": "Observation",
                "id": f"obs-{name}-{tag}",
                "status": "final",
                "code": {"coding": [{"system": w["code"], "code": "x"}]},
                "subject": _ref("Patient", ids[name]),
                "focus": [_ref("Patient", ids["old" if name != "old" else "b"])],
            }
        )

    def token(**claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {service.identity.issue(client_id='tests', lifetime=3600, **claims)}"}

    def staff(doc: str, user: str | None = None) -> dict[str, str]:
        return token(subject=user or f"{doc}-{tag}", scopes="user/*.cruds", fhir_user=f"Practitioner/{ids[doc]}")

    w["docA_h"], w["docB_h"] = staff("docA"), staff("docB")
    w["staff"] = staff
    w["patient_h"] = lambda name, scopes="patient/*.rs": token(  # noqa: E731
        subject=f"citizen-{name}-{tag}", scopes=scopes, fhir_user=f"Patient/{ids[name]}", patient=ids[name]
    )
    return w


def _ids(bundle: dict[str, Any], mode: str = "match") -> set[str]:
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    }


def _suppressed(bundle: dict[str, Any]) -> bool:
    return any(
        i["code"] == "suppressed"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == "outcome"
        for i in e["resource"]["issue"]
    )


CARED_FOR_BY_A = ("enc", "bed", "epi", "appt", "team", "protected")


def test_staff_read_follows_care(client: Any, world: dict[str, Any]) -> None:
    for name in CARED_FOR_BY_A:
        assert client.get(f"/fhir/Patient/{world[name]}", headers=world["docA_h"]).status_code == 200, name
    for name in ("old", "b", "parent", "child"):
        response = client.get(f"/fhir/Patient/{world[name]}", headers=world["docA_h"])
        body = assert_outcome(response, 403, "suppressed", "break the glass")
        assert "name" not in str(body).lower().replace("no care", "")  # no data in the refusal
    assert_outcome(client.get(f"/fhir/Observation/obs-old-{world['tag']}", headers=world["docA_h"]), 403, "suppressed")
    assert client.get(f"/fhir/Observation/obs-enc-{world['tag']}", headers=world["docA_h"]).status_code == 200
    assert client.get(f"/fhir/Patient/{world['b']}", headers=world["docB_h"]).status_code == 200
    assert_outcome(client.get(f"/fhir/Patient/{world['enc']}", headers=world["docB_h"]), 403, "suppressed")
    # Shared resources outside any compartment stay readable.
    assert client.get(f"/fhir/Organization/{world['depB']}", headers=world["docA_h"]).status_code == 200


def test_staff_vread_history_and_everything(client: Any, world: dict[str, Any]) -> None:
    old = world["old"]
    assert_outcome(client.get(f"/fhir/Patient/{old}/_history/1", headers=world["docA_h"]), 403, "suppressed")
    assert_outcome(client.get(f"/fhir/Patient/{old}/_history", headers=world["docA_h"]), 403, "suppressed")
    assert_outcome(client.get(f"/fhir/Patient/{old}/$everything", headers=world["docA_h"]), 403, "suppressed")
    assert client.get(f"/fhir/Patient/{world['enc']}/_history/1", headers=world["docA_h"]).status_code == 200
    everything = client.get(f"/fhir/Patient/{world['enc']}/$everything", headers=world["docA_h"]).json()
    assert f"Observation/obs-enc-{world['tag']}" in _ids(everything)
    assert f"Patient/{old}" not in _ids(everything) | _ids(everything, "include")
    history = client.get("/fhir/Observation/_history?_count=1000", headers=world["docA_h"]).json()
    urls = {e["fullUrl"].rsplit("/", 2)[-1] for e in history["entry"]}
    assert f"obs-enc-{world['tag']}" in urls and f"obs-old-{world['tag']}" not in urls


def test_staff_search_total_includes_and_count(client: Any, world: dict[str, Any]) -> None:
    patients = client.get(f"/fhir/Patient?family={world['family']}&_count=3", headers=world["docA_h"]).json()
    assert patients["total"] == len(CARED_FOR_BY_A)
    assert _suppressed(patients)
    walked: set[str] = set(_ids(patients))
    link = next((lnk["url"] for lnk in patients["link"] if lnk["relation"] == "next"), None)
    while link:
        page = client.get(link.replace("http://testserver", ""), headers=world["docA_h"]).json()
        walked |= _ids(page)
        link = next((lnk["url"] for lnk in page["link"] if lnk["relation"] == "next"), None)
    assert walked == {f"Patient/{world[n]}" for n in CARED_FOR_BY_A}
    count = client.get(f"/fhir/Patient?family={world['family']}&_summary=count", headers=world["docA_h"]).json()
    assert count["total"] == len(CARED_FOR_BY_A)
    code = f"{world['code']}|x"
    obs = client.get(
        f"/fhir/Observation?code={code}&_include=Observation:focus&_include=Observation:subject",
        headers=world["docA_h"],
    ).json()
    assert obs["total"] == 1 and _ids(obs) == {f"Observation/obs-enc-{world['tag']}"}
    assert _ids(obs, "include") == {f"Patient/{world['enc']}"}  # never the focus, Patient/old
    rev = client.get(
        f"/fhir/Patient?family={world['family']}&_revinclude=Observation:subject&_count=100", headers=world["docA_h"]
    ).json()
    assert _ids(rev, "include") == {f"Observation/obs-enc-{world['tag']}"}
    wanted = f"obs-enc-{world['tag']},obs-old-{world['tag']},{world['old']},{world['enc']}"
    system = client.get(f"/fhir/?_id={wanted}", headers=world["docA_h"]).json()
    assert _ids(system) == {f"Observation/obs-enc-{world['tag']}", f"Patient/{world['enc']}"}
    assert system["total"] == 2 and not _suppressed(system)  # the note is for Patient searches only


def test_staff_compartment_search(client: Any, world: dict[str, Any]) -> None:
    hidden = client.get(f"/fhir/Patient/{world['old']}/Observation", headers=world["docA_h"]).json()
    assert hidden["total"] == 0 and not _suppressed(hidden)  # nothing said of a patient's clinical data
    shown = client.get(f"/fhir/Patient/{world['enc']}/Observation", headers=world["docA_h"]).json()
    assert _ids(shown) == {f"Observation/obs-enc-{world['tag']}"} and not _suppressed(shown)


def test_staff_writes_follow_care(client: Any, world: dict[str, Any]) -> None:
    tag, headers = world["tag"], {**world["docA_h"], "Content-Type": "application/fhir+json"}

    def observation(patient: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "w"},
            "subject": _ref("Patient", world[patient]),
        }

    assert_outcome(client.post("/fhir/Observation", json=observation("old"), headers=headers), 403, "suppressed")
    assert client.post("/fhir/Observation", json=observation("enc"), headers=headers).status_code == 201
    moved = {**observation("enc"), "id": f"obs-old-{tag}"}
    assert_outcome(client.put(f"/fhir/Observation/obs-old-{tag}", json=moved, headers=headers), 403, "suppressed")
    stolen = {**observation("old"), "id": f"obs-enc-{tag}"}
    assert_outcome(client.put(f"/fhir/Observation/obs-enc-{tag}", json=stolen, headers=headers), 403, "suppressed")
    assert_outcome(client.delete(f"/fhir/Observation/obs-old-{tag}", headers=headers), 403, "suppressed")
    patch = [{"op": "replace", "path": "/status", "value": "amended"}]
    patched = client.patch(
        f"/fhir/Observation/obs-old-{tag}",
        json=patch,
        headers={**headers, "Content-Type": "application/json-patch+json"},
    )
    assert_outcome(patched, 403, "suppressed")
    assert client.get(f"/fhir/Observation/obs-old-{tag}").json()["status"] == "final"  # the system sees it unchanged


def test_protected_address_is_withheld(client: Any, world: dict[str, Any]) -> None:
    url = f"/fhir/Patient/{world['protected']}"
    seen = client.get(url, headers=world["docA_h"]).json()
    assert "address" not in seen and "telecom" not in seen
    assert {"REDACTED"} <= {s["code"] for s in seen["meta"]["security"]}
    found = client.get(f"/fhir/Patient?_id={world['protected']}", headers=world["docA_h"]).json()
    assert "address" not in found["entry"][0]["resource"]
    assert client.get(url).json()["address"] == [{"city": "Hemmelig"}]  # system principal
    own = client.get(url, headers=world["patient_h"]("protected")).json()
    assert own["address"] == [{"city": "Hemmelig"}] and "REDACTED" not in str(own["meta"])


def test_patient_sees_own_and_young_childrens_records(client: Any, world: dict[str, Any]) -> None:
    h, tag = world["patient_h"]("parent"), world["tag"]
    for name in ("parent", "child", "child2"):
        assert client.get(f"/fhir/Patient/{world[name]}", headers=h).status_code == 200, name
    for name in ("teen", "enc", "old"):
        assert_outcome(client.get(f"/fhir/Patient/{world[name]}", headers=h), 404, "not-found")
    assert_outcome(client.get(f"/fhir/Observation/obs-enc-{tag}", headers=h), 404)
    assert_outcome(client.get(f"/fhir/Patient/{world['enc']}/$everything", headers=h), 404)
    assert_outcome(client.get(f"/fhir/Patient/{world['enc']}/_history", headers=h), 404)
    patients = client.get(f"/fhir/Patient?family={world['family']}", headers=h).json()
    assert _ids(patients) == {f"Patient/{world[n]}" for n in ("parent", "child", "child2")}
    assert patients["total"] == 3 and not _suppressed(patients)
    obs = client.get(
        f"/fhir/Observation?code={world['code']}|x&_include=Observation:focus&_include=Observation:subject",
        headers=h,
    ).json()
    assert _ids(obs) == {f"Observation/obs-{n}-{tag}" for n in ("parent", "child")}
    assert _ids(obs, "include") == {f"Patient/{world[n]}" for n in ("parent", "child")}
    everything = client.get(f"/fhir/Patient/{world['child']}/$everything", headers=h).json()
    assert f"Observation/obs-child-{tag}" in _ids(everything)
    assert f"Patient/{world['old']}" not in _ids(everything, "include")
    assert client.get(f"/fhir/Patient/{world['enc']}/Observation", headers=h).json()["total"] == 0
    assert client.get(f"/fhir/Organization/{world['depA']}", headers=h).status_code == 200
    assert client.get(f"/fhir/Encounter/e-enc-{tag}", headers=h).status_code == 404


def test_patient_writes_only_own_compartment(client: Any, world: dict[str, Any]) -> None:
    h = {**world["patient_h"]("parent", "patient/*.cruds"), "Content-Type": "application/fhir+json"}

    def observation(patient: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "home reading"},
            "subject": _ref("Patient", world[patient]),
        }

    assert client.post("/fhir/Observation", json=observation("parent"), headers=h).status_code == 201
    assert_outcome(client.post("/fhir/Observation", json=observation("enc"), headers=h), 404)
    assert_outcome(client.delete(f"/fhir/Observation/obs-enc-{world['tag']}", headers=h), 404)
    organization = {"resourceType": "Organization", "name": "mine"}
    assert_outcome(client.post("/fhir/Organization", json=organization, headers=h), 403)


def test_break_the_glass_grants_access_that_expires(client: Any, service: FhirService, world: dict[str, Any]) -> None:
    user = f"glass-{world['tag']}"
    h = world["staff"]("docA", user)
    old, tag = world["old"], world["tag"]
    assert_outcome(client.get(f"/fhir/Patient/{old}", headers=h), 403, "suppressed")
    url = f"/fhir/Patient/{old}/$break-the-glass"
    reason = {
        "name": "reason",
        "valueCoding": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "BTG"},
    }
    parameters: list[dict[str, Any]] = [reason]
    body = {"resourceType": "Parameters", "parameter": parameters}
    assert_outcome(client.post(url, json=body, headers=h), 400)  # no text
    parameters.append({"name": "text", "valueString": "Unconscious in the emergency room"})
    assert_outcome(client.post(url, json=body, headers=world["patient_h"]("parent")), 403)
    granted = client.post(url, json=body, headers=h)
    assert granted.status_code == 200, granted.text
    assert granted.json()["issue"][0]["severity"] == "information"
    assert "until" in granted.json()["issue"][0]["diagnostics"]
    assert client.get(f"/fhir/Patient/{old}", headers=h).status_code == 200
    assert client.get(f"/fhir/Observation/obs-old-{tag}", headers=h).status_code == 200
    assert client.get(f"/fhir/Patient/{old}/Observation", headers=h).json()["total"] == 1
    review = [g for g in grants_for_review(service.repo) if g.user == user]
    assert [(g.patient, g.reason, g.reviewed) for g in review] == [(old, "BTG", False)]
    # Another user's grant that ran out hours ago gives nothing.
    late = f"late-{tag}"
    grant(
        service.repo,
        user=late,
        practitioner=world["docB"],
        patient=world["enc"],
        reason="ETREAT",
        text="then",
        now=service.clock() - timedelta(hours=service.settings.break_glass_hours + 1),
        hours=service.settings.break_glass_hours,
    )
    assert_outcome(client.get(f"/fhir/Patient/{world['enc']}", headers=world["staff"]("docB", late)), 403)


def test_a_deleted_resource_is_judged_by_the_patient_it_named(client: Any, world: dict[str, Any]) -> None:
    """Deleting removes the index rows the rule reads; the history must stay as closed as before."""
    tag = world["tag"]
    for name in ("old", "enc"):
        put_resource(
            client,
            {
                "resourceType": "Observation",
                "id": f"gone-{name}-{tag}",
                "status": "final",
                "code": {"text": "to be deleted"},
                "subject": _ref("Patient", world[name]),
            },
        )
        assert client.delete(f"/fhir/Observation/gone-{name}-{tag}").status_code in (200, 204)
    doc = world["docA_h"]
    assert_outcome(client.get(f"/fhir/Observation/gone-old-{tag}/_history", headers=doc), 403, "suppressed")
    assert_outcome(client.get(f"/fhir/Observation/gone-old-{tag}/_history/1", headers=doc), 403, "suppressed")
    history = client.get(f"/fhir/Observation/gone-enc-{tag}/_history", headers=doc)
    assert history.status_code == 200 and len(history.json()["entry"]) == 2
    patient = world["patient_h"]("enc")
    assert client.get(f"/fhir/Observation/gone-old-{tag}/_history", headers=patient).status_code == 404
    assert client.get(f"/fhir/Observation/gone-enc-{tag}/_history", headers=patient).status_code == 200


def test_break_the_glass_by_cpr_number_when_the_search_only_says_one_exists(
    client: Any, service: FhirService, world: dict[str, Any]
) -> None:
    """A search outside care says only that a patient with the CPR number exists (suppressed):
    Patient/$break-the-glass with that identifier opens the one record, and names it."""
    from lifeline.cpr import CPR_SYSTEM

    tag = uuid.uuid4().hex[:8]
    cpr = f"0101{int(tag[:4], 16) % 100:02d}{int(tag[4:], 16) % 10000:04d}"
    stranger = f"stranger-{tag}"
    body = {"resourceType": "Patient", "id": stranger, "identifier": [{"system": CPR_SYSTEM, "value": cpr}]}
    assert client.put(f"/fhir/Patient/{stranger}", json=body).status_code == 201
    h = world["staff"]("docA", f"glass-cpr-{tag}")
    found = client.get("/fhir/Patient", params={"identifier": f"{CPR_SYSTEM}|{cpr}"}, headers=h).json()
    assert _ids(found) == set() and _suppressed(found)
    reason = {"name": "reason", "valueCoding": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                                "code": "ETREAT"}}  # fmt: skip
    text = {"name": "text", "valueString": "Brought in unconscious; CPR number from the health card"}
    by_number = {"name": "identifier", "valueIdentifier": {"system": CPR_SYSTEM, "value": cpr}}
    body = {"resourceType": "Parameters", "parameter": [reason, text, by_number]}
    granted = client.post("/fhir/Patient/$break-the-glass", json=body, headers=h)
    assert granted.status_code == 200, granted.text
    assert granted.headers["content-location"].endswith(f"Patient/{stranger}")
    assert client.get(f"/fhir/Patient/{stranger}", headers=h).status_code == 200
    nobody = {"name": "identifier", "valueIdentifier": {"system": CPR_SYSTEM, "value": "3112999999"}}
    missing = {"resourceType": "Parameters", "parameter": [reason, text, nobody]}
    assert_outcome(client.post("/fhir/Patient/$break-the-glass", json=missing, headers=h), 404)
    bare = {"resourceType": "Parameters", "parameter": [reason, text]}
    assert_outcome(client.post("/fhir/Patient/$break-the-glass", json=bare, headers=h), 400, text="identifier")
