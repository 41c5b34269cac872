"""Patient logistics now and ahead: booked clinic Appointments with their Slots, planned
operations (ServiceRequest + Appointment, priority acute, urgent or elective), and appointments
cancelled in an IT breakdown. Which patient gets which clinic time, theatre slot or bed is
decided by grid.py. https://hl7.org/fhir/R4/appointment.html"""

from __future__ import annotations

from typing import Any

from lifeline.generate.chart import Chart
from lifeline.generate.codes import APPOINTMENT_TYPE, SNOMED, concept, ref
from lifeline.generate.conditions import DIAGNOSES, PROCEDURES
from lifeline.generate.days import instant
from lifeline.generate.grid import CLINIC_MINUTES, ClinicCell, TheatreCell
from lifeline.generate.organisations import slot, slot_id
from lifeline.generate.region import Department

# Appointment.priority is a number, 1 the most urgent (https://hl7.org/fhir/R4/appointment-definitions.html#Appointment.priority);
# ServiceRequest.priority a code (https://hl7.org/fhir/R4/valueset-request-priority.html).
PRIORITIES = {"acute": (1, "stat", "Akut"), "urgent": (3, "urgent", "Haster"), "elective": (5, "routine", "Elektiv")}
_FOLLOW_UP = concept(APPOINTMENT_TYPE, "FOLLOWUP", "A follow up visit from a previous appointment")
_ROUTINE = concept(APPOINTMENT_TYPE, "ROUTINE", "Routine appointment - default if not valued")
_DOWNTIME = {"text": "Aflyst på grund af IT-nedbrud"}


def _participant(reference: dict[str, Any], status: str = "accepted") -> dict[str, Any]:
    return {"actor": reference, "required": "required", "status": status}


def clinic_appointment(chart: Chart, cell: ClinicCell, condition_id: str, follow_up: bool) -> str:
    """The patient's booked time in a clinic (today or a coming working day), and its busy Slot."""
    department = cell.department
    assert department.clinic_id and department.clinic_schedule_id
    busy = slot_id(chart.context.seed, "clinic", cell.number)
    chart.add(slot(busy, department.clinic_schedule_id, cell.day, cell.minute, CLINIC_MINUTES, "busy"), busy)
    physician = department.member("physician", cell.number)
    return chart.add(
        {
            "resourceType": "Appointment",
            "status": "booked",
            "appointmentType": _FOLLOW_UP if follow_up else _ROUTINE,
            "reasonReference": [ref("Condition", condition_id)],
            "priority": PRIORITIES["elective"][0],
            "description": f"Ambulant {'kontrol' if follow_up else 'forundersøgelse'}, {department.name}",
            "start": instant(cell.day, cell.minute),
            "end": instant(cell.day, cell.minute + CLINIC_MINUTES),
            "minutesDuration": CLINIC_MINUTES,
            "slot": [ref("Slot", busy)],
            "created": instant(cell.day - chart.rng.randint(14, 120), 10 * 60),
            "participant": [
                _participant(chart.subject),
                _participant(ref("PractitionerRole", physician.role_id, physician.name)),
                _participant(ref("Location", department.clinic_id)),
            ],
        }
    )


def planned_operation(chart: Chart, cell: TheatreCell, key: str, condition_id: str, priority: str) -> str:
    """An operation booked in a theatre slot: the surgeon's order and the theatre Appointment."""
    diagnosis = DIAGNOSES[key]
    spec = PROCEDURES[diagnosis.procedure or ""]
    theatre = cell.theatre
    department = theatre.site.departments[theatre.specialty]
    anaesthesia = theatre.site.departments["anae"]
    surgeon = department.member("surgeon", cell.number)
    anaesthetist = anaesthesia.member("anaesthetist", cell.number)
    number, request_priority, danish = PRIORITIES[priority]
    ordered = cell.day - (0 if priority == "acute" else chart.rng.randint(3, 10) if priority == "urgent" else 40)
    code = concept(SNOMED, spec.code, spec.display, spec.danish)
    request_id = chart.add(
        {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "priority": request_priority,
            "code": code,
            "subject": chart.subject,
            "occurrenceDateTime": instant(cell.day, cell.minute),
            "authoredOn": instant(ordered, 9 * 60 if priority != "acute" else 6 * 60),
            "requester": ref("PractitionerRole", surgeon.role_id, surgeon.name),
            "performer": [ref("PractitionerRole", surgeon.role_id, surgeon.name)],
            "locationReference": [ref("Location", theatre.location_id, theatre.name)],
            "reasonReference": [ref("Condition", condition_id)],
        }
    )
    busy = slot_id(chart.context.seed, "theatre", cell.number)
    chart.add(slot(busy, theatre.schedule_id, cell.day, cell.minute, spec.minutes, "busy"), busy)
    return chart.add(
        {
            "resourceType": "Appointment",
            "status": "booked",
            "serviceType": [code],
            "reasonReference": [ref("Condition", condition_id)],
            "priority": number,
            "description": f"{spec.danish} ({danish.lower()}), {theatre.name}",
            "start": instant(cell.day, cell.minute),
            "end": instant(cell.day, cell.minute + spec.minutes),
            "minutesDuration": spec.minutes,
            "slot": [ref("Slot", busy)],
            "created": instant(ordered, 10 * 60 if priority != "acute" else 6 * 60 + 30),
            "basedOn": [ref("ServiceRequest", request_id)],
            "participant": [
                _participant(chart.subject),
                _participant(ref("PractitionerRole", surgeon.role_id, surgeon.name)),
                _participant(ref("PractitionerRole", anaesthetist.role_id, anaesthetist.name)),
                _participant(ref("Location", theatre.location_id, theatre.name)),
            ],
        }
    )


def cancelled_appointment(chart: Chart, department: Department, day: int, condition_id: str) -> str:
    """A clinic visit that did not happen: cancelled when the record system was down."""
    minute = 8 * 60 + 30 * chart.rng.randrange(16)
    place = department.clinic_id or department.location_id
    return chart.add(
        {
            "resourceType": "Appointment",
            "status": "cancelled",
            "cancelationReason": _DOWNTIME,
            "appointmentType": _FOLLOW_UP,
            "reasonReference": [ref("Condition", condition_id)],
            "description": f"Ambulant kontrol, {department.name}",
            "start": instant(day, minute),
            "end": instant(day, minute + CLINIC_MINUTES),
            "participant": [_participant(chart.subject, "declined"), _participant(ref("Location", place))],
        }
    )
