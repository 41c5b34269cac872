"""Beds and patient flow (issue 24): admission, transfer and discharge, a ward's beds and its census
at any moment, through the core acting as the ward's nurse (fhir/acting.py).

A stay is an inpatient Encounter (class IMP, https://hl7.org/fhir/R4/encounter.html) whose
`location` list keeps every ward and bed with its period: a transfer completes the current entry
(status completed, the period's end) and adds the new one, so the list is the stay's history and
a ward's census at any past moment is read from it. The bed itself is a Location of physical type
`bd` whose `operationalStatus` (v2 table 0116) tells the board what the Encounters cannot: being
cleaned (housekeeping) or blocked (closed). Each change is one transaction Bundle (the Encounter
and the beds it touches, written together or not at all), guarded by the versions read (If-Match),
and meets the record's own rule (fhir/rules/beds.py): nobody into an occupied, closed or
uncleaned bed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lifeline import jsontext
from lifeline.clock import COPENHAGEN, fhir_instant
from lifeline.errors import BadRequest, Conflict, FhirError, NotFound
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.rules import refused
from lifeline.fhir.rules.beds import (
    BED,
    BED_STATUS,
    CLOSED,
    CONTAMINATED,
    HOUSEKEEPING,
    OCCUPIED,
    PHYSICAL_TYPE,
    STATUS_NAMES,
    UNOCCUPIED,
    WARD,
    bed_status,
    current_places,
    in_a_bed,
    physical_kind,
)

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
INPATIENT = {"system": ACT_CODE, "code": "IMP", "display": "inpatient encounter"}
ROOM = "ro"
MOST = 500  # beds of a ward, stays in a ward's beds: a ward has far fewer
# What the board shows of a bed, from who lies in it and its operational status.
FREE, TAKEN, CLEANING, BLOCKED = "free", "occupied", "cleaning", "blocked"
STATE_OF = {UNOCCUPIED: FREE, OCCUPIED: TAKEN, HOUSEKEEPING: CLEANING, CONTAMINATED: CLEANING, CLOSED: BLOCKED}
# The marks a nurse sets on an empty bed, and the status each writes.
MARKS = {"clean": UNOCCUPIED, "block": CLOSED, "unblock": UNOCCUPIED}
_ENTRY = re.compile(r"^Entry \d+ \([^)]*\): ")


@dataclass(frozen=True)
class Bed:
    id: str
    name: str  # its own name: "Seng 4" of "Seng 4, Kardiologisk Afdeling"
    ward: str  # the ward's Location id
    status: str | None  # the bed-status code
    version: str
    resource: dict[str, Any]

    @property
    def state(self) -> str:
        return STATE_OF.get(self.status or UNOCCUPIED, FREE)


@dataclass(frozen=True)
class Lying:
    """A patient in a bed over a period (`until` None: still there)."""

    bed: str
    encounter: dict[str, Any]
    patient: dict[str, Any] | None  # None when the asker may not see who it is
    since: str | None
    until: str | None


def ward(core: Acting, ward_id: str) -> dict[str, Any]:
    """The ward Location `ward_id`, or NotFound."""
    found = searched(core, "Location", [("_id", ward_id)]).matches
    if not found or physical_kind(found[0]) != WARD:
        raise NotFound(f"There is no ward {ward_id}")
    return found[0]


def wards_of_departments(core: Acting, departments: list[str]) -> list[dict[str, Any]]:
    """The wards the departments (Organization/id references) manage."""
    if not departments:
        return []
    found = searched(core, "Location", [("organization", ",".join(departments)), ("_count", str(MOST))])
    return [w for w in found.matches if physical_kind(w) == WARD]


def sites(core: Acting) -> list[dict[str, Any]]:
    """The hospital sites (Location of physical type `si`)."""
    found = searched(core, "Location", [("type", "HOSP"), ("_count", str(MOST))])
    return [s for s in found.matches if physical_kind(s) == "si"]


def wards_of_site(core: Acting, site_id: str) -> list[dict[str, Any]]:
    """The wards inside a site, at most three levels down (site > wing > ward)."""
    return [w for w in _inside(core, [site_id], depth=3) if physical_kind(w) == WARD]


def beds(core: Acting, ward_id: str) -> list[Bed]:
    """The ward's beds, in it or in its rooms."""
    return beds_by_ward(core, [ward_id]).get(ward_id, [])


def beds_by_ward(core: Acting, ward_ids: list[str]) -> dict[str, list[Bed]]:
    """The beds of several wards, by ward, in two searches however many wards."""
    if not ward_ids:
        return {}
    found: dict[str, list[Bed]] = {}
    ward_of = {w: w for w in ward_ids}  # a ward, or a room, by id -> its ward
    parents = list(ward_ids)
    for _ in range(2):  # ward > bed, or ward > room > bed
        level = _children(core, parents)
        parents = []
        for place in level:
            ward_id = ward_of.get(_parent(place), "")
            if physical_kind(place) == BED and ward_id:
                found.setdefault(ward_id, []).append(_bed(place, ward_id))
            elif physical_kind(place) == ROOM and ward_id:
                ward_of[str(place.get("id"))] = ward_id
                parents.append(str(place.get("id")))
        if not parents:
            break
    return found


def site_of(core: Acting, place: dict[str, Any]) -> str | None:
    """The site (Location of physical type `si`) a ward is in, at most three levels up."""
    for _ in range(3):
        parent_id = _parent(place)
        if not parent_id:
            return None
        parents = searched(core, "Location", [("_id", parent_id)]).matches
        if not parents:
            return None
        place = parents[0]
        if physical_kind(place) == "si":
            return str(place.get("id"))
    return None


def bed(core: Acting, bed_id: str) -> Bed:
    """One bed, with the version read (for If-Match), or NotFound."""
    answer = core.handle(FhirRequest("read", "Location", bed_id))
    resource = jsontext.loads(answer.raw) if answer.raw is not None else answer.resource or {}
    if physical_kind(resource) != BED:
        raise NotFound(f"There is no bed {bed_id}")
    ward_id = str((resource.get("partOf") or {}).get("reference") or "").removeprefix("Location/")
    if ward_id:
        parent = searched(core, "Location", [("_id", ward_id)]).matches
        if parent and physical_kind(parent[0]) == ROOM:  # a bed in a room: the room's ward
            ward_id = str((parent[0].get("partOf") or {}).get("reference") or "").removeprefix("Location/")
    return _bed(resource, ward_id)


def census(core: Acting, ward_beds: list[Bed], at: datetime) -> list[Lying]:
    """Who lay in which of `ward_beds` at the instant `at`, from the stays' location periods: each
    entry counts from its start (or the stay's) until its end (none: still there)."""
    if not ward_beds:
        return []
    moment = at.timestamp()
    found = searched(
        core,
        "Encounter",
        [
            ("location", ",".join(f"Location/{b.id}" for b in ward_beds)),
            ("_include", "Encounter:patient"),
            ("_sort", "-date"),
            ("_count", str(MOST)),
        ],
    )
    ids = {b.id for b in ward_beds}
    lying = []
    for encounter in found.matches:
        for place in encounter.get("location") or []:
            bed_id = str((place.get("location") or {}).get("reference") or "").removeprefix("Location/")
            if bed_id not in ids or place.get("status") in ("planned", "reserved"):
                continue
            period = place.get("period") or {}
            since = period.get("start") or (encounter.get("period") or {}).get("start")
            until = period.get("end") or (encounter.get("period") or {}).get("end")
            if until is None and place.get("status") == "completed":
                continue  # left, when unknown: not in the bed now or at a known moment
            if until is None and not in_a_bed(encounter):
                continue
            if (since and _seconds(since) > moment) or (until and _seconds(until) <= moment):
                continue
            patient = found.included.get(str((encounter.get("subject") or {}).get("reference") or ""))
            lying.append(Lying(bed_id, encounter, patient, since, until))
    return lying


def stay(core: Acting, patient_id: str) -> dict[str, Any] | None:
    """The patient's current inpatient stay, if they are admitted."""
    found = searched(
        core, "Encounter", [("patient", f"Patient/{patient_id}"), ("class", "IMP"), ("status", "in-progress,onleave")]
    )
    return found.matches[0] if found.matches else None


def admit(
    core: Acting, patient_id: str, to: Bed, at: datetime, department: str | None = None, key: str | None = None
) -> str:
    """Admit the patient to bed `to` at `at`: a new inpatient Encounter in progress at the bed and
    its ward, and the bed occupied, in one transaction; the Encounter's id. `department` is the
    responsible department (Organization/id; by default the one managing the bed); `key` a form's
    one-time key, so that the same form sent twice admits once."""
    current = stay(core, patient_id)
    if (
        current is not None
        and key
        and {"system": "urn:lifeline:form-key", "value": key} in current.get("identifier", [])
    ):
        return str(current.get("id"))  # the same form sent again: admitted once
    if current is not None:
        raise Conflict("The patient is already admitted: transfer them to the bed instead")
    _takes_patient(to)
    when = fhir_instant(at)
    provider = department or str((to.resource.get("managingOrganization") or {}).get("reference") or "")
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": INPATIENT,
        "type": [{"text": "Indlæggelse"}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": when},
        "location": _entering(to, when),
    }
    if provider:
        encounter["serviceProvider"] = {"reference": provider}
    condition = None
    if key:
        encounter["identifier"] = [{"system": "urn:lifeline:form-key", "value": key}]
        condition = f"identifier=urn:lifeline:form-key|{key}"
    entries = [
        _entry("POST", "Encounter", encounter, if_none_exist=condition, full_url="urn:uuid:admission"),
        _bed_entry(to, OCCUPIED),
    ]
    answer = _transaction(core, entries)
    location = str(((answer.get("entry") or [{}])[0].get("response") or {}).get("location") or "")
    return location.split("/_history")[0].rpartition("/")[2]


def transfer(core: Acting, encounter_id: str, to: Bed, at: datetime) -> None:
    """Move the patient of stay `encounter_id` to bed `to` at `at`: the current bed's entry (and the
    ward's, when the ward changes) completed with the period's end, the new bed's entry added;
    the old bed to be cleaned and the new one occupied, in one transaction."""
    encounter, version = _stay_read(core, encounter_id)
    now_in = current_places(encounter)
    if to.id in now_in:
        raise Conflict("The patient is already in this bed")
    _takes_patient(to)
    when = fhir_instant(at)
    left = [b for b in (_bed_or_none(core, place) for place in now_in) if b is not None]
    # Every current place ends but the new bed's ward, if the patient is on it already.
    staying = {to.ward} & set(now_in)
    places = [
        _ended(p, when) if _place_id(p) in now_in and _place_id(p) not in staying else p
        for p in encounter.get("location") or []
    ]
    entering = [e for e in _entering(to, when) if _place_id(e) not in staying]
    moved = {**encounter, "location": [*places, *entering]}
    entries = [_entry("PUT", f"Encounter/{encounter_id}", moved, if_match=version)]
    entries += [_bed_entry(b, HOUSEKEEPING) for b in left]
    entries.append(_bed_entry(to, OCCUPIED))
    _transaction(core, entries)


def discharge(core: Acting, encounter_id: str, at: datetime) -> None:
    """End stay `encounter_id` at `at`: the Encounter finished with the period's end, each current
    place completed, and the bed to be cleaned, in one transaction."""
    encounter, version = _stay_read(core, encounter_id)
    when = fhir_instant(at)
    now_in = current_places(encounter)
    left = [b for b in (_bed_or_none(core, place) for place in now_in) if b is not None]
    places = [_ended(p, when) if _place_id(p) in now_in else p for p in encounter.get("location") or []]
    finished = {
        **encounter,
        "status": "finished",
        "period": {**(encounter.get("period") or {}), "end": when},
        "location": places,
    }
    entries = [_entry("PUT", f"Encounter/{encounter_id}", finished, if_match=version)]
    entries += [_bed_entry(b, HOUSEKEEPING) for b in left]
    _transaction(core, entries)


def mark(core: Acting, target: Bed, what: str) -> None:
    """Mark an empty bed clean (free), blocked (closed) or unblocked (free)."""
    if what not in MARKS:
        raise BadRequest(f"A bed can be marked {', '.join(MARKS)}, not {what!r}")
    if what == "unblock" and target.status != CLOSED:
        raise Conflict("The bed is not blocked")
    if what == "clean" and target.status not in (HOUSEKEEPING, CONTAMINATED):
        raise Conflict("The bed is not waiting to be cleaned")
    _transaction(core, [_bed_entry(target, MARKS[what])])


def _takes_patient(to: Bed) -> None:
    """What the page knows already, said before the core is asked (the core's rule decides)."""
    if to.status == OCCUPIED:
        raise refused(f"{to.name} is occupied: choose a free bed", "Encounter.location")


def _stay_read(core: Acting, encounter_id: str) -> tuple[dict[str, Any], str]:
    answer = core.handle(FhirRequest("read", "Encounter", encounter_id))
    encounter: dict[str, Any] = jsontext.loads(answer.raw) if answer.raw is not None else answer.resource or {}
    if not in_a_bed(encounter):
        raise Conflict("This stay has ended: the patient is no longer admitted")
    return encounter, f'W/"{answer.version_id}"'


def _bed_or_none(core: Acting, location_id: str) -> Bed | None:
    try:
        return bed(core, location_id)
    except NotFound:
        return None


def _bed(resource: dict[str, Any], ward_id: str) -> Bed:
    version = str((resource.get("meta") or {}).get("versionId") or "")
    name = str(resource.get("name") or resource.get("id")).split(",")[0]
    return Bed(str(resource.get("id")), name, ward_id, bed_status(resource), version, resource)


def _parent(place: dict[str, Any]) -> str:
    return str((place.get("partOf") or {}).get("reference") or "").removeprefix("Location/")


def _children(core: Acting, parents: list[str]) -> list[dict[str, Any]]:
    params = [("partof", ",".join(f"Location/{p}" for p in parents)), ("_count", str(MOST))]
    return searched(core, "Location", params).matches


def _inside(core: Acting, parents: list[str], depth: int) -> list[dict[str, Any]]:
    """The Locations inside `parents`, down to `depth` levels (wards are not looked into)."""
    found: list[dict[str, Any]] = []
    for _ in range(depth):
        if not parents:
            break
        level = _children(core, parents)
        found += level
        parents = [str(x.get("id")) for x in level if physical_kind(x) not in (BED, WARD)]  # rooms, wings
    return found


def _entering(to: Bed, when: str) -> list[dict[str, Any]]:
    """The new location entries of a patient coming to bed `to`: its ward, then the bed."""
    entries = []
    if to.ward:
        entries.append(
            {
                "location": {"reference": f"Location/{to.ward}"},
                "status": "active",
                "physicalType": _physical(WARD),
                "period": {"start": when},
            }
        )
    entries.append(
        {
            "location": {"reference": f"Location/{to.id}", "display": to.name},
            "status": "active",
            "physicalType": _physical(BED),
            "period": {"start": when},
        }
    )
    return entries


def _place_id(place: dict[str, Any]) -> str:
    return str((place.get("location") or {}).get("reference") or "").removeprefix("Location/")


def _ended(place: dict[str, Any], when: str) -> dict[str, Any]:
    return {**place, "status": "completed", "period": {**(place.get("period") or {}), "end": when}}


def _physical(code: str) -> dict[str, Any]:
    return {"coding": [{"system": PHYSICAL_TYPE, "code": code}]}


def _bed_entry(target: Bed, status: str) -> dict[str, Any]:
    coding = {"system": BED_STATUS, "code": status, "display": STATUS_NAMES[status]}
    body = {**target.resource, "operationalStatus": coding}
    return _entry("PUT", f"Location/{target.id}", body, if_match=f'W/"{target.version}"' if target.version else None)


def _entry(
    method: str,
    url: str,
    resource: dict[str, Any],
    *,
    if_match: str | None = None,
    if_none_exist: str | None = None,
    full_url: str | None = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {"method": method, "url": url}
    if if_match:
        request["ifMatch"] = if_match
    if if_none_exist:
        request["ifNoneExist"] = if_none_exist
    entry: dict[str, Any] = {"resource": resource, "request": request}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def _transaction(core: Acting, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Write `entries` as one transaction; a refusal in the plain words of the rule that refused."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    try:
        answer = core.handle(FhirRequest("transaction", body=bundle))
    except FhirError as error:
        error.message = _ENTRY.sub("", error.message)
        error.args = (error.message,)
        raise
    return jsontext.loads(jsontext.dumps(answer.resource or {}))  # type: ignore[no-any-return]


def _seconds(value: str) -> float:
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=COPENHAGEN)).timestamp()
