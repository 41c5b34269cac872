"""Down to emergencies only, and back (logistics/reduce.py, rebook.py, cases.py) on both backends:
the whole downtime cycle through the core acting as the lead. The proposal lists the week's cases
acute first; the lead keeps one, keeps another, undoes that; nothing is cancelled or told before
confirming; confirming cancels each case not kept with the reason, frees its slot, writes one
message to its patient (still to send) and puts it on the rebooking list in order of priority and
waiting time; confirming again changes nothing; afterwards the rebooking proposal fills the freed
capacity in that order and booking tells each patient."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from lifeline.errors import BadRequest, Conflict
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.logistics import cases, rebook, reduce
from tests.logistics.hospital import LEAD, WEEK, Hospital, build


@pytest.fixture
def hospital(service: FhirService) -> Hospital:
    return build(service)


def lead(service: FhirService) -> Acting:
    return service.as_user(LEAD, "127.0.0.1", "HOPERAT")


def read(core: Acting, ref: str) -> dict[str, Any]:
    res_type, res_id = ref.split("/")
    answer = core.handle(FhirRequest("read", res_type, res_id))
    return orjson.loads(answer.raw) if answer.raw else dict(answer.resource or {})  # type: ignore[no-any-return]


def messages(core: Acting, appointment: str) -> list[dict[str, Any]]:
    """The messages about `appointment` (Communication has no search parameter for `about`)."""
    patient = next(p["actor"]["reference"] for p in read(core, appointment)["participant"]
                   if p["actor"]["reference"].startswith("Patient/"))  # fmt: skip
    found = searched(core, "Communication", [("recipient", patient)]).matches
    return [m for m in found if {"reference": appointment} in m.get("about", [])]


def names(hospital: Hospital, refs: list[str]) -> list[str]:
    back = {ref: name for name, ref in hospital.cases.items()}
    return [back[r] for r in refs]


def test_the_proposal_lists_the_period_acute_first_and_proposes_the_rest(
    service: FhirService, hospital: Hospital
) -> None:
    core = lead(service)
    now = service.clock()
    task_id = reduce.propose(core, hospital.hospital, *WEEK, "Practitioner/x", now)
    proposal = reduce.read(core, task_id)
    listed = names(hospital, [c.appointment for c in proposal.cases])
    assert listed == ["acute-op", "urgent-op", "urgent-clinic", "elective-old", "elective-op", "elective-new"]
    assert [c.level for c in proposal.cases] == ["acute", "urgent", "urgent", "elective", "elective", "elective"]
    assert proposal.decisions[hospital.cases["acute-op"]] == "acute"
    assert {names(hospital, [c.appointment])[0] for c in proposal.to_cancel()} == set(listed[1:])
    assert proposal.status == "draft" and proposal.step == 0
    # The department alone: its clinic, and its surgeon's operations in the anaesthetists' theatre.
    department = reduce.read(core, reduce.propose(core, hospital.department, *WEEK, None, now))
    assert len(department.cases) == 6
    waits = {names(hospital, [c.appointment])[0]: c.waiting_days(WEEK[0]) for c in department.cases}
    assert waits["elective-old"] == 200 and waits["acute-op"] == 0


def test_the_whole_downtime_cycle(service: FhirService, hospital: Hospital) -> None:
    core = lead(service)
    now = service.clock()
    task_id = reduce.propose(core, hospital.hospital, *WEEK, "Practitioner/x", now)
    proposal = reduce.read(core, task_id)
    keep_new = {hospital.cases["elective-new"]}
    reduce.decide(core, task_id, proposal.version, keep_new, "", now)
    proposal = reduce.read(core, task_id)
    both = keep_new | {hospital.cases["elective-op"]}
    reduce.decide(core, task_id, proposal.version, both, "  Nedbrud i   journalsystemet ", now)
    proposal = reduce.read(core, task_id)
    assert proposal.step == 2 and proposal.decisions[hospital.cases["elective-op"]] == "keep"
    assert proposal.reason == "Nedbrud i journalsystemet"
    # An edit on an old version is refused: someone else changed it meanwhile.
    with pytest.raises(Conflict):
        reduce.decide(core, task_id, "1", set(), "", now)
    assert reduce.undo(core, task_id, proposal.version, now)
    proposal = reduce.read(core, task_id)
    assert proposal.step == 1 and proposal.decisions[hospital.cases["elective-op"]] == "cancel"
    assert proposal.decisions[hospital.cases["elective-new"]] == "keep"
    assert proposal.reason == reduce.DOWNTIME_REASON
    # Nothing cancelled, nothing told before the lead confirms.
    for name, ref in hospital.cases.items():
        assert read(core, ref)["status"] == "booked", name
        assert messages(core, ref) == []
    reduce.decide(core, task_id, proposal.version, keep_new, "Nedbrud i journalsystemet", now)
    proposal = reduce.read(core, task_id)

    done = reduce.confirm(core, task_id, proposal.version, now, batch=3)  # two transactions
    assert (done.operations, done.appointments, done.already) == (2, 2, False)
    cancelled = ["urgent-op", "urgent-clinic", "elective-old", "elective-op"]
    for name in cancelled:
        appointment = read(core, hospital.cases[name])
        assert appointment["status"] == "cancelled", name
        assert appointment["cancelationReason"]["text"] == "Nedbrud i journalsystemet"
        assert read(core, hospital.slots[name])["status"] == "free"
        told = messages(core, hospital.cases[name])
        assert len(told) == 1 and told[0]["status"] == "preparation"
        assert told[0]["recipient"] == [{"reference": hospital.patients[name]}]
        assert "Nedbrud i journalsystemet" in told[0]["payload"][0]["contentString"]
    for name in ("acute-op", "elective-new", "next-week"):
        assert read(core, hospital.cases[name])["status"] == "booked", name
        assert read(core, hospital.slots[name])["status"] == "busy"
        assert messages(core, hospital.cases[name]) == []
    assert reduce.read(core, task_id).status == "completed"

    waiting = cases.waiting(core, hospital.hospital)
    assert [c.patient for c in waiting] == [hospital.patients[n] for n in
                                            ["urgent-op", "urgent-clinic", "elective-old", "elective-op"]]  # fmt: skip
    first = read(core, waiting[0].appointment)
    original = read(core, hospital.cases["urgent-op"])
    assert first["created"] == original["created"] and first["priority"] == 3
    assert first["supportingInformation"] == [{"reference": hospital.cases["urgent-op"]}]
    assert first["basedOn"] == original["basedOn"]

    # Confirming again (or an old form sent again) changes nothing.
    again = reduce.confirm(core, task_id, proposal.version, now)
    assert again.already and len(cases.waiting(core, hospital.hospital)) == 4
    assert all(len(messages(core, hospital.cases[n])) == 1 for n in cancelled)
    with pytest.raises(Conflict):
        reduce.undo(core, task_id, reduce.read(core, task_id).version, now)

    # Back up: the freed capacity after the week, in priority order, then waiting time.
    offered = rebook.proposal(core, hospital.hospital, now)
    assert [o.case.patient for o in offered.offers] == [c.patient for c in waiting]
    assert [o.slot for o in offered.offers] == [hospital.free[0], hospital.free[2], hospital.free[3], hospital.free[1]]
    assert all(read(core, o.slot)["status"] == "free" for o in offered.offers)  # nothing booked yet
    for offer in offered.offers:
        assert rebook.book(core, offer.case.appointment, offer.slot, hospital.department)
    assert not rebook.book(core, offered.offers[0].case.appointment, offered.offers[0].slot, None)  # once
    for offer in offered.offers:
        booked = read(core, offer.case.appointment)
        assert booked["status"] == "booked" and booked["slot"] == [{"reference": offer.slot}]
        assert booked["start"] == offer.start
        assert read(core, offer.slot)["status"] == "busy"
        told = messages(core, offer.case.appointment)
        assert [t["category"][0]["coding"][0]["code"] for t in told] == ["rebooking-offered"]
    assert cases.waiting(core, hospital.hospital) == []


def test_a_taken_slot_is_refused_and_nothing_is_booked(service: FhirService, hospital: Hospital) -> None:
    core = lead(service)
    now = service.clock()
    task_id = reduce.propose(core, hospital.department, *WEEK, None, now)
    reduce.confirm(core, task_id, reduce.read(core, task_id).version, now)
    offer = rebook.proposal(core, hospital.department, now).offers[0]
    slot = read(core, offer.slot)
    core.handle(FhirRequest("update", "Slot", slot["id"], body={**slot, "status": "busy"}))
    with pytest.raises(Conflict):
        rebook.book(core, offer.case.appointment, offer.slot, None)
    assert read(core, offer.case.appointment)["status"] == "waitlist"
    assert messages(core, offer.case.appointment) == []


def test_bad_proposals_are_refused(service: FhirService, hospital: Hospital) -> None:
    core = lead(service)
    now = service.clock()
    with pytest.raises(BadRequest):
        reduce.propose(core, hospital.hospital, WEEK[1], WEEK[0], None, now)
    with pytest.raises(BadRequest):
        reduce.propose(core, "Organization/none-such", *WEEK, None, now)
    task_id = reduce.propose(core, hospital.hospital, *WEEK, None, now)
    version = reduce.read(core, task_id).version
    with pytest.raises(BadRequest):
        reduce.decide(core, task_id, version, set(), "x" * 501, now)
    assert not reduce.undo(core, task_id, version, now)  # nothing to undo yet
    reduce.discard(core, task_id, version, now)
    with pytest.raises(Conflict):
        reduce.confirm(core, task_id, version, now)
    assert all(read(core, ref)["status"] == "booked" for ref in hospital.cases.values())
