"""Only storage runs SQL: no module outside src/lifeline/storage/ calls a session's private
`_all`/`_one`; it asks a named question of the session instead (issue 20)."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path
from typing import Any

import lifeline
from lifeline.fhir import urls
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.search.normalize import normalize

PACKAGE = Path(lifeline.__file__).parent
PRIVATE = {"_all", "_one"}


def private_calls(source: str) -> list[int]:
    """The lines of `source` that call `<anything>._all(…)` or `<anything>._one(…)`."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in PRIVATE
    ]


def test_the_check_sees_a_private_call() -> None:
    assert private_calls("rows = session._all('SELECT 1')\nrow = s.conn._one(sql, [])\n") == [1, 2]
    assert private_calls("rows = session.patients_allowed(ids, allowed, args)\n") == []


def test_no_module_outside_storage_runs_sql_through_a_session() -> None:
    modules = [path for path in sorted(PACKAGE.rglob("*.py")) if "storage" not in path.relative_to(PACKAGE).parts]
    assert len(modules) > 50, PACKAGE
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in modules
        for line in private_calls(path.read_text(encoding="utf-8"))
    ]
    assert not found, f"add a named seam to storage (session.py and its *_reads.py) instead: {found}"


def _put(service: FhirService, resource: dict[str, Any]) -> None:
    request = urls.parse("PUT", f"{resource['resourceType']}/{resource['id']}", [], "http://testserver/fhir")
    request.body, request.principal = resource, OPERATOR
    assert service.handle(request).status in (200, 201)


def _ref(res_type: str, res_id: str) -> dict[str, str]:
    return {"reference": f"{res_type}/{res_id}"}


def test_the_seams_answer_from_the_index_on_both_backends(service: FhirService) -> None:
    """The named questions of access, review and hospital scope, on a small directory."""
    tag = uuid.uuid4().hex[:8]
    hospital, department, ward, bed = f"hosp-{tag}", f"dept-{tag}", f"ward-{tag}", f"bed-{tag}"
    doctor, role, patient, other, encounter = f"doc-{tag}", f"role-{tag}", f"pat-{tag}", f"other-{tag}", f"enc-{tag}"
    for resource in (
        {"resourceType": "Organization", "id": hospital},
        {"resourceType": "Organization", "id": department, "partOf": _ref("Organization", hospital)},
        {"resourceType": "Location", "id": ward, "managingOrganization": _ref("Organization", department)},
        {"resourceType": "Location", "id": bed, "partOf": _ref("Location", ward)},
        {
            "resourceType": "Practitioner",
            "id": doctor,
            "identifier": [{"system": "urn:test:staff", "value": tag}],
            "name": [{"family": f"Berg{tag}", "given": ["Ole"]}],
        },
        {
            "resourceType": "PractitionerRole",
            "id": role,
            "practitioner": _ref("Practitioner", doctor),
            "organization": _ref("Organization", department),
            "location": [_ref("Location", ward)],
        },
        {"resourceType": "Patient", "id": patient},
        {"resourceType": "Patient", "id": other},
        {
            "resourceType": "Encounter",
            "id": encounter,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": _ref("Patient", patient),
            "serviceProvider": _ref("Organization", department),
        },
    ):
        _put(service, resource)
    with service.repo.reading() as session:
        assert session.patients_allowed([patient, other], "SELECT CAST(? AS TEXT)", (patient,)) == {patient}
        assert session.row_matches("Patient", patient, "r.res_id = ?", [patient])
        assert not session.row_matches("Patient", other, "r.res_id = ?", [patient])
        assert session.practitioner_roles(doctor) == [role]
        assert session.referenced_ids("PractitionerRole", [role], "location", "Location") == [ward]
        assert session.referring_ids("Location", "partof", "Location", [ward]) == [bed]
        assert session.referring_ids("Location", "partof", "Location", []) == []
        assert session.practitioner_by_identifier("urn:test:staff", tag) == doctor
        assert session.practitioner_by_identifier("urn:test:staff", f"no-{tag}") is None
        assert session.practitioners_by_family(normalize(f"Berg{tag}")) == [doctor]
        assert session.organisations_part_of([hospital]) == {department}
        cared = session.patients_with_care(
            "Encounter", ("patient", "subject"), [patient, other], "service-provider", [department]
        )
        assert cared == {patient}
        assert session.practitioners_with_role_at([doctor], [department]) == {doctor}
        assert session.practitioners_of_roles_at([role], [hospital]) == set()
        assert ("Encounter", encounter) in session.referring_to_patient(patient)
        assert {("Encounter", encounter, "subject", patient), ("Encounter", encounter, "patient", patient)} <= set(
            session.references_to_patients([("Encounter", encounter)])
        )
