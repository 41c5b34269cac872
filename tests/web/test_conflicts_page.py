"""The reconciliation list as a page (web/conflicts_page.py): a clinician logged in at the pages
sees the conflicts on their own patients' records, both versions side by side, and keeps one of
them or a merge; bad input is answered beside the conflict and changes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.audit.store import events_after
from lifeline.fhir import conflicts
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.storage.write_session import WriteSession
from lifeline.web.login import render
from tests.identity.helpers import Clock
from tests.web.test_login_pages import Staff, add_user, browser, csrf_of, log_in


@dataclass
class Ward:
    doctor: str  # the Practitioner id of a doctor at the department
    mine: str  # a patient in care at the department, whose record is in conflict
    theirs: str  # a patient with no care there, whose record is in conflict too
    conflict: str  # the conflict on `mine`
    tag: str


def ward_with_conflicts(service: FhirService) -> Ward:
    """A department, its doctor, a patient in care there and one not, and a conflict on each
    patient's record as a site's replay leaves it (replication/replay.py): the centre's version
    current and flagged, the site's kept in the conflict."""
    tag = uuid.uuid4().hex[:8]
    dep, doctor, mine, theirs = f"dep-{tag}", f"doc-{tag}", f"mine-{tag}", f"theirs-{tag}"

    def put(resource: dict[str, Any]) -> None:
        request = FhirRequest("update", resource["resourceType"], resource["id"], body=resource, principal=OPERATOR)
        assert service.handle(request).status in (200, 201)

    put({"resourceType": "Organization", "id": dep, "name": f"Kardiologisk afdeling {tag}"})
    put({"resourceType": "Practitioner", "id": doctor, "name": [{"family": "Læge"}]})
    put(
        {
            "resourceType": "PractitionerRole",
            "id": f"role-{tag}",
            "active": True,
            "practitioner": {"reference": f"Practitioner/{doctor}"},
            "organization": {"reference": f"Organization/{dep}"},
        }
    )
    for patient in (mine, theirs):
        put({"resourceType": "Patient", "id": patient, "name": [{"family": "Centralsen", "given": [tag]}]})
    _admit(service, f"enc-{tag}", mine, dep)
    ids = []
    for patient in (mine, theirs):
        site_version = {"resourceType": "Patient", "id": patient, "name": [{"family": "Sitesen", "given": [tag]}]}
        ids.append(_conflict(service, patient, site_version))
    return Ward(doctor, mine, theirs, ids[0], tag)


def _admit(service: FhirService, encounter: str, patient: str, department: str) -> None:
    """An inpatient stay at the department: the care that lets its doctor open the record."""
    body = {
        "resourceType": "Encounter",
        "id": encounter,
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": f"Patient/{patient}"},
        "serviceProvider": {"reference": f"Organization/{department}"},
        "period": {"start": "2026-11-20T08:00:00Z"},
    }
    assert service.handle(FhirRequest("update", "Encounter", encounter, body=body, principal=OPERATOR)).status == 201


def _conflict(service: FhirService, patient: str, site_version: dict[str, Any]) -> str:
    local_seq = uuid.uuid4().int % 1_000_000

    def work(session: WriteSession) -> str:
        current = session.read_for_update("Patient", patient)
        assert current is not None and current.content
        record = conflicts.ConflictRecord(
            conflicts.conflict_id(f"herlev/{uuid.uuid4().hex}", local_seq),
            "Patient",
            patient,
            "herlev",
            local_seq,
            "2026-11-22T09:00:00.000Z",
            current.version_id,
            current.version_id,
            site_version,
        )
        conflicts.put_conflict(session, record, "2026-11-22T09:00:00.000Z", previous=None)
        return record.id

    conflict_id, _ = service.repo.write(work)
    flagged = conflicts.flagged(orjson.loads(service.repo.read("Patient", patient).content or "{}"))  # type: ignore[union-attr]
    service.handle(FhirRequest("update", "Patient", patient, body=flagged, principal=OPERATOR))
    return conflict_id


def _logged_in(service: FhirService, ward: Ward) -> tuple[TestClient, Staff]:
    clock = Clock()
    staff = add_user(service, practitioner=ward.doctor)
    web = browser(service, clock)
    assert log_in(web, staff, clock).status_code in (200, 303)
    return web, staff


def _conflict_status(service: FhirService, conflict_id: str) -> conflicts.ConflictRecord:
    with service.repo.reading() as session:
        return next(c for c in conflicts.all_conflicts(session) if c.id == conflict_id)


def _resolve(web: TestClient, ward: Ward, csrf: str, choice: str, merged: str = "") -> Any:
    data = {"csrf": csrf, "conflict": ward.conflict, "target": f"Patient/{ward.mine}", "choice": choice}
    return web.post("/conflicts", data={**data, "merged": merged})


@pytest.fixture
def ward(service: FhirService) -> Ward:
    return ward_with_conflicts(service)


def test_the_page_needs_a_staff_login(service: FhirService) -> None:
    answer = browser(service).get("/conflicts")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login?next=%2Fconflicts")


def test_a_clinician_keeps_the_sites_version_of_their_patients_record(service: FhirService, ward: Ward) -> None:
    web, staff = _logged_in(service, ward)
    page = web.get("/conflicts")
    assert page.status_code == 200, page.text
    # Their own patient's conflict, both versions side by side; never the other patient's.
    assert f"Patient/{ward.mine}" in page.text and f"Patient/{ward.theirs}" not in page.text
    assert "Centralsen" in page.text and "Sitesen" in page.text
    assert 'id="mode"' in page.text and "connected" in page.text
    answer = _resolve(web, ward, csrf_of(page.text), "site")
    assert (answer.status_code, answer.headers["location"]) == (303, f"/conflicts?resolved=Patient/{ward.mine}")
    kept = orjson.loads(service.repo.read("Patient", ward.mine).content or "{}")  # type: ignore[union-attr]
    assert kept["name"][0]["family"] == "Sitesen" and conflicts.unflagged(kept) == kept
    resolved = _conflict_status(service, ward.conflict)
    assert (resolved.status, resolved.resolution, resolved.resolved_by) == ("resolved", "site", staff.username)
    after = web.get(answer.headers["location"])
    assert f"The conflict on Patient/{ward.mine} is resolved" in after.text
    assert f'id="conflict-{ward.conflict}"' not in after.text
    # On the audit trail as the clinician's, naming the patient, like an API access.
    events = [orjson.loads(r.content) for r in events_after(service.repo, service.settings.node_id, 0, 1_000_000)]
    resolving = [
        e
        for e in events
        if any(a.get("altId") == staff.username for a in e["agent"])
        and any(x.get("what", {}).get("reference") == f"Patient/{ward.mine}" for x in e.get("entity", []))
        and e["action"] == "E"
    ]
    assert resolving


def test_a_merge_written_on_the_page_becomes_the_next_version(service: FhirService, ward: Ward) -> None:
    web, _ = _logged_in(service, ward)
    page = web.get("/conflicts")
    merged = {"resourceType": "Patient", "id": ward.mine, "name": [{"family": "Flettesen", "given": [ward.tag]}]}
    answer = _resolve(web, ward, csrf_of(page.text), "merged", orjson.dumps(merged).decode())
    assert answer.status_code == 303, answer.text
    kept = orjson.loads(service.repo.read("Patient", ward.mine).content or "{}")  # type: ignore[union-attr]
    assert kept["name"][0]["family"] == "Flettesen"
    assert _conflict_status(service, ward.conflict).resolution == "merged"


@pytest.mark.parametrize(
    ("choice", "merged", "status", "message"),
    [
        ("merged", "{not json", 400, "not valid JSON"),
        ("merged", '{"resourceType": "Observation"}', 400, "needs the merged Patient"),
        ("merged", '{"resourceType": "Patient", "gender": "sometimes"}', 400, "gender"),
        ("nobody", "", 400, "choice must be one of"),
    ],
    ids=["not-json", "wrong-type", "invalid", "no-such-choice"],
)
def test_bad_input_is_answered_beside_the_conflict_and_changes_nothing(
    service: FhirService, ward: Ward, choice: str, merged: str, status: int, message: str
) -> None:
    web, _ = _logged_in(service, ward)
    before = service.repo.read("Patient", ward.mine)
    answer = _resolve(web, ward, csrf_of(web.get("/conflicts").text), choice, merged)
    assert answer.status_code == status, answer.text
    assert f'id="error-{ward.conflict}"' in answer.text and message in answer.text
    assert service.repo.read("Patient", ward.mine) == before
    assert _conflict_status(service, ward.conflict).status == "open"


def test_a_form_without_its_csrf_token_or_for_a_resolved_conflict_is_refused(service: FhirService, ward: Ward) -> None:
    web, _ = _logged_in(service, ward)
    assert _resolve(web, ward, "forged", "site").status_code == 403
    assert _conflict_status(service, ward.conflict).status == "open"
    csrf = csrf_of(web.get("/conflicts").text)
    assert _resolve(web, ward, csrf, "central").status_code == 303
    again = _resolve(web, ward, csrf, "site")
    assert again.status_code == 409 and "already resolved" in again.text
    assert _conflict_status(service, ward.conflict).resolution == "central"


def test_a_site_working_on_its_own_says_so_at_the_top() -> None:
    node = {
        "node": "herlev",
        "mode": "continuity",
        "centralUnreachableSince": "2026-11-23T07:00:00Z",
        "newestReplicated": "2026-11-23T06:59:58.120Z",
    }
    page = render("conflicts.html", conflicts=[], csrf="x", who="u", node=node).body.decode()
    assert 'class="banner" id="mode" role="status"' in page
    assert "herlev is working on its own (continuity)" in page
    assert "unreachable since 2026-11-23T07:00:00Z" in page and "from 2026-11-23T06:59:58.120Z" in page


def test_a_protected_patients_address_is_withheld_from_both_versions(service: FhirService, ward: Ward) -> None:
    """Name and address protection holds on the reconciliation list as on every other answer: the
    centre's version and the site's both lose address and telecom, and say so (REDACTED)."""
    protected = f"protected-{ward.tag}"
    security = [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]
    central_version = {
        "resourceType": "Patient",
        "id": protected,
        "meta": {"security": security},
        "name": [{"family": "Skjult"}],
        "address": [{"city": "Hemmelighavn"}],
    }
    request = FhirRequest("update", "Patient", protected, body=central_version, principal=OPERATOR)
    assert service.handle(request).status == 201
    _admit(service, f"enc-p-{ward.tag}", protected, f"dep-{ward.tag}")
    telecom = [{"system": "phone", "value": "12345678"}]
    site_version = {**central_version, "address": [{"city": "Lønligby"}], "telecom": telecom}
    conflict = _conflict(service, protected, site_version)
    web, _ = _logged_in(service, ward)
    page = web.get("/conflicts").text
    assert f'id="conflict-{conflict}"' in page
    assert "Hemmelighavn" not in page and "Lønligby" not in page and "REDACTED" in page


def test_a_page_whose_access_cannot_be_recorded_shows_no_data(backend: str, tmp_path: Any) -> None:
    """The page asks through the core's audited entry (fhir/acting.py): when the trail refuses
    the record, the clinician gets the 503 error page and nothing of the patient."""
    from lifeline.config import Settings
    from lifeline.identity.keys import new_kek
    from tests.conftest import dispose, fresh_repository

    repo = fresh_repository(backend, tmp_path)
    own = FhirService(repo, Settings(issuer="http://testserver", kek=new_kek()))
    try:
        ward = ward_with_conflicts(own)
        web, _ = _logged_in(own, ward)
        assert "Centralsen" in web.get("/conflicts").text
        with repo._schema_transaction() as conn:  # the trail refuses every record from now on
            conn.execute("DROP TABLE audit_event")
        page = web.get("/conflicts")
        assert page.status_code == 503
        assert "Centralsen" not in page.text and "Sitesen" not in page.text
    finally:
        recorder = own.__dict__.get("auditor")
        if recorder is not None:
            recorder.close()
        dispose(repo)
