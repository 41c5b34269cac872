"""The matrix's writes: conditional create, update and delete (and a transaction's conditional
reference) that must not tell a hidden record from none, `$break-the-glass`, and writes to what
decides access (the structure of departments, a patient's own identity, family links)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from tests.access.matrix_checks import (
    Case,
    absent_id,
    break_glass,
    live_state,
    observed,
    shape,
    visible_patients,
)
from tests.access.matrix_table import PATIENT, STAFF, SYSTEM
from tests.access.matrix_world import CPR, FHIR_JSON, OWNER_PATIENT, ROLE

# One conditional request: method, URL, body, If-None-Exist.
Request = tuple[str, str, dict[str, Any] | None, str | None]


def check_conditional(case: Case) -> None:
    """Each conditional write whose criteria match only a record hidden from the principal
    answers exactly as the same write whose criteria match nothing, and changes nothing hidden."""
    who, world = case.who, case.world
    seen = visible_patients(who, world)
    for owner, key in OWNER_PATIENT.items():
        pid = world.ids[key]
        if pid in seen or (who.kind == SYSTEM and who.can_read("Patient")):
            continue
        target = f"mx-cond-{owner}-{world.tag}"
        where = f"× {owner}/{live_state(owner)}"
        for interaction, res_type, on_hidden, on_nothing, values in _probes(case, owner, key):
            a, b = _send(case, on_hidden), _send(case, on_nothing)
            told, untold = _write_shape(a, [*values, pid, target]), _write_shape(b, [*values, pid, target])
            case.expect(told == untold, interaction, f"{res_type} {where}", f"hidden match {told} != no match {untold}")
            if a.status_code in (200, 201) and a.text:
                answered = f"{a.json().get('resourceType')}/{a.json().get('id')}"
                hit = answered in (f"Patient/{pid}", f"Observation/{target}")
                case.expect(not hit, interaction, f"{res_type} {where}", f"answered with the hidden {answered}")
        after = case.client.get(f"/fhir/Observation/{target}")  # as the system sees it
        version = after.json().get("meta", {}).get("versionId") if after.status_code == 200 else after.status_code
        case.expect(version == "1", "conditional update/delete", f"Observation {where}", f"changed it: {version}")


def _probes(case: Case, owner: str, key: str) -> list[tuple[str, str, Request, Request, list[str]]]:
    """(interaction, type, the request matching the hidden record, the one matching nothing,
    the values in which the two differ)."""
    who, world = case.who, case.world
    writer = who.patient or ("Y" if who.practitioner in ("docB", "docG") else "X")
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "conditional"},
        "subject": {"reference": f"Patient/{world.ids[writer]}"},
    }
    patient = {"resourceType": "Patient", "name": [{"family": f"Cond{world.tag}"}]}
    value, none = f"cond-{owner}-{world.tag}", f"cond-nobody-{world.tag}"
    ident, code = (
        f"identifier={world.id_system}|",
        f"_id={world.ids[key]}&_has:Condition:subject:code={world.code_system}|",
    )
    cpr, nobody_cpr = world.cpr[key], f"0101{uuid.uuid4().int % 10**6:06d}"

    def referring(number: str) -> dict[str, Any]:
        entry = {**observation, "subject": {"reference": f"Patient?identifier={CPR}|{number}"}}
        request = {"method": "POST", "url": "Observation"}
        return {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": entry, "request": request}]}

    return [
        (
            "conditional create",
            "Observation",
            ("POST", "/fhir/Observation", observation, f"{ident}{value}"),
            ("POST", "/fhir/Observation", observation, f"{ident}{none}"),
            [value, none],
        ),
        (
            "conditional update",
            "Observation",
            ("PUT", f"/fhir/Observation?{ident}{value}", observation, None),
            ("PUT", f"/fhir/Observation?{ident}{none}", observation, None),
            [value, none],
        ),
        (
            "conditional delete",
            "Observation",
            ("DELETE", f"/fhir/Observation?{ident}{value}", None, None),
            ("DELETE", f"/fhir/Observation?{ident}{none}", None, None),
            [value, none],
        ),
        (
            "conditional create by CPR",
            "Patient",
            ("POST", "/fhir/Patient", patient, f"identifier={CPR}|{cpr}"),
            ("POST", "/fhir/Patient", patient, f"identifier={CPR}|{nobody_cpr}"),
            [cpr, nobody_cpr],
        ),
        (
            "conditional create by _has:Condition",
            "Patient",
            ("POST", "/fhir/Patient", patient, f"{code}I48.9"),
            ("POST", "/fhir/Patient", patient, f"{code}Z99.9"),
            ["I48.9", "Z99.9"],
        ),
        (
            "transaction conditional reference",
            "Patient",
            ("POST", "/fhir", referring(cpr), None),
            ("POST", "/fhir", referring(nobody_cpr), None),
            [cpr, nobody_cpr],
        ),
    ]


def _send(case: Case, request: Request) -> Any:
    method, url, body, criteria = request
    headers = {**case.headers, **FHIR_JSON, **({"If-None-Exist": criteria} if criteria else {})}
    if body is None:
        return case.client.request(method, url, headers=case.headers)
    return case.client.request(method, url, json=body, headers=headers)


def _write_shape(response: Any, values: list[str]) -> tuple[Any, ...]:
    """A success by its status (what it wrote is checked apart); a refusal by its whole shape."""
    return (response.status_code,) if response.status_code < 300 else shape(response, values)


def check_break_the_glass(case: Case) -> None:
    """A token alike (same kind and scopes; for staff, a doctor without care) breaks the glass."""
    who, world = case.who, case.world
    alike = replace(who, practitioner="docB" if who.practitioner else None, cells={})
    headers = alike.headers(world, case.service, subject=f"{who.name}-probe-{uuid.uuid4().hex[:6]}")
    response = break_glass(case.client, world.ids["X"], headers)
    where = "Patient × child/current"
    case.expect(response.status_code == who.glass, "$break-the-glass", where, observed(response))
    after = case.client.get(f"/fhir/Patient/{world.ids['X']}", headers=headers)
    if who.glass == 200:
        case.expect(after.status_code == 200, "read after $break-the-glass", where, observed(after))
        unknown = break_glass(case.client, absent_id(world), headers)
        case.expect(unknown.status_code == 404, "$break-the-glass", "Patient × absent", observed(unknown))
    elif who.kind == STAFF:
        case.expect(after.status_code != 200, "read after a refused $break-the-glass", where, observed(after))


def check_access_writes(case: Case) -> None:
    """Nobody here may change the structure of departments (none is an administrator); a patient
    changes of their own Patient only telecom, and registers no family link."""
    who, world = case.who, case.world
    headers = {**case.headers, **FHIR_JSON}
    dep_z = {"reference": f"Organization/{world.ids['depZ']}"}
    practitioner = {"reference": f"Practitioner/{world.ids[who.practitioner or 'docB']}"}
    structure = {
        "PractitionerRole": {
            "resourceType": "PractitionerRole",
            "active": True,
            "practitioner": practitioner,
            "organization": dep_z,
        },
        "Location": {"resourceType": "Location", "name": f"Ward {world.tag}", "managingOrganization": dep_z},
        "Organization": {"resourceType": "Organization", "name": f"Sub {world.tag}", "partOf": dep_z},
    }
    refused = (403,) if who.kind != PATIENT else (403, 404)
    for res_type, body in structure.items():
        response = case.client.post(f"/fhir/{res_type}", json=body, headers=headers)
        case.expect(
            response.status_code in refused, f"create {res_type}", f"{res_type} (decides access)", observed(response)
        )
    if who.kind != PATIENT or who.patient is None:
        return
    own = world.ids[who.patient]
    current = case.client.get(f"/fhir/Patient/{own}").json()  # as the system sees it
    current.pop("meta", None)
    other_cpr = world.cpr["M" if who.patient != "M" else "F"]
    changes = {
        "a new link": (
            {**current, "link": [{"other": {"reference": f"RelatedPerson/mx-rp-x-{world.tag}"}, "type": "seealso"}]},
            (403,),
        ),
        "an extra identifier": (
            {**current, "identifier": [*current.get("identifier", []), {"system": CPR, "value": other_cpr}]},
            (403,),
        ),
        "telecom only": (
            {
                **current,
                "telecom": [*current.get("telecom", []), {"system": "email", "value": f"{who.name}@example.org"}],
            },
            (200,),
        ),
    }
    for what, (body, statuses) in changes.items():
        response = case.client.put(f"/fhir/Patient/{own}", json=body, headers=headers)
        case.expect(
            response.status_code in statuses, f"update own Patient with {what}", "Patient (own)", observed(response)
        )
    related = {
        "resourceType": "RelatedPerson",
        "patient": {"reference": f"Patient/{own}"},
        "relationship": [{"coding": [{"system": ROLE, "code": "MTH"}]}],
        "identifier": [{"system": CPR, "value": other_cpr}],
    }
    response = case.client.post("/fhir/RelatedPerson", json=related, headers=headers)
    case.expect(
        response.status_code in (403, 404), "create RelatedPerson", "RelatedPerson (decides access)", observed(response)
    )
