"""The pages' authorisation matrix: every route outside /fhir and each of its methods × who asks,
on both backends. The API's own matrix is tests/access/test_matrix.py; this is its twin for the
pages, so a new page gets its row here or this test fails (`test_every_page_has_its_row`).

Who asks: a visitor (no session), a patient (their own record, `mine`), a doctor asking about
their own patient (`mine`, in care) and the same doctor about a patient outside their care
(`theirs`). What they get, per cell:

- PAGE: 200; for the doctor in care, the patient's name is on it where the page is about them
- LOGIN: 303 to the login, which leads back to the same address
- STAFF: 403 "This page is for staff." (a patient at a staff page)
- REFUSED: 403, and nothing of the patient (not their name) in the answer
- a number: that status, for routes whose answer to a bare request is their own business (the
  login steps check their pending step, the OAuth endpoints their client, the replication
  endpoints a site's credential); their behaviour is tested with them.

Forms are sent with the session's own CSRF token and no fields: a doctor in care gets the form back
with its problems (400), a doctor outside care the refusal, and nothing is written by anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from lifeline.identity.sessions import PATIENT, STAFF
from lifeline.web import assets, routes
from lifeline.web.login import WebLogin
from tests.web.pages.test_chart import Ward, admitted_patient, put
from tests.web.test_login_pages import add_user, browser
from tests.web.test_middleware import logged_in_as

PAGE, LOGIN, STAFF_PAGE, REFUSED = "page", "login", "staff", "refused"
PATIENT_PAGE = "patient-only"  # 403 "This page is for patients." (staff at the portal)
WHO = ("visitor", "patient", "mine", "theirs")


@dataclass(frozen=True)
class Row:
    """What each of WHO gets; `query` is added to the address (a chart image's choice)."""

    visitor: str | int
    patient: str | int
    mine: str | int
    theirs: str | int
    query: str = ""


def everyone(answer: int) -> Row:
    return Row(answer, answer, answer, answer)


PUBLIC_PAGE = everyone(200)
STAFF_ONLY = Row(LOGIN, STAFF_PAGE, PAGE, PAGE)  # a staff page about no one patient
CHART = Row(LOGIN, STAFF_PAGE, PAGE, REFUSED)  # a page of one patient's chart
CHART_FORM = Row(LOGIN, STAFF_PAGE, 400, REFUSED)  # a chart form sent empty
IMAGES = Row(LOGIN, 404, 404, 404)  # an image of a study no ImagingStudy names (a patient: theirs with a report)
PORTAL = Row(LOGIN, PAGE, PATIENT_PAGE, PATIENT_PAGE)  # the patient's own record; no address names a patient
DICOM_MODALITY = "http://dicom.nema.org/resources/ontology/DCM"
CT_CLASS = {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}
DICOM_PARTS = {"{study}": "2.25.1", "{series}": "2.25.2", "{instance}": "2.25.3", "{frame}": "1"}

MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/"): PUBLIC_PAGE,
    ("GET", "/language"): everyone(400),  # no language named
    ("GET", "/static/{name:path}"): PUBLIC_PAGE,
    ("GET", "/login"): PUBLIC_PAGE,
    ("POST", "/login"): Row(403, 200, 200, 200),  # a visitor has no login page's token; others: the page again
    ("GET", "/login/second-factor"): everyone(303),  # no pending login: back to its start
    ("POST", "/login/second-factor"): everyone(303),
    ("GET", "/login/second-factor/passkey"): everyone(401),
    ("POST", "/login/second-factor/passkey"): everyone(400),
    ("GET", "/login/enrol"): everyone(303),
    ("POST", "/login/enrol"): everyone(303),
    ("GET", "/login/password"): Row(303, 303, 200, 200),  # staff: change their password
    ("POST", "/login/password"): Row(303, 303, 200, 200),  # the form again, with its problems
    ("GET", "/login/citizen"): everyone(404),  # no citizen login configured here
    ("GET", "/login/citizen/callback"): everyone(404),
    ("GET", "/login/passkeys"): Row(401, 401, 200, 200),  # a staff member's own passkeys
    ("POST", "/login/passkeys"): everyone(400),
    ("POST", "/logout"): Row(LOGIN, 303, 303, 303),  # logged out, to the login
    ("POST", "/logout/everywhere"): Row(LOGIN, 303, 303, 303),
    ("GET", "/account"): Row(LOGIN, 200, 200, 200),
    ("GET", "/conflicts"): STAFF_ONLY,
    ("POST", "/conflicts"): Row(LOGIN, STAFF_PAGE, 400, 400),  # no conflict named
    ("GET", "/find"): STAFF_ONLY,
    ("GET", "/patients"): STAFF_ONLY,
    ("GET", "/break-the-glass"): Row(LOGIN, STAFF_PAGE, 400, 400),  # no patient named
    ("POST", "/break-the-glass"): Row(LOGIN, STAFF_PAGE, 400, 400),
    ("GET", "/patients/{id}"): CHART,
    ("GET", "/patients/{id}/results"): CHART,
    ("GET", "/patients/{id}/results/chart.svg"): Row(LOGIN, STAFF_PAGE, PAGE, REFUSED, "code=2823-3"),
    ("POST", "/patients/{id}/results/release"): CHART_FORM,  # release held-back results (issue 25)
    ("GET", "/patients/{id}/vitals"): CHART,
    ("GET", "/patients/{id}/vitals/chart.svg"): Row(LOGIN, STAFF_PAGE, PAGE, REFUSED, "code=8867-4"),
    ("GET", "/patients/{id}/vitals/record"): CHART,
    ("POST", "/patients/{id}/vitals/record"): CHART_FORM,
    ("GET", "/patients/{id}/notes"): CHART,
    ("POST", "/patients/{id}/notes"): CHART_FORM,
    ("GET", "/patients/{id}/imaging"): CHART,
    ("GET", "/patients/{id}/imaging/{study_id}"): CHART,  # the viewer at a study of the ward's patient (issue 22)
    ("GET", "/patients/{id}/timeline"): CHART,
    ("GET", "/patients/{id}/timeline/chart.svg"): Row(LOGIN, STAFF_PAGE, PAGE, REFUSED),
    ("GET", "/patients/{id}/medication"): CHART,
    ("GET", "/patients/{id}/medication/give"): CHART,
    ("POST", "/patients/{id}/medication/give"): CHART_FORM,
    ("GET", "/patients/{id}/orders"): CHART,
    ("POST", "/patients/{id}/orders"): CHART_FORM,
    ("GET", "/oauth/authorize"): everyone(400),  # no client named
    ("POST", "/oauth/authorize"): Row(403, 400, 400, 400),  # no CSRF token; no app named
    ("POST", "/oauth/token"): everyone(401),
    ("GET", "/.well-known/openid-configuration"): PUBLIC_PAGE,
    ("GET", "/fhir/.well-known/smart-configuration"): PUBLIC_PAGE,
    ("GET", "/.well-known/jwks.json"): PUBLIC_PAGE,
    ("GET", "/status.json"): PUBLIC_PAGE,
    ("GET", "/status"): PUBLIC_PAGE,  # the status page and incidents (issue 23)
    ("GET", "/operator/incidents"): Row(LOGIN, STAFF_PAGE, 403, 403),  # operators only (issue 23)
    ("POST", "/operator/incidents"): Row(LOGIN, STAFF_PAGE, 403, 403),
    ("POST", "/operator/incidents/{id}"): Row(LOGIN, STAFF_PAGE, 403, 403),
    ("GET", "/downtime/reentry"): STAFF_ONLY,  # re-entry after a downtime (issue 23)
    ("GET", "/downtime/reentry/label"): STAFF_ONLY,  # no identifier typed: the box, saying so
    ("POST", "/downtime/reentry/label"): Row(LOGIN, STAFF_PAGE, 400, 400),  # no identifier named
    ("GET", "/clinics"): STAFF_ONLY,  # a clinic's list (issue 24)
    ("POST", "/clinics/arrived"): Row(LOGIN, STAFF_PAGE, 400, 400),  # no appointment named
    ("GET", "/clinics/book"): STAFF_ONLY,  # free times and booking (issue 24)
    ("POST", "/clinics/book"): Row(LOGIN, STAFF_PAGE, 400, 400),  # no time and no patient named
    ("POST", "/clinics/cancel"): Row(LOGIN, STAFF_PAGE, 400, 400),  # no appointment and no reason
    ("GET", "/theatres"): STAFF_ONLY,  # the theatre board (issue 24)
    ("POST", "/theatres"): Row(LOGIN, STAFF_PAGE, 400, 400),  # no case named
    ("GET", "/wards"): STAFF_ONLY,  # choosing a bed board (issue 24)
    ("GET", "/wards/{id}"): Row(LOGIN, STAFF_PAGE, 404, 404),  # a patient's id names no ward
    ("POST", "/wards/{id}"): Row(LOGIN, STAFF_PAGE, 404, 404),
    ("GET", "/logistics/reduce"): STAFF_ONLY,  # reduce to acute care: the choice, for any staff (issue 24)
    ("POST", "/logistics/reduce"): Row(LOGIN, STAFF_PAGE, 403, 403),  # leads only: the doctor has no role lead
    ("GET", "/logistics/rebook"): STAFF_ONLY,  # the rebooking proposal (issue 24)
    ("POST", "/logistics/rebook"): Row(LOGIN, STAFF_PAGE, 400, 400),  # no case named
    # The image proxy (issue 22): staff only; a study no ImagingStudy they may open names is refused
    # (tests/web/test_imaging_proxy.py has the study in and outside care, and broken glass).
    ("POST", "/imaging/studies"): Row(LOGIN, STAFF_PAGE, 403, 403),  # STOW-RS: the CSRF token goes in a header
    ("GET", "/imaging/studies/{study}/series"): IMAGES,
    ("GET", "/imaging/studies/{study}/series/{series}/instances"): IMAGES,
    ("GET", "/imaging/studies/{study}/series/{series}/metadata"): IMAGES,
    ("GET", "/imaging/studies/{study}/series/{series}/instances/{instance}/rendered"): IMAGES,
    ("GET", "/imaging/studies/{study}/series/{series}/instances/{instance}/frames/{frame}/rendered"): IMAGES,
    # The patient portal (issue 25): the patient's own record only (tests/web/pages/test_portal.py
    # tries another patient's id in the address and the form).
    ("GET", "/portal"): PORTAL,
    ("GET", "/portal/contact"): PORTAL,
    ("POST", "/portal/contact"): Row(LOGIN, 303, PATIENT_PAGE, PATIENT_PAGE),  # no field sent: nothing changes
    ("GET", "/portal/results"): PORTAL,
    ("GET", "/portal/results/chart.svg"): Row(LOGIN, PAGE, PATIENT_PAGE, PATIENT_PAGE, "code=2823-3"),
    ("GET", "/portal/appointments"): PORTAL,
    # Notes and reports (tests/web/pages/portal/test_notes_and_scans.py): the viewer's study is the
    # patient's own, but without a report they may read its images are "not found" to them.
    ("GET", "/portal/notes"): PORTAL,
    ("GET", "/portal/imaging"): PORTAL,
    ("GET", "/portal/imaging/{study_id}"): Row(LOGIN, 404, PATIENT_PAGE, PATIENT_PAGE),
    # One appointment and its forms (tests/web/pages/portal/test_appointment_changes.py tries another
    # patient's appointment, a busy slot, a passed one): an id the patient cannot read is a 404.
    ("GET", "/portal/appointments/{id}"): Row(LOGIN, 404, PATIENT_PAGE, PATIENT_PAGE),
    ("POST", "/portal/appointments/{id}/cancel"): Row(LOGIN, 404, PATIENT_PAGE, PATIENT_PAGE),
    ("POST", "/portal/appointments/{id}/move"): Row(LOGIN, 404, PATIENT_PAGE, PATIENT_PAGE),
    ("POST", "/portal/appointments/{id}/answer"): Row(LOGIN, 404, PATIENT_PAGE, PATIENT_PAGE),
    # Who looked, and the download (tests/web/pages/portal/ tries another patient's id and cursor).
    ("GET", "/portal/access-log"): PORTAL,
    ("GET", "/portal/download"): PORTAL,
    ("GET", "/portal/download/record.json"): PORTAL,
    ("GET", "/portal/download/record.pdf"): PORTAL,
    # The portal as an app (tests/web/pages/portal/test_installable.py): the same for everyone.
    ("GET", "/portal/manifest.webmanifest"): PUBLIC_PAGE,
    ("GET", "/portal/worker.js"): PUBLIC_PAGE,
    ("GET", "/portal/offline"): PUBLIC_PAGE,
    ("POST", "/portal/switch"): Row(LOGIN, 303, PATIENT_PAGE, PATIENT_PAGE),  # no person named: their own record
    # Messages (issue 25): {id} is a patient's id here, which names no thread: 404 to whoever may ask
    # (tests/web/pages/portal/test_messages.py and test_inbox.py try other patients' threads).
    ("GET", "/portal/messages"): PORTAL,
    ("GET", "/portal/messages/{id}"): Row(LOGIN, 404, PATIENT_PAGE, PATIENT_PAGE),
    ("POST", "/portal/messages/{id}"): Row(LOGIN, 404, PATIENT_PAGE, PATIENT_PAGE),
    ("GET", "/inbox"): STAFF_ONLY,
    ("GET", "/inbox/{id}"): Row(LOGIN, STAFF_PAGE, 404, 404),
    ("POST", "/inbox/{id}"): Row(LOGIN, STAFF_PAGE, 404, 404),
    ("GET", "/metrics"): PUBLIC_PAGE,
    ("GET", "/replication/changes"): everyone(401),  # a site's credential, or nothing
    ("GET", "/replication/compartment"): everyone(401),
    ("POST", "/replication/outbox"): everyone(401),
    ("GET", "/replication/audit"): everyone(401),
    ("POST", "/replication/audit"): everyone(401),
}


def app_routes(service: FhirService) -> set[tuple[str, str]]:
    found, _ = routes.page_routes(WebLogin(service), None)
    return {
        (method, route.path)
        for route in found
        if isinstance(route, Route)
        for method in (route.methods or ())
        if method != "HEAD"
    }


def test_every_page_has_its_row(service: FhirService) -> None:
    served = app_routes(service)
    assert sorted(served - set(MATRIX)) == [], "give each new page or form its row in MATRIX"
    assert sorted(set(MATRIX) - served) == [], "a row for a route that no longer exists"


@pytest.fixture(scope="module")
def ward(service: FhirService) -> Ward:
    ward = admitted_patient(service)
    put(service, imaging_study(ward))  # the viewer's {study_id}: a study of `mine`
    return ward


def imaging_study(ward: Ward) -> dict[str, object]:
    """A study of the ward's patient for the viewer's address; "theirs" is refused at the patient."""
    return {
        "resourceType": "ImagingStudy", "id": f"img-{ward.tag}", "status": "available",
        "subject": {"reference": f"Patient/{ward.mine}"},
        "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:2.25.91"}],
        "series": [{"uid": "2.25.92", "number": 1, "modality": {"system": DICOM_MODALITY, "code": "CT"},
                    "instance": [{"uid": "2.25.93", "number": 1, "sopClass": CT_CLASS}]}],
    }  # fmt: skip


def asking(service: FhirService, ward: Ward, who: str) -> tuple[TestClient, str]:
    """A fresh browser for each request (a login page replaces the session it is shown to), and
    the CSRF token of its session."""
    web = browser(service)
    if who == "patient":
        return web, logged_in_as(service, web, PATIENT, fhir_user=f"Patient/{ward.mine}", patient=ward.mine)
    if who in ("mine", "theirs"):
        staff = add_user(service, practitioner=ward.doctor)
        doctor = f"Practitioner/{ward.doctor}"
        return web, logged_in_as(service, web, STAFF, username=staff.username, fhir_user=doctor)
    return web, ""


def written(service: FhirService) -> int:
    """The record's change sequence: how many writes it has taken."""
    with service.repo.reading() as session:
        return int(session.change_head())


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX), ids=[f"{m} {p}" for m, p in sorted(MATRIX)])
def test_who_gets_what(service: FhirService, ward: Ward, method: str, path: str) -> None:
    row = MATRIX[(method, path)]
    failures = []
    for who in WHO:
        expected: str | int = getattr(row, who)
        patient = ward.theirs if who == "theirs" else ward.mine
        address = path.replace("{id}", patient).replace("{name:path}", assets.static("app.css")[len("/static/") :])
        for part, value in DICOM_PARTS.items():
            address = address.replace(part, value)
        address = address.replace("{study_id}", f"img-{ward.tag}")
        address += f"?{row.query}" if row.query else ""
        web, csrf = asking(service, ward, who)
        before = written(service)
        answer = web.request(method, address, data={"csrf": csrf} if method == "POST" else None)
        seen = f"{answer.status_code} {answer.headers.get('location', '')}".strip()
        if method == "POST" and path.startswith(("/patients/", "/portal")) and written(service) != before:
            failures.append(f"{who}: something was written by an empty form")
        if expected == PAGE:
            ok = answer.status_code == 200
            if ok and who == "mine" and path.startswith("/patients/{id}") and not path.endswith(".svg"):
                ok = "Karen Sørensen" in answer.text
        elif expected == LOGIN:
            ok = answer.status_code == 303 and answer.headers["location"] == "/login?next=" + quote(address, safe="")
        elif expected == STAFF_PAGE:
            ok = answer.status_code == 403 and "This page is for staff." in answer.text
        elif expected == PATIENT_PAGE:
            ok = answer.status_code == 403 and "This page is for patients." in answer.text
        elif expected == REFUSED:
            ok = answer.status_code == 403 and ward.theirs_name not in answer.text and ward.theirs not in seen
        else:
            ok = answer.status_code == expected
        if not ok:
            failures.append(f"{who}: expected {expected}, got {seen}")
    assert not failures, f"{method} {path}: " + "; ".join(failures)


def test_the_matrix_can_fail(service: FhirService, ward: Ward) -> None:
    """The checks above see what they look for: a doctor outside care would fail REFUSED if the
    chart answered them, and in care PAGE needs the patient's name."""
    web, _ = asking(service, ward, "mine")
    mine = web.get(f"/patients/{ward.mine}")
    assert mine.status_code == 200 and "Karen Sørensen" in mine.text
    theirs = web.get(f"/patients/{ward.theirs}")
    assert theirs.status_code == 403 and ward.theirs_name not in theirs.text
