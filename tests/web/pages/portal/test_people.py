"""A parent acting for a child in the portal (web/pages/portal/people.py, switch.py; issue 25), on both
backends: the switch lists only this parent's children under 15; every portal page then shows the
chosen child's record and name; a forged choice (in the form or in the session) shows nobody else;
and on the child's 15th birthday (a fixed clock moved past it) the access ends with a plain message."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline import jsontext
from lifeline.bulk.importer import import_items
from lifeline.bulk.sources import Source
from lifeline.cli.demo import demo_citizens
from lifeline.clock import today
from lifeline.config import Settings
from lifeline.cpr import CPR_SYSTEM
from lifeline.fhir import message_threads as threads
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.generate import Options, generate
from lifeline.generate.ids import keyed_id
from lifeline.identity.principal import OPERATOR
from lifeline.identity.sessions import PATIENT, Sessions
from lifeline.web import i18n
from lifeline.web.login import COOKIE
from lifeline.web.pages.portal import people
from tests.conftest import TickingClock, dispose, fresh_repository
from tests.web.pages.test_chart import observation, put, ref
from tests.web.pages.test_portal import stored_patient
from tests.web.test_login_pages import browser
from tests.web.test_middleware import logged_in_as

ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


@dataclass(frozen=True)
class Family:
    tag: str
    parent: str
    young: str  # 7, a parent by CPR number
    baby: str  # 3 months, a parent by the parent's Patient.link
    adult: str  # 20, a parent by CPR number: past 15
    others: str  # 5, another parent's child
    nephew: str  # 6, the parent's CPR number but no parent's role
    stranger: str  # an adult with no tie at all
    cpr: str  # the parent's CPR number, which the citizen login gives


def years_ago(on: date, years: int, days: int = 0) -> str:
    return (on.replace(year=on.year - years) - timedelta(days=days)).isoformat()


def patient(id_: str, given: str, family: str, born: str, **extra: Any) -> dict[str, Any]:
    name = [{"use": "official", "given": [given], "family": family}]
    return {"resourceType": "Patient", "id": id_, "name": name, "birthDate": born, **extra}


def related(id_: str, child: str, code: str, cpr: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "RelatedPerson", "id": id_, "active": True, "patient": ref(f"Patient/{child}"),
        "relationship": [{"coding": [{"system": ROLE, "code": code}]}],
    }  # fmt: skip
    if cpr is not None:
        resource["identifier"] = [{"system": CPR_SYSTEM, "value": cpr}]
    return resource


def cpr_number() -> str:
    """A valid, unused CPR number: a real date (2 April 1988), then four random digits."""
    return "020488" + str(uuid.uuid4().int)[:4]


def add_family(service: FhirService, young_born: str | None = None) -> Family:
    on = today(service.clock)
    tag = uuid.uuid4().hex[:8]
    own, other = cpr_number(), cpr_number()
    named = {who: f"{who}-{tag}" for who in ("parent", "young", "baby", "adult", "others", "nephew", "stranger")}
    ids = Family(tag=tag, cpr=own, **named)
    link = [{"other": ref(f"RelatedPerson/rp-baby-{tag}"), "type": "seealso"}]
    cpr = [{"system": CPR_SYSTEM, "value": own}]
    put(service, patient(ids.parent, "Mette", f"Parent{tag}", "1988-04-02", identifier=cpr, link=link))
    put(service, patient(ids.young, "Emma", f"Child{tag}", young_born or years_ago(on, 7, 30)))
    put(service, patient(ids.baby, "Oscar", f"Baby{tag}", (on - timedelta(days=95)).isoformat()))
    put(service, patient(ids.adult, "Anders", f"Adult{tag}", years_ago(on, 20)))
    put(service, patient(ids.others, "Sofie", f"Others{tag}", years_ago(on, 5)))
    put(service, patient(ids.nephew, "Lukas", f"Nephew{tag}", years_ago(on, 6)))
    put(service, patient(ids.stranger, "Bent", f"Stranger{tag}", "1960-01-01"))
    put(service, related(f"rp-young-{tag}", ids.young, "MTH", own))
    put(service, related(f"rp-baby-{tag}", ids.baby, "MTH", None))
    put(service, related(f"rp-adult-{tag}", ids.adult, "MTH", own))
    put(service, related(f"rp-others-{tag}", ids.others, "FTH", other))
    put(service, related(f"rp-nephew-{tag}", ids.nephew, "AUNT", own))
    for who in (ids.parent, ids.young, ids.adult, ids.others, ids.stranger):
        value = {"effectiveDateTime": "2026-09-01T08:00:00+02:00", "valueQuantity": {"value": 8.1}}
        put(
            service,
            observation(f"hb-{who}", ref(f"Patient/{who}"), "laboratory", "59260-0", f"Hæmoglobin {who}", **value),
        )
        put(service, {"resourceType": "Immunization", "id": f"imm-{who}", "status": "completed",
                      "patient": ref(f"Patient/{who}"), "vaccineCode": {"text": f"Vaccine {who}"},
                      "occurrenceDateTime": "2025-10-15"})  # fmt: skip
    department = f"dep-{tag}"
    put(service, {"resourceType": "Organization", "id": department, "name": f"Børneafdelingen {tag}"})
    head = threads.header(f"Patient/{ids.young}", f"Organization/{department}", f"Topic {tag}", service.clock())
    put(service, {**head, "id": f"thread-{tag}"})
    return ids


@pytest.fixture
def family(service: FhirService) -> Family:
    return add_family(service)


def parent_web(service: FhirService, family: Family) -> tuple[TestClient, str]:
    web = browser(service)
    return web, logged_in_as(service, web, PATIENT, fhir_user=f"Patient/{family.parent}", patient=family.parent)


def switch(web: TestClient, csrf: str, person: str, back: str = "/portal") -> Any:
    return web.post("/portal/switch", data={"csrf": csrf, "person": person, "back": back})


def choices(page: str) -> list[str]:
    """The people the switch on the page offers, by the value its buttons send."""
    form = page.split('id="portal-switch"', 1)[1].split("</form>", 1)[0] if 'id="portal-switch"' in page else ""
    return re.findall(r'name="person" value="([^"]+)"', form)


def json_of(web: TestClient, path: str, status: int = 200) -> dict[str, Any]:
    answer = web.get(path, params={"_format": "json"})
    assert answer.status_code == status, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_the_switch_lists_only_this_parents_children_under_15(service: FhirService, family: Family) -> None:
    web, _ = parent_web(service, family)
    page = web.get("/portal").text
    assert choices(page) == ["self", family.baby, family.young]  # youngest first
    assert f"Oscar Baby{family.tag} (3 months old)" in page and f"Emma Child{family.tag} (age 7)" in page
    for name in ("Anders", "Sofie", "Lukas", "Bent"):
        assert name not in page
    assert 'id="portal-child"' not in page  # their own record until they choose


def test_a_patient_with_no_children_sees_no_switch(service: FhirService, family: Family) -> None:
    web = browser(service)
    logged_in_as(service, web, PATIENT, fhir_user=f"Patient/{family.stranger}", patient=family.stranger)
    assert choices(web.get("/portal").text) == []


def test_every_portal_page_shows_the_chosen_child(service: FhirService, family: Family) -> None:
    web, csrf = parent_web(service, family)
    chosen = switch(web, csrf, family.young, back="/portal/results")
    assert (chosen.status_code, chosen.headers["location"]) == (303, "/portal/results")
    banner = "You are looking at Emma's record (age 7)."
    for path in ("/portal", "/portal/results", "/portal/appointments", "/portal/messages", "/portal/contact",
                 "/portal/download"):  # fmt: skip
        page = web.get(path)
        assert page.status_code == 200, (path, page.text)
        assert banner in page.text and 'id="back-to-own"' in page.text, path
        assert f"Parent{family.tag}" not in page.text.split("<main", 1)[1], path  # the top bar: who logged in
    record = json_of(web, "/portal")
    assert record["patient"]["name"] == f"Emma Child{family.tag}"
    page = web.get("/portal").text  # said of the child, and no form to change the child's contacts
    assert "recorded about Emma." in page and "recorded about you" not in page and 'id="change-contact"' not in page
    assert [v["vaccine"] for v in record["vaccinations"]] == [f"Vaccine {family.young}"]
    assert [t["name"] for t in json_of(web, "/portal/results")["tests"]] == [f"Hæmoglobin {family.young}"]
    assert [t["topic"] for t in json_of(web, "/portal/messages")["threads"]] == [f"Topic {family.tag}"]
    assert "not reply for Emma" in web.get("/portal/messages").text
    assert json_of(web, "/portal/contact")["contact"]["phones"] == []
    bundle = web.get("/portal/download/record.json").json()
    patients = {e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"}
    assert patients == {family.young}
    log = web.get("/portal/access-log")  # the trail shows each person their own record's accesses
    assert log.status_code == 403 and "not shown to parents" in log.text
    back = switch(web, csrf, "self")
    assert back.status_code == 303
    own = web.get("/portal")
    assert json_of(web, "/portal")["patient"]["name"] == f"Mette Parent{family.tag}" and "portal-child" not in own.text


def test_a_parent_reads_but_does_not_write_for_a_child(service: FhirService, family: Family) -> None:
    """The core lets a patient write only in their own compartment: the page says so first, and a
    form sent anyway is refused plainly, with nothing written."""
    web, csrf = parent_web(service, family)
    switch(web, csrf, family.young)
    assert "not change them: tell the department" in web.get("/portal/contact").text
    before = stored_patient(service, family.young)
    changed = web.post("/portal/contact", data={"csrf": csrf, "phone": "+45 20 30 40 50", "email": ""})
    assert changed.status_code == 403 and "not change them" in changed.text
    assert stored_patient(service, family.young) == before and "telecom" not in stored_patient(service, family.parent)
    reply = web.post(f"/portal/messages/thread-{family.tag}", data={"csrf": csrf, "text": "Hej", "key": "k1"})
    assert reply.status_code == 403 and "not reply for Emma" in reply.text
    assert json_of(web, f"/portal/messages/thread-{family.tag}")["messages"] == []
    assert json_of(web, "/portal/messages")["threads"][0]["last"] == ""  # nothing was written


@pytest.mark.parametrize("who", ["stranger", "adult", "others", "nephew"])
def test_a_forged_choice_in_the_form_shows_nobody_else(service: FhirService, family: Family, who: str) -> None:
    web, csrf = parent_web(service, family)
    forged = switch(web, csrf, getattr(family, who))
    assert forged.status_code == 403 and "not registered as the parent" in forged.text
    shown = json_of(web, "/portal")
    assert shown["patient"]["name"] == f"Mette Parent{family.tag}"  # their own record, nothing else
    assert "portal-child" not in web.get("/portal").text


def session_data(service: FhirService, web: TestClient) -> tuple[Sessions, Any]:
    sessions = Sessions(service.repo, service.identity.state, service.settings.threat_level)
    session = sessions.get(web.cookies.get(COOKIE))
    assert session is not None
    return sessions, session


@pytest.mark.parametrize("who", ["stranger", "adult", "others", "nephew"])
def test_a_forged_choice_in_the_session_shows_nobody_else(service: FhirService, family: Family, who: str) -> None:
    web, _ = parent_web(service, family)
    sessions, session = session_data(service, web)
    session.data[people.CHOSEN] = {"id": getattr(family, who), "birthDate": "2020-01-01"}
    sessions.save(session)
    for path in ("/portal", "/portal/results", "/portal/download/record.json", "/portal/messages"):
        session.data[people.CHOSEN] = {"id": getattr(family, who), "birthDate": "2020-01-01"}
        sessions.save(session)
        refused = web.get(path)
        assert refused.status_code == 403 and "not registered as the parent" in refused.text, path
        for name in ("Anders", "Sofie", "Lukas", "Bent", f"Vaccine {getattr(family, who)}"):
            assert name not in refused.text
    assert json_of(web, "/portal")["patient"]["name"] == f"Mette Parent{family.tag}"  # the choice forgotten


def test_the_15th_birthday_ends_the_access_with_a_message(
    service: FhirService, monkeypatch: pytest.MonkeyPatch
) -> None:
    on = today(service.clock)
    family = add_family(service, young_born=years_ago(on, 15, -2))  # 15 in two days
    web, csrf = parent_web(service, family)
    assert switch(web, csrf, family.young).status_code == 303
    assert "You are looking at Emma's record (age 14)." in web.get("/portal").text
    later = datetime.combine(on + timedelta(days=3), time(9), UTC)
    monkeypatch.setattr(service, "clock", TickingClock(later))
    ended = web.get("/portal/results")  # an old choice, or an old link
    turned = on + timedelta(days=2)
    assert ended.status_code == 403
    assert "turned 15 on" in ended.text and "now owns their record" in ended.text
    assert f"turned 15 on {turned.day} {turned.strftime('%b')} {turned.year}" in ended.text
    assert "Emma" not in ended.text and f"Hæmoglobin {family.young}" not in ended.text
    page = web.get("/portal").text  # the choice is gone: their own record, and no Emma to choose
    assert choices(page) == ["self", family.baby], choices(page)
    assert "Emma" not in page, page[page.index("Emma") - 300 : page.index("Emma") + 100]
    again = switch(web, csrf, family.young)
    assert again.status_code == 403 and "Emma" not in again.text


def test_turned_15_in_the_danish_portal(service: FhirService, monkeypatch: pytest.MonkeyPatch) -> None:
    on = today(service.clock)
    family = add_family(service, young_born=years_ago(on, 15, -1))
    web, csrf = parent_web(service, family)
    web.cookies.set(i18n.COOKIE, "da")
    switch(web, csrf, family.young)
    assert "Du ser journalen for Emma (14 år)." in web.get("/portal").text
    monkeypatch.setattr(service, "clock", TickingClock(datetime.combine(on + timedelta(days=2), time(9), UTC)))
    assert "fyldte 15 år den" in web.get("/portal").text


DEMO_DAY = date(2026, 11, 23)  # the generator's tests' day (tests/generate/conftest.py)


@pytest.fixture(scope="module")
def demo_region(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirService]:
    """A small generated region (patient 7 a newborn, 8 her mother) imported into a fresh record."""
    folder = tmp_path_factory.mktemp(f"demo-family-{backend}")
    generate(Options(10, 1, folder / "region", DEMO_DAY))
    repo = fresh_repository(backend, folder)
    try:
        service = FhirService(repo, Settings(), clock=TickingClock(datetime.combine(DEMO_DAY, time(9), UTC)))
        sources = [Source(p) for p in sorted((folder / "region").glob("*.ndjson"))]
        import_items(service, itertools.chain.from_iterable(s.items() for s in sources), batch_size=1000)
        for source in sources:
            source.close()
        yield service
    finally:
        dispose(repo)


def test_the_demo_mother_switches_to_her_newborn(demo_region: FhirService) -> None:
    service = demo_region
    reader = service.as_user(OPERATOR, None, "PATRQT")
    mother = demo_citizens(reader, 1, DEMO_DAY)[0]
    assert mother.about.startswith("a mother")
    mother_id, baby_id = keyed_id(1, "Patient", 8), keyed_id(1, "Patient", 7)
    web = browser(service)
    csrf = logged_in_as(service, web, PATIENT, fhir_user=f"Patient/{mother_id}", patient=mother_id)
    assert choices(web.get("/portal").text) == ["self", baby_id]
    assert switch(web, csrf, baby_id).status_code == 303
    page = web.get("/portal")
    baby = stored_patient(service, baby_id)
    given = baby["name"][0]["given"][0]
    assert f"You are looking at {given}'s record (" in page.text and "months old)" in page.text
    assert json_of(web, "/portal")["patient"]["id"] == baby_id


def test_a_parent_opens_a_childs_thread_and_leaves_it_unread(service: FhirService, family: Family) -> None:
    """The read mark is the child's: a parent opening the thread sees the department's message and
    marks nothing (the core would refuse the write)."""
    head = threads.header(f"Patient/{family.young}", f"Organization/dep-{family.tag}", "Svar", service.clock())
    head = {**head, "id": f"t2-{family.tag}"}
    put(service, head)
    key = {"system": "urn:test", "value": uuid.uuid4().hex}
    message = threads.message(head, threads.department_of(head), "Emma har det godt.", service.clock(), None, key)
    put(service, {**message, "id": f"m-{family.tag}"})
    web, csrf = parent_web(service, family)
    switch(web, csrf, family.young)
    opened = json_of(web, f"/portal/messages/t2-{family.tag}")
    assert [m["text"] for m in opened["messages"]] == ["Emma har det godt."]
    stored = service.handle(FhirRequest("read", "Communication", f"m-{family.tag}", principal=OPERATOR))
    assert threads.read_at(jsontext.loads(stored.raw or b"{}")) is None


def test_a_demo_citizen_has_a_scan_the_portal_shows(demo_region: FhirService) -> None:
    """make demo's citizens include one whose radiologist's report is past its hold, so that the
    portal's Scans and reports has something to show (its images come from the demo's PACS)."""
    service = demo_region
    citizens = demo_citizens(service.as_user(OPERATOR, None, "PATRQT"), 1, DEMO_DAY)
    scanned = [c for c in citizens if c.about.startswith("a scan")]
    assert len(scanned) == 1 and len({c.cpr for c in citizens}) == len(citizens)
    index = int(scanned[0].subject.rsplit("-", 1)[1])
    patient_id = keyed_id(1, "Patient", index)
    web = browser(service)
    logged_in_as(service, web, PATIENT, fhir_user=f"Patient/{patient_id}", patient=patient_id)
    reports = json_of(web, "/portal/imaging")["reports"]
    assert any(r["category"] == "scan" and r["scans"] for r in reports)
