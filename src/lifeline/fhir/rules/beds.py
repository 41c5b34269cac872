"""Rules for beds (issue 24): one patient to a bed, and no one into a bed that is closed or being
cleaned; see fhir/rules/__init__.py for where they run.

A patient lies in a bed while an Encounter in progress has the bed as a current location: an
entry of `Encounter.location` with status active and no period end
(https://hl7.org/fhir/R4/encounter-definitions.html#Encounter.location). The bed is a Location of
physical type `bd`; its `operationalStatus` is a code of the v2 bed-status table (0116): closed,
housekeeping and contaminated beds take nobody. A refusal names the bed and its ward, never the
patient already in it: the writer may have no right to know who that is.
"""

from __future__ import annotations

from typing import Any

import orjson

from lifeline.fhir.rules import Checker, Written, refused

BED_STATUS = "http://terminology.hl7.org/CodeSystem/v2-0116"
PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
BED, WARD = "bd", "wa"
OCCUPIED, UNOCCUPIED, CLOSED, HOUSEKEEPING, CONTAMINATED = "O", "U", "C", "H", "K"
STATUS_NAMES = {
    OCCUPIED: "Occupied",
    UNOCCUPIED: "Unoccupied",
    CLOSED: "Closed",
    HOUSEKEEPING: "Housekeeping",
    CONTAMINATED: "Contaminated",
    "I": "Isolated",
}
# Why a bed takes nobody now, in the words of a refusal.
TAKES_NOBODY = {CLOSED: "closed", HOUSEKEEPING: "being cleaned", CONTAMINATED: "contaminated"}
# Encounter statuses that keep a bed: a patient on leave comes back to theirs.
IN_BED = ("in-progress", "onleave")


def current_places(encounter: dict[str, Any] | None) -> list[str]:
    """The Location ids where `encounter` is now: entries active (or without a status) whose
    period has no end."""
    places = []
    for place in (encounter or {}).get("location") or []:
        reference = str((place.get("location") or {}).get("reference") or "")
        if place.get("status") in (None, "active") and not (place.get("period") or {}).get("end"):
            if reference.startswith("Location/"):
                places.append(reference.removeprefix("Location/"))
    return places


def in_a_bed(encounter: dict[str, Any] | None) -> bool:
    return (encounter or {}).get("status") in IN_BED


def physical_kind(location: dict[str, Any]) -> str | None:
    codings = (location.get("physicalType") or {}).get("coding") or []
    return next((str(c.get("code")) for c in codings if c.get("system") in (PHYSICAL_TYPE, None)), None)


def bed_status(location: dict[str, Any]) -> str | None:
    """A bed's code in the bed-status table (a Coding), or None when it has none."""
    status = location.get("operationalStatus") or {}
    return str(status["code"]) if status.get("code") else None


def _read(written: Written, location_id: str) -> dict[str, Any] | None:
    stored = written.session.read("Location", location_id)
    if stored is None or stored.deleted or not stored.content:
        return None
    content: dict[str, Any] = orjson.loads(stored.content)
    return content


def where(written: Written, bed: dict[str, Any]) -> str:
    """ "Seng 4 on Sengeafsnit B3": the bed's own name (the first part of "Seng 4, Kardiologisk …")
    and its ward's."""
    name = str(bed.get("name") or f"Bed {bed.get('id')}")
    ward_ref = str((bed.get("partOf") or {}).get("reference") or "")
    ward = _read(written, ward_ref.removeprefix("Location/")) if ward_ref.startswith("Location/") else None
    if ward is None or not ward.get("name"):
        return name
    return f"{name.split(',')[0]} on {ward['name']}"


def occupied(written: Written, bed_id: str) -> bool:
    """Whether another Encounter has the patient in bed `bed_id` now (read in the write's own
    transaction: an earlier entry of the same bundle counts)."""
    others = written.matching("Encounter", [("location", f"Location/{bed_id}"), ("status", ",".join(IN_BED))])
    return any(bed_id in current_places(other) for other in others)


def bed_is_free(written: Written) -> None:
    """An Encounter's new current bed must be open and have nobody else in it."""
    encounter = written.resource
    if not in_a_bed(encounter):
        return
    before = written.before
    kept = set(current_places(before)) if in_a_bed(before) else set()
    for location_id in sorted(set(current_places(encounter)) - kept):  # sorted: locks taken in one order
        location = _read(written, location_id)
        if location is None or physical_kind(location) != BED:
            continue
        # Racing writers into one bed take turns from here, and each sees what the one before wrote.
        written.session.lock(f"bed:{location_id}")
        bed = _read(written, location_id) or location
        status = bed_status(bed)
        if bed.get("status") in ("inactive", "suspended"):
            raise refused(f"{where(written, bed)} is not in use: choose another bed", "Encounter.location")
        if status in TAKES_NOBODY:
            raise refused(f"{where(written, bed)} is {TAKES_NOBODY[status]}: choose another bed", "Encounter.location")
        if occupied(written, location_id):
            raise refused(f"{where(written, bed)} is occupied: choose a free bed", "Encounter.location")


def bed_left_empty(written: Written) -> None:
    """A bed cannot be closed, cleaned or marked free while a patient lies in it."""
    bed = written.resource
    if physical_kind(bed) != BED:
        return
    status = bed_status(bed)
    if status not in (*TAKES_NOBODY, UNOCCUPIED) or status == bed_status(written.before or {}):
        return
    written.session.lock(f"bed:{written.res_id}")
    if occupied(written, written.res_id):
        word = "free" if status == UNOCCUPIED else TAKES_NOBODY[status]
        raise refused(
            f"{where(written, bed)} has a patient in it, so it cannot be marked {word}:"
            " transfer or discharge the patient first",
            "Location.operationalStatus",
        )


CHECKS: dict[str, list[Checker]] = {"Encounter": [bed_is_free], "Location": [bed_left_empty]}
