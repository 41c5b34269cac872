"""The chart's notes (web/pages/chart/notes.py, note_form.py) on both backends: the list through its
JSON form, decoded, newest first, with author, department and type; the filters and pages; writing
a note through the form, once however often it is sent; bad input refused beside the field with
the text kept and nothing written; a patient outside care refused, reading and writing; the write
on the audit trail as the staff member's; markup in a note shown as text."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.audit.store import events_after
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.identity.sessions import STAFF
from lifeline.web import i18n
from lifeline.web.layout import STAFF as STAFF_PAGE
from lifeline.web.layout import PageUser
from lifeline.web.pages.chart import note_form
from tests.web.pages.test_chart import Ward, admitted_patient, put, ref
from tests.web.test_login_pages import add_user, browser
from tests.web.test_middleware import logged_in_as

LOINC = "http://loinc.org"
PROGRESS = f"{LOINC}|11506-3"
EMERGENCY = f"{LOINC}|34111-5"


def document(
    id_: str,
    patient: str,
    kind: tuple[str, str, str],
    when: str,
    text: str,
    author: dict[str, str],
    custodian: dict[str, str] | None = None,
    **values: Any,
) -> dict[str, Any]:
    """A note as the generator writes one (generate/documents.py)."""
    code, display, title = kind
    attachment = {"contentType": "text/plain; charset=utf-8", "data": base64.b64encode(text.encode()).decode()}
    note = {
        "resourceType": "DocumentReference",
        "id": id_,
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": title},
        "subject": ref(f"Patient/{patient}"),
        "date": when,
        "author": [author],
        "content": [{"attachment": {**attachment, "title": title}}],
        **values,
    }
    return {**note, **({"custodian": custodian} if custodian else {})}


PROGRESS_NOTE = ("11506-3", "Progress note", "Ambulant notat")
EMERGENCY_NOTE = ("34111-5", "Emergency department note", "Akutnotat")
DISCHARGE = ("18842-5", "Discharge summary", "Epikrise")


@pytest.fixture
def ward(service: FhirService) -> Ward:
    """The chart's ward, and three notes on its patient from two departments, by a doctor through
    their role and by a nurse named only by the Practitioner; one on the patient outside care."""
    ward = admitted_patient(service)
    tag = ward.tag
    cardiology = ref(f"Organization/dep-{tag}", f"Kardiologisk Afdeling {tag}")
    put(service, {"resourceType": "Organization", "id": f"er-{tag}", "name": f"Akutmodtagelsen {tag}"})
    put(
        service, {"resourceType": "Practitioner", "id": f"nurse-{tag}", "name": [{"given": ["Bo"], "family": "Hansen"}]}
    )
    role = ref(f"PractitionerRole/role-{tag}", "Asta Møller")
    for resource in (
        document(f"n1-{tag}", ward.mine, PROGRESS_NOTE, "2026-10-01T10:00:00+02:00", "Første linje.\nAnden linje.",
                 role, cardiology),
        document(f"n2-{tag}", ward.mine, EMERGENCY_NOTE, "2026-11-20T07:30:00+01:00", "Henvender sig akut.",
                 ref(f"Practitioner/nurse-{tag}"), ref(f"Organization/er-{tag}")),
        document(f"n3-{tag}", ward.mine, DISCHARGE, "2025-03-03T12:00:00+01:00", "Udskrives.", role, cardiology),
        document(f"n4-{tag}", ward.mine, PROGRESS_NOTE, "2024-01-01T09:00:00+01:00", "Gammel.", role, cardiology,
                 status="entered-in-error"),
        document(f"t1-{tag}", ward.theirs, PROGRESS_NOTE, "2026-11-01T10:00:00+01:00", f"Hemmelig {tag}", role),
    ):  # fmt: skip
        put(service, resource)
    return ward


def doctor(service: FhirService, ward: Ward, language: str | None = None) -> tuple[TestClient, str, str]:
    """The ward's doctor logged in: the browser, the user name and the session's CSRF token."""
    web = browser(service)
    staff = add_user(service, practitioner=ward.doctor)
    csrf = logged_in_as(service, web, STAFF, username=staff.username, fhir_user=f"Practitioner/{ward.doctor}")
    if language:
        web.cookies.set(i18n.COOKIE, language)
    return web, staff.username, csrf


def notes_json(web: TestClient, patient: str, **params: str) -> dict[str, Any]:
    answer = web.get(f"/patients/{patient}/notes", params={**params, "_format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def stored_notes(service: FhirService, patient: str) -> list[dict[str, Any]]:
    """The patient's DocumentReferences as stored, past the pages."""
    asking = FhirRequest("search", "DocumentReference", params=[("patient", patient)], principal=OPERATOR)
    bundle = orjson.loads(orjson.dumps(service.handle(asking).resource))
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def post_note(web: TestClient, patient: str, csrf: str, text: str, **fields: str) -> Any:
    form = {"csrf": csrf, "key": note_form.new_key(), "type": "11506-3", "text": text, **fields}
    return web.post(f"/patients/{patient}/notes", data=form)


def test_the_notes_need_a_staff_login(service: FhirService, ward: Ward) -> None:
    answer = browser(service).get(f"/patients/{ward.mine}/notes")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    before = len(stored_notes(service, ward.mine))
    sent = browser(service).post(f"/patients/{ward.mine}/notes", data={"text": "x"})
    assert (sent.status_code, sent.headers["location"]) == (303, f"/login?next=%2Fpatients%2F{ward.mine}%2Fnotes")
    assert len(stored_notes(service, ward.mine)) == before  # an expired session: to the login, nothing written


def test_the_notes_newest_first_decoded_with_author_department_and_type(service: FhirService, ward: Ward) -> None:
    web, _, _ = doctor(service, ward)
    shown = notes_json(web, ward.mine)
    assert shown["showing"] == "notes" and shown["patient"]["name"] == "Karen Sørensen"
    notes = shown["notes"]
    assert [n["id"] for n in notes] == [f"n2-{ward.tag}", f"n1-{ward.tag}", f"n3-{ward.tag}"]  # not the one in error
    emergency, progress, _ = notes
    assert (emergency["type"], emergency["loinc"], emergency["text"]) == (
        "Akutnotat",
        "34111-5",
        "Henvender sig akut.",
    )
    assert emergency["authors"] == [{"name": "Bo Hansen", "role": None}]  # resolved from the Practitioner
    assert emergency["department"] == f"Akutmodtagelsen {ward.tag}"  # from the Organization itself
    assert emergency["when"] == {"at": "2026-11-20T07:30:00+01:00", "text": "20 Nov 2026, 07:30"}
    assert progress["text"] == "Første linje.\nAnden linje."  # line breaks kept
    assert progress["authors"] == [{"name": "Læge", "role": None}]  # the role's Practitioner, by name
    assert progress["department"] == f"Kardiologisk Afdeling {ward.tag}"
    assert f"Hemmelig {ward.tag}" not in orjson.dumps(shown).decode()
    page = web.get(f"/patients/{ward.mine}/notes")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert '<div class="note-text">Første linje.\nAnden linje.</div>' in page.text
    assert 'aria-current="page">Notes</a>' in page.text  # the chart's tab, and the summary links here
    assert f'href="/patients/{ward.mine}/notes"' in web.get(f"/patients/{ward.mine}").text


def test_the_filters_choose_by_type_and_department(service: FhirService, ward: Ward) -> None:
    web, _, _ = doctor(service, ward)
    filters = notes_json(web, ward.mine)["filters"]
    assert [(t["value"], t["label"], t["loinc"], t["count"]) for t in filters["types"]] == [
        (EMERGENCY, "Akutnotat", "34111-5", 1),
        (PROGRESS, "Ambulant notat", "11506-3", 1),
        (f"{LOINC}|18842-5", "Epikrise", "18842-5", 1),
    ]
    assert [(d["value"], d["count"]) for d in filters["departments"]] == [
        (f"Organization/er-{ward.tag}", 1),
        (f"Organization/dep-{ward.tag}", 2),
    ]
    assert [n["id"] for n in notes_json(web, ward.mine, type=PROGRESS)["notes"]] == [f"n1-{ward.tag}"]
    cardiology = notes_json(web, ward.mine, department=f"Organization/dep-{ward.tag}")
    assert [n["id"] for n in cardiology["notes"]] == [f"n1-{ward.tag}", f"n3-{ward.tag}"]
    assert cardiology["filters"]["department"] == f"Organization/dep-{ward.tag}"
    both = notes_json(web, ward.mine, type=EMERGENCY, department=f"Organization/dep-{ward.tag}")
    assert both["notes"] == []
    for unknown in ({"type": "http://loinc.org|00000-0"}, {"department": "Organization/nowhere"}, {"type": "a,b|c"}):
        assert notes_json(web, ward.mine, **unknown)["notes"] == []  # chooses nothing, asks nothing odd
    page = web.get(f"/patients/{ward.mine}/notes", params={"type": PROGRESS}).text
    assert f'<option value="{PROGRESS}" selected>Progress note (1)</option>' in page  # in the reader's words
    assert (
        "No notes of this type and department."
        in web.get(
            f"/patients/{ward.mine}/notes", params={"type": EMERGENCY, "department": f"Organization/dep-{ward.tag}"}
        ).text
    )


def test_older_notes_are_a_page_away(service: FhirService, ward: Ward) -> None:
    role = ref(f"PractitionerRole/role-{ward.tag}")
    for day in range(1, 26):
        when = f"2023-01-{day:02d}T10:00:00+01:00"
        put(service, document(f"old{day}-{ward.tag}", ward.mine, PROGRESS_NOTE, when, f"Dag {day}.", role))
    web, _, _ = doctor(service, ward)
    first = notes_json(web, ward.mine)
    assert len(first["notes"]) == 20 and first["paging"]["newer"] is None and first["paging"]["newest"] is None
    older = first["paging"]["older"]
    assert older and older.startswith("?page=")
    second = notes_json(web, ward.mine, page=older.removeprefix("?page="))
    seen = [n["id"] for n in first["notes"] + second["notes"]]
    assert len(seen) == len(set(seen)) == 28 and second["paging"]["older"] is None
    assert second["paging"]["newest"] == "?" and second["paging"]["newer"]
    assert [n["text"] for n in second["notes"]][-3:] == ["Dag 3.", "Dag 2.", "Dag 1."]
    filtered = notes_json(web, ward.mine, type=PROGRESS)
    assert filtered["paging"]["older"].startswith("?" + urlencode({"type": PROGRESS}) + "&page=")
    assert web.get(f"/patients/{ward.mine}/notes", params={"page": "forged"}).status_code == 400


def test_a_note_written_is_one_document_shown_after_the_redirect(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    form = notes_json(web, ward.mine)["form"]
    assert form["type"] == "11506-3" and len(form["key"]) >= 16 and form["text"] == ""
    assert [t["code"] for t in form["types"]] == ["11506-3", "34117-2", "18842-5", "34111-5"]
    text = "Tilset på stuen.\r\nHar det bedre.\r\n\r\nPlan: fortsætter."
    answer = web.post(
        f"/patients/{ward.mine}/notes", data={"csrf": csrf, "key": form["key"], "type": "34117-2", "text": text}
    )
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    [written] = [
        n for n in stored_notes(service, ward.mine) if n["id"] not in {f"n{i}-{ward.tag}" for i in range(1, 5)}
    ]
    assert urlsplit(location).path == f"/patients/{ward.mine}/notes" and location.endswith(f"#note-{written['id']}")
    assert written["status"] == "current" and written["subject"] == {"reference": f"Patient/{ward.mine}"}
    assert written["author"] == [{"reference": f"Practitioner/{ward.doctor}"}]
    assert written["type"]["coding"] == [{"system": LOINC, "code": "34117-2", "display": "History and physical note"}]
    assert written["context"] == {"encounter": [{"reference": f"Encounter/enc-{ward.tag}"}]}
    assert written["custodian"] == {
        "reference": f"Organization/dep-{ward.tag}",
        "display": f"Kardiologisk Afdeling {ward.tag}",
    }
    assert written["identifier"] == [{"system": note_form.KEY_SYSTEM, "value": form["key"]}]
    assert written["date"].startswith("2026-11-22T") and written["date"].endswith("+01:00")  # the service's clock
    attachment = written["content"][0]["attachment"]
    assert attachment["contentType"] == "text/plain; charset=utf-8"
    assert base64.b64decode(attachment["data"]).decode() == "Tilset på stuen.\nHar det bedre.\n\nPlan: fortsætter."
    shown = web.get(location)
    assert shown.status_code == 200 and 'id="written"' in shown.text and "The note is saved." in shown.text
    reloaded = notes_json(web, ward.mine, written=written["id"])
    first = reloaded["notes"][0]
    assert (first["id"], first["type"], first["department"]) == (
        written["id"],
        "Indlæggelsesnotat",
        f"Kardiologisk Afdeling {ward.tag}",
    )
    assert first["text"] == "Tilset på stuen.\nHar det bedre.\n\nPlan: fortsætter."
    assert first["authors"] == [{"name": "Læge", "role": None}]
    assert reloaded["form"]["key"] != form["key"]  # each form its own key


def test_the_same_form_sent_twice_writes_one_note(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    before = len(stored_notes(service, ward.mine))
    form = {"csrf": csrf, "key": note_form.new_key(), "type": "11506-3", "text": "Sendt to gange."}
    first = web.post(f"/patients/{ward.mine}/notes", data=form)
    again = web.post(f"/patients/{ward.mine}/notes", data=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]  # the same note, both times
    assert len(stored_notes(service, ward.mine)) == before + 1
    assert [n["text"] for n in notes_json(web, ward.mine)["notes"]].count("Sendt to gange.") == 1
    other = web.post(f"/patients/{ward.mine}/notes", data={**form, "key": note_form.new_key()})
    assert other.status_code == 303 and len(stored_notes(service, ward.mine)) == before + 2  # a new form: a new note


def test_two_presses_at_the_same_moment_write_one_note(service: FhirService, ward: Ward) -> None:
    """The same form's two requests racing (a double click on a slow line): the core's lock on the
    condition makes the second find the note the first wrote."""
    author = f"Practitioner/{ward.doctor}"
    principal = PageUser(kind=STAFF_PAGE, username=f"u-{ward.tag}", fhir_user=author).principal
    draft = note_form.Draft(text="Samtidig.")
    start = threading.Barrier(2)

    def press(_: int) -> str:
        start.wait()
        as_doctor = service.as_user(principal, "127.0.0.1", "TREAT")
        return note_form.write(as_doctor, ward.mine, draft, author, datetime.now(UTC))

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(press, range(2))
    assert first == second
    assert [n["id"] for n in stored_notes(service, ward.mine) if n.get("description") == "Ambulant notat"] == [first]


@pytest.mark.parametrize(
    ("fields", "field", "said"),
    [
        ({"text": ""}, "text", "The note is empty"),
        ({"text": "  \r\n\t  \n"}, "text", "The note is empty"),
        (
            {"text": "x" * (note_form.MOST_CHARACTERS + 1)},
            "text",
            "at most 100,000 characters, and this one has 100,001",
        ),
        ({"type": "99999-9"}, "type", "Choose one of the kinds of note listed."),
        ({"type": ""}, "type", "Choose one of the kinds of note listed."),
        ({"key": ""}, "key", "The form was not complete."),
        ({"key": "short"}, "key", "The form was not complete."),
    ],
    ids=["empty", "whitespace", "too-long", "unknown-type", "no-type", "no-key", "bad-key"],
)
def test_bad_input_is_refused_beside_the_field_with_the_text_kept(
    service: FhirService, ward: Ward, fields: dict[str, str], field: str, said: str
) -> None:
    web, _, csrf = doctor(service, ward)
    before = len(stored_notes(service, ward.mine))
    form = {"csrf": csrf, "key": note_form.new_key(), "type": "11506-3", "text": "Kept <as> typed & all", **fields}
    answer = web.post(f"/patients/{ward.mine}/notes", data=form)
    assert answer.status_code == 400 and said in answer.text, answer.text[-3000:]
    assert f'id="note-{field}-error"' in answer.text
    kept = form["text"].replace("\r\n", "\n")
    assert 'name="text" rows="8" required' in answer.text and (
        f">{kept.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</textarea>" in answer.text
    )
    if field == "text":
        assert 'aria-invalid="true" aria-describedby="note-text-error note-text-hint"' in answer.text
    assert len(stored_notes(service, ward.mine)) == before  # nothing written


def test_a_form_without_its_csrf_token_is_refused(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    before = len(stored_notes(service, ward.mine))
    for token in ("", "wrong", csrf[:-1]):
        answer = post_note(web, ward.mine, token, "Forged.")
        assert answer.status_code == 403 and "Form refused" in answer.text
    assert len(stored_notes(service, ward.mine)) == before


def test_a_patient_outside_care_is_refused_reading_and_writing(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    page = web.get(f"/patients/{ward.theirs}/notes")
    assert page.status_code == 403 and "not in your care" in page.text
    for withheld in (ward.theirs_name, f"Hemmelig {ward.tag}", "0101701235"):
        assert withheld not in page.text
    answer = web.get(f"/patients/{ward.theirs}/notes", params={"_format": "json"})
    assert answer.status_code == 403 and f"Hemmelig {ward.tag}" not in answer.text
    assert [i["code"] for i in answer.json()["issue"]] == ["suppressed"]
    before = len(stored_notes(service, ward.theirs))
    for text in ("Skrevet udenfor.", ""):  # a good form and a bad one: neither shows nor writes anything
        refused = post_note(web, ward.theirs, csrf, text)
        assert refused.status_code == 403 and "not in your care" in refused.text
        assert ward.theirs_name not in refused.text and f"Hemmelig {ward.tag}" not in refused.text
    assert len(stored_notes(service, ward.theirs)) == before
    assert web.get("/patients/no-such-patient/notes").status_code == 404
    assert post_note(web, "no-such-patient", csrf, "Til ingen.").status_code == 404


def test_the_write_is_on_the_trail_as_the_staff_members(service: FhirService, ward: Ward) -> None:
    web, username, csrf = doctor(service, ward)
    answer = post_note(web, ward.mine, csrf, "Til journalen.")
    note_id = answer.headers["location"].rpartition("#note-")[2]
    events = [orjson.loads(r.content) for r in events_after(service.repo, service.settings.node_id, 0, 1_000_000)]
    created = [
        e
        for e in events
        if any(s.get("code") == "create" for s in e.get("subtype", []))
        and any(
            x.get("what", {}).get("reference", "").startswith(f"DocumentReference/{note_id}/")
            for x in e.get("entity", [])
        )
    ]
    assert len(created) == 1, created
    [event] = created
    assert event["outcome"] == "0" and event["action"] == "C"
    [person] = [a for a in event["agent"] if a.get("requestor")]
    assert (person["altId"], person["who"]) == (username, {"reference": f"Practitioner/{ward.doctor}"})
    assert any(x.get("what", {}).get("reference") == f"Patient/{ward.mine}" for x in event["entity"])


def test_markup_in_a_note_is_shown_as_text(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    text = '<script>alert(1)</script>\n<img src=x onerror="alert(2)">'
    assert post_note(web, ward.mine, csrf, text).status_code == 303
    odd = ("99999-1", "<b>x</b>", "<i>Type</i>")  # a kind the form does not offer: named by the record's words
    by = ref("Practitioner/none", "<script>alert(3)</script>")
    put(service, document(f"x-{ward.tag}", ward.mine, odd, "2026-01-01T10:00:00+01:00", "ok", by))
    page = web.get(f"/patients/{ward.mine}/notes").text
    assert "<script>alert(" not in page and "<img src=x" not in page and "<i>Type" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\n&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in page and "&lt;i&gt;Type&lt;/i&gt;" in page


def test_notes_in_danish(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward, "da")
    shown = notes_json(web, ward.mine)
    assert shown["notes"][0]["when"]["text"] == "20.11.2026 07:30"
    page = web.get(f"/patients/{ward.mine}/notes").text
    for said in ("Skriv et notat", "Gem notatet", "Alle afdelinger", "Indlæggelsesnotat"):
        assert said in page, said
    refused = post_note(web, ward.mine, csrf, "x" * (note_form.MOST_CHARACTERS + 1))
    assert "100.000" in refused.text and "100.001" in refused.text


def test_unreadable_attachments_say_so(service: FhirService, ward: Ward) -> None:
    role = ref(f"PractitionerRole/role-{ward.tag}")
    pdf = document(f"pdf-{ward.tag}", ward.mine, DISCHARGE, "2026-11-21T10:00:00+01:00", "", role)
    pdf["content"] = [{"attachment": {"contentType": "application/pdf", "url": "https://elsewhere.example/x.pdf"}}]
    latin = document(f"latin-{ward.tag}", ward.mine, DISCHARGE, "2026-11-21T11:00:00+01:00", "", role)
    latin["content"] = [
        {
            "attachment": {
                "contentType": "text/plain; charset=iso-8859-1",
                "data": base64.b64encode("Blå".encode("latin-1")).decode(),
            }
        }
    ]
    put(service, pdf)
    put(service, latin)
    web, _, _ = doctor(service, ward)
    shown = {n["id"]: n for n in notes_json(web, ward.mine)["notes"]}
    assert shown[f"latin-{ward.tag}"]["text"] == "Blå"
    assert shown[f"pdf-{ward.tag}"]["text"] is None and shown[f"pdf-{ward.tag}"]["elsewhere"] is True
    assert "The text is kept in another system (application/pdf)" in web.get(f"/patients/{ward.mine}/notes").text
