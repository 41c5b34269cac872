"""A patient's changes to their own appointments on `/portal/appointments` (issue 25), through the
pages' JSON on both backends: cancel with a reason, move to a free time alike, answer a new time
offered after a downtime; each form sent twice acts once, every bad input is a message beside its
field with nothing written, and anyone else's appointment is a 404."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.fhir.interactions.scheduling import SELF_SERVICE
from lifeline.fhir.service import FhirService
from tests.fhir.interactions.test_scheduling_patients import Clinic, messages, put, read
from tests.fhir.interactions.test_scheduling_patients import clinic as clinic  # noqa: F401 - a fixture
from tests.web.pages.test_portal import json_of, patient_browser

DOWNTIME = {"coding": [{"system": "https://lifeline.example/fhir/CodeSystem/cancellation-reason",
                        "code": "reduced-to-acute", "display": "Reduced to acute care"}],
            "text": "Hospitalet modtager kun akutte patienter"}  # fmt: skip


def offered(service: FhirService, c: Clinic, slot: str = "s2", start: str = "2026-12-03T10:00:00+01:00") -> None:
    """An appointment cancelled in a reduction to acute care, and its new time (`slot` at `start`)
    booked by a secretary from the rebooking list (logistics/rebook.py), waiting for the patient's answer."""
    gone = read(service, f"Appointment/a-{c.tag}")
    put(service, {**gone, "id": f"gone-{c.tag}", "status": "cancelled", "cancelationReason": DOWNTIME,
                  "slot": [{"reference": f"Slot/s3-{c.tag}"}], "start": "2026-12-03T11:00:00+01:00",
                  "end": "2026-12-03T11:30:00+01:00"})  # fmt: skip
    put(service, {**read(service, f"Slot/{slot}-{c.tag}"), "status": "busy"})
    new = {**gone, "id": f"new-{c.tag}", "start": start, "end": start.replace(":00:00", ":30:00"),
           "slot": [{"reference": f"Slot/{slot}-{c.tag}"}],
           "supportingInformation": [{"reference": f"Appointment/gone-{c.tag}"}]}  # fmt: skip
    new["participant"] = [{**p, "status": "needs-action"} if p["actor"]["reference"].startswith("Patient/") else p
                          for p in new["participant"]]  # fmt: skip
    put(service, new)


def post(web: TestClient, csrf: str, path: str, **fields: str) -> Any:
    return web.post(path, data={"csrf": csrf, **fields}, params={"_format": "json"}, follow_redirects=False)


def version(service: FhirService, key: str) -> str:
    return str(read(service, key)["meta"]["versionId"])


def test_the_list_offers_changes_and_the_page_the_free_times_alike(service: FhirService, clinic: Clinic) -> None:
    web, _ = patient_browser(service, clinic.mine)
    listed = {a["id"]: a for a in json_of(web, "/portal/appointments")["upcoming"]}
    assert listed[f"a-{clinic.tag}"]["changeable"] and not listed[f"prop-{clinic.tag}"]["changeable"]
    shown = json_of(web, f"/portal/appointments/a-{clinic.tag}")
    assert shown["changeable"] and [t["slot"] for t in shown["free"]] == [f"s2-{clinic.tag}"]
    soon = json_of(web, f"/portal/appointments/soon-{clinic.tag}")
    assert not soon["changeable"] and soon["free"] == []  # within 24 hours: the department's phone


def test_cancel_with_a_reason_once_even_if_sent_twice(service: FhirService, clinic: Clinic) -> None:
    web, csrf = patient_browser(service, clinic.mine)
    path, seen = f"/portal/appointments/a-{clinic.tag}/cancel", version(service, f"Appointment/a-{clinic.tag}")
    for _ in range(2):
        answer = post(web, csrf, path, version=seen, reason="ill", text="  Influenza  ")
        assert answer.status_code == 303 and answer.headers["location"].endswith("?done=cancelled")
    cancelled = read(service, f"Appointment/a-{clinic.tag}")
    assert cancelled["status"] == "cancelled" and cancelled["cancelationReason"]["text"] == "Influenza"
    assert read(service, f"Slot/s1-{clinic.tag}")["status"] == "free"
    assert messages(service, clinic.mine) == ["cancelled"]
    threads = json_of(web, "/portal/messages")
    assert "aflyst" in str(threads)  # the patient's messages show it


@pytest.mark.parametrize(("fields", "field"), [({"reason": ""}, "reason"), ({"reason": "x"}, "reason"),
                                                ({"reason": "ill", "text": "x" * 301}, "text")])  # fmt: skip
def test_a_cancellation_without_a_reason_or_too_long_is_refused_beside_its_field(
    service: FhirService, clinic: Clinic, fields: dict[str, str], field: str
) -> None:
    web, csrf = patient_browser(service, clinic.mine)
    seen = version(service, f"Appointment/a-{clinic.tag}")
    answer = post(web, csrf, f"/portal/appointments/a-{clinic.tag}/cancel", version=seen, **fields)
    assert answer.status_code == 400 and field in answer.json()["errors"]
    assert version(service, f"Appointment/a-{clinic.tag}") == seen and messages(service, clinic.mine) == []
    html = web.post(f"/portal/appointments/a-{clinic.tag}/cancel", data={"csrf": csrf, "version": seen, **fields})
    assert html.status_code == 400 and f'id="{field}-error"' in html.text


def test_move_to_a_free_time_once_even_if_sent_twice(service: FhirService, clinic: Clinic) -> None:
    web, csrf = patient_browser(service, clinic.mine)
    path, seen = f"/portal/appointments/a-{clinic.tag}/move", version(service, f"Appointment/a-{clinic.tag}")
    for _ in range(2):
        answer = post(web, csrf, path, version=seen, slot=f"s2-{clinic.tag}")
        assert answer.status_code == 303 and answer.headers["location"].endswith("?done=moved")
    assert read(service, f"Appointment/a-{clinic.tag}")["start"].startswith("2026-12-03T10:00")
    assert [read(service, f"Slot/s{n}-{clinic.tag}")["status"] for n in (1, 2)] == ["free", "busy"]
    assert messages(service, clinic.mine) == ["moved"]


@pytest.mark.parametrize("slot", ["s4", "s3", "s5", "nothing", "../Slot/s2"])
def test_a_busy_or_other_slot_is_refused_and_nothing_written(service: FhirService, clinic: Clinic, slot: str) -> None:
    web, csrf = patient_browser(service, clinic.mine)
    seen = version(service, f"Appointment/a-{clinic.tag}")
    answer = post(web, csrf, f"/portal/appointments/a-{clinic.tag}/move", version=seen, slot=f"{slot}-{clinic.tag}")
    assert answer.status_code == 400 and answer.json()["errors"] == {"slot": "slot-gone"}
    assert version(service, f"Appointment/a-{clinic.tag}") == seen and messages(service, clinic.mine) == []
    assert read(service, f"Slot/s4-{clinic.tag}")["status"] == "busy"


def test_anyone_elses_appointment_is_a_404_and_nothing_written(service: FhirService, clinic: Clinic) -> None:
    web, csrf = patient_browser(service, clinic.mine)
    theirs = f"b-{clinic.tag}"
    seen = version(service, f"Appointment/{theirs}")
    assert web.get(f"/portal/appointments/{theirs}").status_code == 404
    for action, fields in (("cancel", {"reason": "ill"}), ("move", {"slot": f"s2-{clinic.tag}"}),
                           ("answer", {"answer": "accept"})):  # fmt: skip
        answer = post(web, csrf, f"/portal/appointments/{theirs}/{action}", version=seen, **fields)
        assert answer.status_code == 404
    assert version(service, f"Appointment/{theirs}") == seen and messages(service, clinic.other) == []


def test_too_late_or_changed_meanwhile_says_so(service: FhirService, clinic: Clinic) -> None:
    web, csrf = patient_browser(service, clinic.mine)
    soon = version(service, f"Appointment/soon-{clinic.tag}")
    answer = post(web, csrf, f"/portal/appointments/soon-{clinic.tag}/cancel", version=soon, reason="ill")
    assert answer.status_code == 400 and answer.json()["errors"] == {"form": "too-late"}
    answer = post(web, csrf, f"/portal/appointments/a-{clinic.tag}/cancel", version="999", reason="ill")
    assert answer.status_code == 400 and answer.json()["errors"] == {"form": "changed"}
    assert messages(service, clinic.mine) == []


def test_a_downtime_cancellation_shows_the_new_time_which_is_accepted(service: FhirService, clinic: Clinic) -> None:
    offered(service, clinic)
    web, csrf = patient_browser(service, clinic.mine)
    shown = json_of(web, "/portal/appointments")
    gone = next(a for a in shown["past"] + shown["upcoming"] if a["id"] == f"gone-{clinic.tag}")
    assert gone["downtime"] and gone["reason"] == DOWNTIME["text"] and gone["rebooked"]["id"] == f"new-{clinic.tag}"
    assert next(a for a in shown["upcoming"] if a["id"] == f"new-{clinic.tag}")["offer"]
    seen = version(service, f"Appointment/new-{clinic.tag}")
    for _ in range(2):
        answer = post(web, csrf, f"/portal/appointments/new-{clinic.tag}/answer", version=seen, answer="accept")
        assert answer.status_code == 303 and answer.headers["location"].endswith("?done=accepted")
    accepted = read(service, f"Appointment/new-{clinic.tag}")
    assert accepted["status"] == "booked" and {p["status"] for p in accepted["participant"]} == {"accepted"}
    assert messages(service, clinic.mine) == ["booked"]
    assert not json_of(web, f"/portal/appointments/new-{clinic.tag}")["offer"]


def test_a_declined_offer_goes_back_on_the_rebooking_list(service: FhirService, clinic: Clinic) -> None:
    offered(service, clinic)
    web, csrf = patient_browser(service, clinic.mine)
    seen = version(service, f"Appointment/new-{clinic.tag}")
    answer = post(web, csrf, f"/portal/appointments/new-{clinic.tag}/answer", version=seen, answer="decline")
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=declined")
    waiting = read(service, f"Appointment/new-{clinic.tag}")
    assert waiting["status"] == "waitlist" and "slot" not in waiting and "start" not in waiting
    assert read(service, f"Slot/s2-{clinic.tag}")["status"] == "free"
    assert messages(service, clinic.mine) == ["cancelled"]
    shown = json_of(web, "/portal/appointments")
    gone = next(a for a in shown["past"] + shown["upcoming"] if a["id"] == f"gone-{clinic.tag}")
    assert gone["rebooked"]["status"] == "waitlist" and gone["rebooked"]["when"] is None


def test_a_clinic_that_keeps_moves_to_itself_offers_no_free_times(service: FhirService, clinic: Clinic) -> None:
    place = read(service, f"Location/{clinic.tag}")
    put(service, {**place, "extension": [{"url": SELF_SERVICE, "valueBoolean": False}]})
    web, _ = patient_browser(service, clinic.mine)
    shown = json_of(web, f"/portal/appointments/a-{clinic.tag}")
    assert shown["changeable"] and not shown["movable"] and shown["free"] == []
    assert 'id="not-movable"' in web.get(f"/portal/appointments/a-{clinic.tag}").text
