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


def _conflict(
    service: FhirService, patient: str, site_version: dict[str, Any] | None, res_type: str = "Patient"
) -> str:
    """A conflict on `res_type`/`patient` as replay leaves it (`site_version` None: deleted there)."""
    local_seq = uuid.uuid4().int % 1_000_000

    def work(session: WriteSession) -> str:
        current = session.read_for_update(res_type, patient)
        assert current is not None and current.content
        record = conflicts.ConflictRecord(
            conflicts.conflict_id(f"herlev/{uuid.uuid4().hex}", local_seq),
            res_type,
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
    flagged = conflicts.flagged(orjson.loads(service.repo.read(res_type, patient).content or "{}"))  # type: ignore[union-attr]
    service.handle(FhirRequest("update", res_type, patient, body=flagged, principal=OPERATOR))
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
    assert '<p class="node" id="mode">Regional centre</p>' in page.text  # the centre, connected
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
    assert "herlev is working on its own (cut off from the centre)" in page
    assert "unreachable since 23 Nov 2026, 08:00." in page and "from 23 Nov 2026, 07:59." in page  # Danish time


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
    # What is withheld cannot be merged by this clinician: only a whole side, written by the core.
    shown = _listed(web, conflict)
    assert shown["withheld"] and not shown["mergeable"] and f'id="whole-only-{conflict}"' in page
    assert "Hemmelighavn" not in orjson.dumps(shown).decode() and "12345678" not in orjson.dumps(shown).decode()
    data = {"csrf": csrf_of(page), "conflict": conflict, "target": f"Patient/{protected}", "choice": "fields"}
    refused = web.post("/conflicts", data={**data, "field:address": "site"})
    assert refused.status_code == 400 and f'id="error-{conflict}"' in refused.text
    assert _conflict_status(service, conflict).status == "open"


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
        dispose(repo, own)


# ---- Field by field (issue 21): the comparison in clinical words, and the merge it writes ----


@dataclass
class Rich:
    """A patient in care at the ward's department whose phone, birth date and address differ."""

    id: str
    conflict: str


def rich_conflict(service: FhirService, ward: Ward, site_changes: dict[str, Any] | None = None) -> Rich:
    patient = f"rich-{uuid.uuid4().hex[:8]}"
    email = {"system": "email", "value": "c@example.org"}
    central = {
        "resourceType": "Patient",
        "id": patient,
        "name": [{"family": "Centralsen", "given": [ward.tag]}],
        "telecom": [{"system": "phone", "value": "11111111"}, email],
        "gender": "female",
        "birthDate": "1958-07-25",
    }
    request = FhirRequest("update", "Patient", patient, body=central, principal=OPERATOR)
    assert service.handle(request).status == 201
    _admit(service, f"enc-{patient}", patient, f"dep-{ward.tag}")
    site_version = {
        **central,
        "meta": {"versionId": "3", "lastUpdated": "2026-11-22T08:30:00Z"},
        "telecom": [{"system": "phone", "value": "22222222"}, email],
        "birthDate": "1958-07-26",
        "address": [{"line": ["Havnegade 1"], "postalCode": "2730", "city": "Herlev"}],
        **(site_changes or {}),
    }
    return Rich(patient, _conflict(service, patient, site_version))


def _listed(web: TestClient, conflict_id: str) -> dict[str, Any]:
    answer = web.get("/conflicts", params={"_format": "json"})
    assert answer.status_code == 200, answer.text
    return next(c for c in answer.json()["conflicts"] if c["id"] == conflict_id)


def _choose(web: TestClient, rich: Rich, choices: dict[str, str], version: str | None = None) -> Any:
    shown = _listed(web, rich.conflict)
    data = {
        "csrf": csrf_of(web.get("/conflicts").text),
        "conflict": rich.conflict,
        "target": f"Patient/{rich.id}",
        "version": version or shown["central"]["version"],
        "choice": "fields",
        **{f"field:{key}": side for key, side in choices.items()},
    }
    return web.post("/conflicts", data=data)


def _read(service: FhirService, patient: str) -> dict[str, Any]:
    answer = service.handle(FhirRequest("read", "Patient", patient, principal=OPERATOR))
    return orjson.loads(answer.raw) if answer.raw is not None else dict(answer.resource or {})


def test_the_comparison_lists_what_differs_in_clinical_words(service: FhirService, ward: Ward) -> None:
    rich = rich_conflict(service, ward)
    web, staff = _logged_in(service, ward)
    shown = _listed(web, rich.conflict)
    events = [orjson.loads(r.content) for r in events_after(service.repo, service.settings.node_id, 0, 1_000_000)]
    assert any(  # the page's reads are on the trail as the clinician's, naming the patient
        e["action"] == "R"
        and any(a.get("altId") == staff.username for a in e["agent"])
        and any(x.get("what", {}).get("reference") == f"Patient/{rich.id}" for x in e.get("entity", []))
        for e in events
    )
    fields = [(f["key"], f["label"], f["central"], f["site"], f["both"]) for f in shown["fields"]]
    assert fields == [
        ("telecom.phone", "Phone", ["phone 11 11 11 11"], ["phone 22 22 22 22"], True),
        ("birthDate", "Date of birth", ["25 Jul 1958"], ["26 Jul 1958"], False),
        ("address", "Address", [], ["Havnegade 1, 2730 Herlev"], False),
    ]
    assert shown["mergeable"] and shown["type"] == "Patient details" and shown["site"] == "herlev"
    assert shown["siteVersion"]["version"] == "3" and shown["siteVersion"]["changed"]["text"] == "22 Nov 2026, 09:30"
    page = web.get("/conflicts").text
    assert f'id="fields-{rich.conflict}"' in page and "Date of birth" in page and "phone 22 22 22 22" in page
    assert f'name="field:birthDate" value="central" id="{rich.conflict}-birthDate-central" checked' in page
    assert 'value="both"' in page.split(f'id="conflict-{rich.conflict}"')[1].split("</table>")[0]
    danish = web.get("/language", params={"to": "da", "next": "/conflicts"})
    assert danish.status_code == 303
    in_danish = _listed(web, rich.conflict)
    assert [f["label"] for f in in_danish["fields"]] == ["Telefon", "Fødselsdato", "Adresse"]
    assert in_danish["fields"][0]["central"] == ["telefon 11 11 11 11"] and in_danish["fields"][1]["site"] == [
        "26.07.1958"
    ]
    assert "Gem med disse valg" in web.get("/conflicts").text


@pytest.mark.parametrize(
    ("choices", "resolution", "phones", "born", "city"),
    [
        (
            {"telecom.phone": "central", "birthDate": "site", "address": "site"},
            "merged",
            ["11111111"],
            "1958-07-26",
            "Herlev",
        ),
        ({"telecom.phone": "both", "birthDate": "central"}, "merged", ["11111111", "22222222"], "1958-07-25", None),
        (
            {"telecom.phone": "site", "birthDate": "site", "address": "site"},
            "site",
            ["22222222"],
            "1958-07-26",
            "Herlev",
        ),
        ({}, "central", ["11111111"], "1958-07-25", None),
    ],
    ids=["mixed", "both-phones", "all-site", "all-centre"],
)
def test_a_choice_per_element_writes_exactly_that_merge(
    service: FhirService,
    ward: Ward,
    choices: dict[str, str],
    resolution: str,
    phones: list[str],
    born: str,
    city: str | None,
) -> None:
    rich = rich_conflict(service, ward)
    web, staff = _logged_in(service, ward)
    answer = _choose(web, rich, choices)
    assert (answer.status_code, answer.headers.get("location")) == (303, f"/conflicts?resolved=Patient/{rich.id}"), (
        answer.text
    )
    kept = _read(service, rich.id)
    assert [p["value"] for p in kept["telecom"] if p["system"] == "phone"] == phones
    assert [p["value"] for p in kept["telecom"] if p["system"] == "email"] == ["c@example.org"]
    assert kept["birthDate"] == born and kept["name"][0]["family"] == "Centralsen"
    assert [a["city"] for a in kept.get("address", [])] == ([city] if city else [])
    assert conflicts.unflagged(kept) == kept
    resolved = _conflict_status(service, rich.conflict)
    assert (resolved.status, resolved.resolution, resolved.resolved_by) == ("resolved", resolution, staff.username)


@pytest.mark.parametrize(
    ("choices", "version", "site_changes", "status", "message"),
    [
        (
            {"birthDate": "nobody"},
            None,
            None,
            400,
            "Choose the centre&#39;s, the site&#39;s or both for: Date of birth",
        ),
        ({"birthDate": "both"}, None, None, 400, "Date of birth"),
        ({"birthDate": "site"}, "1", None, 409, "The centre&#39;s version changed while you were choosing"),
        ({"gender": "site"}, None, {"gender": "sometimes"}, 400, "gender"),
    ],
    ids=["no-such-side", "both-not-offered", "centre-moved-on", "core-refuses"],
)
def test_a_bad_field_choice_is_answered_beside_the_conflict_and_writes_nothing(
    service: FhirService,
    ward: Ward,
    choices: dict[str, str],
    version: str | None,
    site_changes: dict[str, Any] | None,
    status: int,
    message: str,
) -> None:
    rich = rich_conflict(service, ward, site_changes)
    web, _ = _logged_in(service, ward)
    before = service.repo.read("Patient", rich.id)
    answer = _choose(web, rich, choices, version)
    assert answer.status_code == status, answer.text
    assert f'id="error-{rich.conflict}"' in answer.text and message in answer.text
    assert service.repo.read("Patient", rich.id) == before
    assert _conflict_status(service, rich.conflict).status == "open"
    key, side = next(iter(choices.items()))
    if side == "site":  # the clinician's choices are shown again
        assert f'value="{side}" id="{rich.conflict}-{key}-{side}" checked' in answer.text


def test_the_version_named_is_that_of_the_centres_json_shown(service: FhirService, ward: Ward) -> None:
    rich = rich_conflict(service, ward)
    web, _ = _logged_in(service, ward)
    shown = _listed(web, rich.conflict)
    central = shown["central"]
    assert central["version"] == orjson.loads(central["json"])["meta"]["versionId"] == "2"
    assert (central["recorded"], central["movedOn"]) == ("1", False)  # the flag is no change of data
    page = web.get("/conflicts").text
    assert "At the centre (version 2)" in page and "&#34;versionId&#34;: &#34;2&#34;" in page
    assert f'id="moved-{rich.conflict}"' not in page
    # The centre changes the record again: the page names the newest version and says so.
    newer = {**_read(service, rich.id), "gender": "other"}
    service.handle(FhirRequest("update", "Patient", rich.id, body=newer, principal=OPERATOR))
    moved = _listed(web, rich.conflict)["central"]
    assert (moved["version"], moved["movedOn"]) == ("3", True)
    assert orjson.loads(moved["json"])["meta"]["versionId"] == "3"
    page = web.get("/conflicts").text
    assert f'id="moved-{rich.conflict}"' in page and "version 1 then, version 3 now" in page


def test_a_result_is_compared_by_its_value(service: FhirService, ward: Ward) -> None:
    observation = f"obs-{ward.tag}"
    central = {
        "resourceType": "Observation",
        "id": observation,
        "status": "final",
        "code": {"text": "P-Glukose"},
        "subject": {"reference": f"Patient/{ward.mine}"},
        "effectiveDateTime": "2026-11-21T07:00:00Z",
        "valueQuantity": {"value": 7.2, "unit": "mmol/L"},
    }
    assert (
        service.handle(FhirRequest("update", "Observation", observation, body=central, principal=OPERATOR)).status
        == 201
    )
    site_version = {**central, "valueQuantity": {"value": 8.1, "unit": "mmol/L"}, "status": "amended"}
    conflict = _conflict(service, observation, site_version, "Observation")
    web, _ = _logged_in(service, ward)
    shown = _listed(web, conflict)
    assert [(f["label"], f["central"], f["site"]) for f in shown["fields"]] == [
        ("Status", ["final"], ["amended"]),
        ("Result", ["7.2 mmol/L"], ["8.1 mmol/L"]),
    ]


def test_markup_in_a_value_is_shown_as_text(service: FhirService, ward: Ward) -> None:
    rich = rich_conflict(service, ward, {"name": [{"family": "<script>alert(1)</script>", "given": ["<b>x</b>"]}]})
    web, _ = _logged_in(service, ward)
    assert _listed(web, rich.conflict)["fields"][0]["site"] == ["<b>x</b> <script>alert(1)</script>"]
    page = web.get("/conflicts").text
    assert "&lt;b&gt;x&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page and "<b>x</b>" not in page


def test_a_side_deleted_is_said_so_instead_of_compared(service: FhirService, ward: Ward) -> None:
    conflict = _conflict(service, ward.mine, None)
    web, _ = _logged_in(service, ward)
    shown = _listed(web, conflict)
    assert shown["siteVersion"]["deleted"] and shown["fields"] == [] and not shown["mergeable"]
    page = web.get("/conflicts").text
    assert f'id="deleted-{conflict}"' in page and "Deleted at herlev." in page


def test_a_patient_outside_care_is_neither_listed_nor_merged(service: FhirService, ward: Ward) -> None:
    web, _ = _logged_in(service, ward)
    listed = web.get("/conflicts", params={"_format": "json"}).json()["conflicts"]
    assert ward.theirs not in orjson.dumps(listed).decode() and "Sitesen" in orjson.dumps(listed).decode()
    before = service.repo.read("Patient", ward.theirs)
    with service.repo.reading() as session:
        theirs = next(c.id for c in conflicts.open_conflicts(session) if c.res_id == ward.theirs)
    data = {"csrf": csrf_of(web.get("/conflicts").text), "conflict": theirs, "choice": "fields"}
    answer = web.post("/conflicts", data={**data, "target": f"Patient/{ward.theirs}", "field:name": "site"})
    assert answer.status_code == 404 and 'id="error"' in answer.text and ward.theirs not in answer.text
    assert service.repo.read("Patient", ward.theirs) == before
    assert _conflict_status(service, theirs).status == "open"
