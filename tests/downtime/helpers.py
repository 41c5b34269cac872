"""A ward and a clinic to make reports of, and reading a report back (decrypted, as text)."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pypdf import PdfReader

from lifeline.clock import today
from lifeline.cpr import CPR_SYSTEM
from lifeline.downtime import vault
from lifeline.fhir.service import FhirService
from tests.web.pages.test_chart import Ward, admitted_patient, put, ref

KEY = vault.new_key()
TODAY_AT_TEN = "2026-11-22T10:30:00+01:00"  # the test clock's day (tests/conftest.py TickingClock)


def kept(service: FhirService, start: str) -> str:
    """Booked, or fulfilled under a clock past its day: a booking in the past is refused (issue 24)."""
    return "fulfilled" if datetime.fromisoformat(start).date() < today(service.clock) else "booked"


@dataclass
class Clinic:
    id: str
    name: str
    patient: str


def clinic(service: FhirService) -> Clinic:
    """An outpatient clinic with one patient booked today (with a phone) and one tomorrow."""
    tag = uuid.uuid4().hex[:8]
    place = {
        "resourceType": "Location",
        "id": f"clinic-{tag}",
        "name": f"Ambulatorium, Kardiologi {tag}",
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "OF"}]}],
    }
    patient = {
        "resourceType": "Patient",
        "id": f"out-{tag}",
        "name": [{"family": "Holm", "given": ["Jens"]}],
        "identifier": [{"system": CPR_SYSTEM, "value": "0101701235"}],
        "telecom": [{"system": "phone", "value": "+45 20 30 40 50", "use": "mobile"}],
    }
    for id_, start, what in (
        (f"today-{tag}", TODAY_AT_TEN, "Ambulant kontrol, atrieflimren"),
        (f"later-{tag}", "2026-11-23T10:30:00+01:00", "Næste dags tid"),
    ):
        put(service, place)
        put(service, patient)
        end = (datetime.fromisoformat(start) + timedelta(minutes=30)).isoformat()  # it ends after it starts
        put(service, {"resourceType": "Appointment", "id": id_, "status": kept(service, start), "description": what,
                      "start": start, "end": end, "participant": [
                          {"actor": ref(f"Patient/out-{tag}"), "status": "accepted"},
                          {"actor": ref(f"Location/clinic-{tag}"), "status": "accepted"}]})  # fmt: skip
    return Clinic(f"clinic-{tag}", str(place["name"]), f"out-{tag}")


@dataclass
class Theatre:
    id: str
    name: str
    patient: str


def theatre(service: FhirService) -> Theatre:
    """An operating theatre with one operation planned today (the surgeon's order and the theatre
    booking, as generate/logistics.py makes them) and one tomorrow."""
    tag = uuid.uuid4().hex[:8]
    place = {
        "resourceType": "Location",
        "id": f"theatre-{tag}",
        "name": f"Operationsstue 3 {tag}, Herlev Hospital",
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "OR"}]}],
        "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                                     "code": "ro"}]},
    }  # fmt: skip
    patient = {
        "resourceType": "Patient",
        "id": f"op-{tag}",
        "name": [{"family": "Lund", "given": ["Birthe"]}],
        "identifier": [{"system": CPR_SYSTEM, "value": "1203541238"}],
        "telecom": [{"system": "phone", "value": "+45 31 41 59 26", "use": "mobile"}],
    }
    put(service, place)
    put(service, patient)
    surgeon = ref(f"PractitionerRole/surgeon-{tag}", "Per Kirurg")
    code = {"coding": [{"system": "http://snomed.info/sct", "code": "80146002", "display": "Appendectomy"}],
            "text": "Appendektomi"}  # fmt: skip
    for id_, start, end, priority in (
        (f"op-today-{tag}", "2026-11-22T13:00:00+01:00", "2026-11-22T14:00:00+01:00", ("urgent", 3)),
        (f"op-later-{tag}", "2026-11-23T08:00:00+01:00", "2026-11-23T09:00:00+01:00", ("routine", 5)),
    ):
        put(service, {"resourceType": "ServiceRequest", "id": f"sr-{id_}", "status": "active", "intent": "order",
                      "priority": priority[0], "code": code, "subject": ref(f"Patient/op-{tag}"),
                      "occurrenceDateTime": start, "requester": surgeon, "performer": [surgeon]})  # fmt: skip
        put(service, {"resourceType": "Appointment", "id": id_, "status": kept(service, start), "serviceType": [code],
                      "priority": priority[1], "description": f"Appendektomi, {place['name']}", "start": start,
                      "end": end, "basedOn": [ref(f"ServiceRequest/sr-{id_}")], "participant": [
                          {"actor": ref(f"Patient/op-{tag}"), "status": "accepted"},
                          {"actor": surgeon, "status": "accepted"},
                          {"actor": ref(f"Location/theatre-{tag}"), "status": "accepted"}]})  # fmt: skip
    return Theatre(f"theatre-{tag}", str(place["name"]), f"op-{tag}")


def ward_of(ward: Ward) -> str:
    return f"ward-{ward.tag}"


def pdf_text(sealed: Path, key: str = KEY) -> str:
    """The text of every page of an encrypted report."""
    plain = vault.decrypt(vault.key_of(key), sealed.read_bytes())
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(plain)).pages)


__all__ = ["Clinic", "Theatre", "Ward", "admitted_patient", "clinic", "pdf_text", "theatre", "ward_of"]
