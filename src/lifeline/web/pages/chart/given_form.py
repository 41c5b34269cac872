"""`/patients/{id}/medication/give`: recording a dose of medicine given (issue 21, "Record care"),
against one of the patient's active prescriptions.

It becomes a MedicationAdministration (https://hl7.org/fhir/R4/medicationadministration.html):
status completed, the prescription's medicine (its medicationCodeableConcept or medicationReference,
as the MedicationRequest has it) and the prescription itself as `request`, the dose and route
given, when, the clinician as performer and the current stay as context. Only an active
prescription the clinician can read is taken, read again through the core when the form is sent.
It is written through the core's audited, validated entry as a conditional create keyed by the
form's one-time key (form_key.py), so the form sent twice records one dose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.routing import Route

from lifeline import jsontext
from lifeline.clock import COPENHAGEN
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.web.login import WebLogin, form_text
from lifeline.web.pages import acting
from lifeline.web.pages.chart import form_key, recording, words
from lifeline.web.pages.chart.page import Reader, built_parts, chart_header, language, part_path
from lifeline.web.pages.chart.vitals_form import Kind, current_encounter, field_time, typed_moment, typed_number

PATH = part_path("medication") + "/give"
TEMPLATE = "chart/given.html"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
PRESCRIPTIONS_READ = 200
# Routes by SNOMED CT code: (SNOMED's name, the record's Danish words), those the generator
# prescribes by (generate/medication.py) and two more a ward gives by.
ROUTES = {
    "26643006": ("Oral route", "Gennem munden"),
    "34206005": ("Subcutaneous route", "Under huden"),
    "47625008": ("Intravenous route", "I en blodåre"),
    "78421000": ("Intramuscular route", "I en muskel"),
    "447694001": ("Respiratory tract route", "Til inhalation"),
    "37161004": ("Rectal route", "I endetarmen"),
}
# Dose units by UCUM code, shown as the generator shows them (generate/medication.py _UNITS).
UNITS = {"mg": "mg", "g": "g", "ug": "mikrogram", "[iU]": "IE", "mL": "mL"}
_FIELDS = ("key", "request", "dose", "unit", "route", "when")
DOSE = Kind("", "", "", "", "", Decimal("0.001"), Decimal(100_000), 3)  # a plausible dose: any unit


@dataclass
class Draft:
    """The form as filled in, and what is wrong with it (field -> a problem's name, which the
    template words: `request`: `missing`, `unknown`; `dose`: `missing`, `number`, `decimals`,
    `range`; `unit`, `route`: `missing`; `when`: as vitals_form.typed_moment; `key`: `missing`)."""

    key: str = field(default_factory=form_key.new_key)
    request: str = ""
    dose: str = ""
    unit: str = ""
    route: str = ""
    when: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    refusal: str = ""
    prescription: dict[str, Any] | None = None  # the active MedicationRequest chosen, as read

    def shown(self) -> dict[str, Any]:
        return {"key": self.key, "request": self.request, "dose": self.dose, "unit": self.unit, "route": self.route,
                "when": self.when, "problems": self.problems, "refusal": self.refusal}  # fmt: skip


def draft_of(form: FormData, now: datetime, prescriptions: dict[str, dict[str, Any]]) -> Draft:
    """The posted form, checked against `now` and the patient's active `prescriptions` by id."""
    key, request, dose, unit, route, when = (form_text(form, n).strip()[:200] for n in _FIELDS)
    draft = Draft(key=key, request=request, dose=dose, unit=unit, route=route, when=when)
    if not draft.request:
        draft.problems["request"] = "missing"
    elif draft.request not in prescriptions:
        draft.problems["request"] = "unknown"  # stopped meanwhile, or never this patient's
    if not draft.dose:
        draft.problems["dose"] = "missing"
    else:
        _, problem = typed_number(draft.dose, DOSE)
        if problem:
            draft.problems["dose"] = problem
    prescribed = prescriptions.get(draft.request, {}).get("dose") or {}
    if draft.unit not in UNITS and draft.unit != prescribed.get("unit"):
        draft.problems["unit"] = "missing"
    if draft.route not in ROUTES:
        draft.problems["route"] = "missing"
    _, problem = typed_moment(draft.when, now)
    if problem:
        draft.problems["when"] = problem
    form_key.check(draft)
    return draft


def prescriptions(read: Reader, language_: str) -> dict[str, dict[str, Any]]:
    """The patient's active MedicationRequests by id, as the form offers them: the medicine, the
    prescribed dosage in words, and the dose and route to start from."""
    requests, medications = read.search(
        "MedicationRequest", ("status", "active"), ("_include", "MedicationRequest:medication"),
        ("_count", str(PRESCRIPTIONS_READ)),
    )  # fmt: skip
    offered: dict[str, dict[str, Any]] = {}
    for request in requests:
        reference = (request.get("medicationReference") or {}).get("reference", "")
        medicine = request.get("medicationCodeableConcept") or medications.get(reference, {}).get("code")
        name = words.concept(medicine) or (request.get("medicationReference") or {}).get("display") or ""
        dosage = (request.get("dosageInstruction") or [{}])[0]
        quantity: dict[str, Any] = next(
            (r["doseQuantity"] for r in dosage.get("doseAndRate") or [] if r.get("doseQuantity")), {}
        )
        offered[str(request.get("id"))] = {
            "id": request.get("id"),
            "name": name or reference,
            "dosage": words.dose(dosage, language_),
            "dose": {
                "value": words.number(quantity.get("value", ""), language_) if "value" in quantity else "",
                "unit": quantity.get("code") or quantity.get("unit") or "",
                "shown": quantity.get("unit") or quantity.get("code") or "",
            },
            "route": words.coded(dosage.get("route"), SNOMED) or "",
            "resource": request,
        }
    return dict(sorted(offered.items(), key=lambda item: str(item[1]["name"]).lower()))


def write(
    core: Acting, patient_id: str, draft: Draft, prescription: dict[str, Any], author: str, now: datetime
) -> None:
    """Write the dose given, or find the one the form's key already wrote."""
    encounter = current_encounter(core, patient_id)
    moment, _ = typed_moment(draft.when, now)
    assert moment is not None  # draft_of checked it
    body = administration(draft, patient_id, prescription, author, moment, encounter)
    core.handle(
        FhirRequest("create", "MedicationAdministration", body=body, if_none_exist=form_key.condition(draft.key))
    )


def administration(
    draft: Draft,
    patient_id: str,
    prescription: dict[str, Any],
    author: str,
    moment: datetime,
    encounter: dict[str, Any] | None,
) -> dict[str, Any]:
    """The MedicationAdministration of a checked form, given against `prescription`."""
    medicine = {k: v for k, v in prescription.items() if k in ("medicationCodeableConcept", "medicationReference")}
    typed = Decimal(draft.dose.replace(" ", "").replace(",", "."))
    value = jsontext.of_decimal(typed)
    route, danish = ROUTES[draft.route]
    return {
        "resourceType": "MedicationAdministration",
        "identifier": [form_key.identifier(draft.key)],
        "status": "completed",
        **medicine,
        "subject": {"reference": f"Patient/{patient_id}"},
        **({"context": {"reference": f"Encounter/{encounter['id']}"}} if encounter else {}),
        "effectiveDateTime": moment.astimezone(COPENHAGEN).isoformat(timespec="seconds"),
        "performer": [{"actor": {"reference": author}}],
        "request": {"reference": f"MedicationRequest/{prescription['id']}"},
        "dosage": {
            "route": {"coding": [{"system": SNOMED, "code": draft.route, "display": route}], "text": danish},
            "dose": {"value": value, "unit": UNITS.get(draft.unit, draft.unit), "system": UCUM, "code": draft.unit},
        },
    }


def giving(
    core: Acting, patient_id: str, now: datetime, language_: str, built: frozenset[str], draft: Draft, chosen: str
) -> dict[str, Any]:
    """What the page shows: the header, the active prescriptions to choose from and the form,
    started from the `chosen` prescription (or the only one) when it is new."""
    read, top = chart_header(core, patient_id, now.astimezone(COPENHAGEN).date(), language_, built, "medication")
    offered = prescriptions(read, language_)
    if not draft.when:  # a new form
        draft.when = field_time(now)
        start = offered.get(chosen) or (next(iter(offered.values())) if len(offered) == 1 else None)
        if start is not None:
            draft.request, draft.dose = str(start["id"]), start["dose"]["value"]
            draft.unit, draft.route = start["dose"]["unit"] or "mg", start["route"]
    units = dict(UNITS)
    for prescription in offered.values():
        if prescription["dose"]["unit"] and prescription["dose"]["unit"] not in units:
            units[prescription["dose"]["unit"]] = prescription["dose"]["shown"]
    return {
        **top,
        "prescriptions": [{k: v for k, v in p.items() if k != "resource"} for p in offered.values()],
        "units": [{"code": code, "name": name} for code, name in units.items()],
        "routes": [{"code": code, "name": name, "danish": danish} for code, (name, danish) in ROUTES.items()],
        "form": draft.shown(),
        "language": language_,
    }


def routes(web: WebLogin, paths: Callable[[], set[str]] = set) -> list[Route]:
    """The form's page and its POST, answered with a redirect to the medication part."""
    service = web.service

    def shown(request: Request, draft: Draft) -> dict[str, Any]:
        core, built = acting(service, request), built_parts(paths())
        chosen = request.query_params.get("request", "")[:64]
        values = giving(core, request.path_params["id"], service.clock(), language(), built, draft, chosen)
        return {**values, "csrf": request.user.csrf}

    def drafted(request: Request, form: FormData) -> Draft:
        read = Reader(acting(service, request), request.path_params["id"])
        read.read_patient()  # first: outside care nothing else is asked, nothing written
        offered = prescriptions(read, language())
        draft = draft_of(form, service.clock(), offered)
        draft.prescription = offered.get(draft.request, {}).get("resource")
        return draft

    def save(request: Request, draft: Draft, author: str) -> str:
        patient_id = request.path_params["id"]
        write(acting(service, request), patient_id, draft, draft.prescription or {}, author, service.clock())
        return part_path("medication").replace("{id}", patient_id) + "#given"

    return recording.routes(web, PATH, TEMPLATE, shown=shown, blank=Draft, drafted=drafted, save=save)
