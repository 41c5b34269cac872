"""The chart's summary: active problems, current medication with its dose, the latest vital signs,
the latest abnormal results, and what is coming (appointments and operations). Each part is built
from the resources the core returned to the clinician; nothing here reads anything itself."""

from __future__ import annotations

from typing import Any

from lifeline.web.pages.chart import words

LOINC = "http://loinc.org"
ATC = "http://www.whocc.no/atc"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# The interpretations that make a result abnormal (v3 ObservationInterpretation), most urgent first.
ABNORMAL = ("HH", "LL", "H", "L", "A", "AA", "HU", "LU", ">", "<")
ABNORMAL_SHOWN = 12  # results in the summary; the rest are for the Results part
NOT_COMING = frozenset({"cancelled", "noshow", "entered-in-error", "fulfilled"})


def problems(conditions: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """Active problems, the newest first."""
    shown: list[dict[str, Any]] = []
    for condition in conditions:
        onset = condition.get("onsetDateTime") or (condition.get("onsetPeriod") or {}).get("start")
        shown.append(
            {
                "id": condition.get("id"),
                "text": words.concept(condition.get("code")) or "?",
                "code": ", ".join(words.codes(condition.get("code"))[:1]),
                "onset": words.when(onset or condition.get("recordedDate"), language, day=True),
                "onsetRecorded": onset is not None,
            }
        )
    shown.sort(key=lambda p: words.in_order(p["onset"]), reverse=True)
    return shown


def medication(
    requests: list[dict[str, Any]],
    statements: list[dict[str, Any]],
    medications: dict[str, dict[str, Any]],
    language: str,
) -> list[dict[str, Any]]:
    """Current medication: active prescriptions, then what the patient reports taking, each with
    its dose; by name."""
    shown: list[dict[str, Any]] = []
    for resource, dosages, since, source in [
        *((r, r.get("dosageInstruction"), r.get("authoredOn"), "prescribed") for r in requests),
        *((s, s.get("dosage"), (s.get("effectivePeriod") or {}).get("start") or s.get("effectiveDateTime"),
           "reported") for s in statements),
    ]:  # fmt: skip
        drug = resource.get("medicationCodeableConcept")
        if drug is None:
            drug = medications.get((resource.get("medicationReference") or {}).get("reference", ""), {}).get("code")
            drug = drug or {"text": (resource.get("medicationReference") or {}).get("display")}
        shown.append(
            {
                "id": resource.get("id"),
                "name": words.concept(drug) or "?",
                "atc": words.coded(drug, ATC),
                "dose": words.dose((dosages or [None])[0], language),
                "since": words.when(since, language, day=True),
                "source": source,
                "prescriber": ((resource.get("requester") or {}).get("display")),
            }
        )
    shown.sort(key=lambda m: (m["source"] != "prescribed", m["name"].lower()))
    return shown


def vital_signs(observations: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """The newest measurement of each vital sign (observations come newest first)."""
    shown, seen = [], set()
    for observation in observations:
        key = words.coded(observation.get("code"), LOINC) or words.concept(observation.get("code"))
        if key in seen or observation.get("status") in ("entered-in-error", "cancelled"):
            continue
        value, unit = value_of(observation, language)
        if not value:
            continue
        seen.add(key)
        shown.append(
            {
                "name": words.concept(observation.get("code")),
                "value": value,
                "unit": unit,
                "when": words.when(effective(observation), language),
            }
        )
    return shown


def abnormal_results(observations: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """Of each test, its newest result when that is abnormal: flagged by the laboratory (H, L, A,
    HH, LL …) or outside its reference range. Newest first."""
    shown, seen = [], set()
    for observation in observations:
        key = words.coded(observation.get("code"), LOINC) or words.concept(observation.get("code"))
        if key in seen or observation.get("status") in ("entered-in-error", "cancelled", "preliminary"):
            continue
        seen.add(key)
        flag = abnormal_flag(observation)
        if flag is None:
            continue
        value, unit = value_of(observation, language)
        shown.append(
            {
                "id": observation.get("id"),
                "name": words.concept(observation.get("code")),
                "value": value,
                "unit": unit,
                "range": words.reference_range(observation.get("referenceRange"), language),
                "flag": flag,
                "when": words.when(effective(observation), language),
            }
        )
        if len(shown) == ABNORMAL_SHOWN:
            break
    return shown


def abnormal_flag(observation: dict[str, Any]) -> str | None:
    """The abnormal interpretation code, or H/L from the reference range where the laboratory
    gave none; None for a normal result."""
    given = [c for i in observation.get("interpretation") or [] for c in words.codes(i)]
    for code in ABNORMAL:
        if code in given:
            return code
    if given:
        return None  # the laboratory judged it (N, or another code): its word stands
    value = (observation.get("valueQuantity") or {}).get("value")
    ranges = observation.get("referenceRange") or []
    if not isinstance(value, int | float) or not ranges:
        return None
    low, high = (ranges[0].get("low") or {}).get("value"), (ranges[0].get("high") or {}).get("value")
    if isinstance(high, int | float) and value > high:
        return "H"
    if isinstance(low, int | float) and value < low:
        return "L"
    return None


def value_of(observation: dict[str, Any], language: str) -> tuple[str, str]:
    """An observation's value and unit; a panel's components joined (blood pressure 132/79 mmHg)."""
    if "valueQuantity" in observation:
        return words.quantity(observation["valueQuantity"], language)
    for kind in ("valueString", "valueInteger"):
        if kind in observation:
            return words.number(observation[kind], language), ""
    if "valueCodeableConcept" in observation:
        return words.concept(observation["valueCodeableConcept"]), ""
    parts = [words.quantity(c.get("valueQuantity"), language) for c in observation.get("component") or []]
    parts = [p for p in parts if p[0]]
    if parts:
        return "/".join(p[0] for p in parts), parts[0][1]
    return "", ""


def effective(observation: dict[str, Any]) -> str | None:
    period = observation.get("effectivePeriod") or {}
    return observation.get("effectiveDateTime") or observation.get("effectiveInstant") or period.get("start")


def coming(appointments: list[dict[str, Any]], orders: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """Appointments and operations from today on, the soonest first. An operation is booked as a
    theatre Appointment based on the surgeon's ServiceRequest (generate/logistics.py); an ordered
    operation not yet booked is shown from its ServiceRequest."""
    shown: list[dict[str, Any]] = []
    booked: set[str] = set()
    for appointment in appointments:
        if appointment.get("status") in NOT_COMING:
            continue
        based_on = [b.get("reference", "") for b in appointment.get("basedOn") or []]
        booked.update(based_on)
        operation = any(r.startswith("ServiceRequest/") for r in based_on) or bool(appointment.get("serviceType"))
        where = [
            p["actor"].get("display")
            for p in appointment.get("participant") or []
            if (p.get("actor") or {}).get("reference", "").startswith("Location/") and p["actor"].get("display")
        ]
        what = appointment.get("description") or words.concept((appointment.get("serviceType") or [None])[0])
        shown.append(
            {
                "kind": "operation" if operation else "appointment",
                "what": what or words.concept(appointment.get("appointmentType")),
                "when": words.when(appointment.get("start"), language),
                "where": ", ".join(where),
                "status": appointment.get("status"),
            }
        )
    for order in orders:
        if f"ServiceRequest/{order.get('id')}" in booked:
            continue
        places = [p.get("display") for p in order.get("locationReference") or [] if p.get("display")]
        shown.append(
            {
                "kind": "order",
                "what": words.concept(order.get("code")),
                "when": words.when(order.get("occurrenceDateTime"), language),
                "where": ", ".join(places),
                "status": order.get("status"),
            }
        )
    shown.sort(key=lambda c: words.in_order(c["when"]))
    return shown
