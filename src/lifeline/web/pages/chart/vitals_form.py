"""`/patients/{id}/vitals/record`: recording a set of vital signs taken at one time (issue 21,
"Record care"): pulse, blood pressure, respiratory rate, saturation, temperature, weight and
height, any of them. Each becomes an Observation of the FHIR vital signs profile
(https://hl7.org/fhir/R4/observation-vitalsigns.html), coded as the generator writes them
(generate/labs.py): category vital-signs, the LOINC code, the value in its UCUM unit; blood
pressure one panel (85354-9) with systolic and diastolic as components.

The set is written in one transaction Bundle (https://hl7.org/fhir/R4/http.html#transaction), so
it is saved whole or not at all, through the core's audited, validated entry as the clinician.
Each entry is a conditional create keyed by the form's one-time key and the kind (form_key.py):
the form sent twice writes one set. The form and the chart's other forms (orders.py,
given_form.py) share the reading of a typed time and of the current stay from here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.routing import Route

from lifeline import jsontext
from lifeline.clock import COPENHAGEN, fhir_instant
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.web.login import WebLogin, form_text
from lifeline.web.pages import acting
from lifeline.web.pages.chart import form_key, header, recording, words
from lifeline.web.pages.chart.page import Reader, built_parts, chart_header, language, part_path

PATH = part_path("vitals") + "/record"
TEMPLATE = "chart/vitals_record.html"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VITAL_SIGNS = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
            "display": "Vital Signs",
        }
    ]
}
AHEAD = timedelta(minutes=2)  # a watch a little ahead of the server's clock
OLDEST = timedelta(days=7)  # older measurements belong on paper, not in a form meant for the bedside


class Kind(NamedTuple):
    """One vital sign as the form takes it: its LOINC code, LOINC's name and the record's Danish
    one, the unit as shown and in UCUM, the plausible range and the decimals it may have."""

    loinc: str
    display: str
    danish: str
    unit: str
    ucum: str
    low: Decimal
    high: Decimal
    decimals: int


# The form's fields in the flowsheet's order (vitals.py ORDER); systolic and diastolic are the
# blood pressure panel's components.
# fmt: off
KINDS = {
    "pulse": Kind("8867-4", "Heart rate", "Puls", "/min", "/min", Decimal(20), Decimal(300), 0),
    "systolic": Kind("8480-6", "Systolic blood pressure", "Systolisk", "mmHg", "mm[Hg]", Decimal(40), Decimal(300), 0),
    "diastolic": Kind("8462-4", "Diastolic blood pressure", "Diastolisk", "mmHg", "mm[Hg]", Decimal(20),
                      Decimal(200), 0),
    "resp": Kind("9279-1", "Respiratory rate", "Respirationsfrekvens", "/min", "/min", Decimal(3), Decimal(80), 0),
    "spo2": Kind("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "Saturation", "%", "%",
                 Decimal(50), Decimal(100), 0),
    "temp": Kind("8310-5", "Body temperature", "Temperatur", "°C", "Cel", Decimal(25), Decimal(45), 1),
    "weight": Kind("29463-7", "Body weight", "Vægt", "kg", "kg", Decimal("0.3"), Decimal(400), 3),
    "height": Kind("8302-2", "Body height", "Højde", "cm", "cm", Decimal(20), Decimal(250), 1),
}
# fmt: on
BLOOD_PRESSURE = ("85354-9", "Blood pressure panel with all children optional", "Blodtryk")


@dataclass
class Draft:
    """The form as filled in, and what is wrong with it (field -> a problem's name, which the
    template words: `number`, `whole`, `decimals`, `range`, `pair`, `order`; `when`: `missing`,
    `format`, `future`, `old`; `set`: `empty`; `key`: `missing`)."""

    key: str = field(default_factory=form_key.new_key)
    when: str = ""
    values: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    refusal: str = ""  # the core's words when it refused the set

    def shown(self, language_: str) -> dict[str, Any]:
        kinds = {
            name: {"value": self.values.get(name, ""), "low": words.number(float(kind.low), language_),
                   "high": words.number(float(kind.high), language_), "unit": kind.unit, "decimals": kind.decimals}
            for name, kind in KINDS.items()
        }  # fmt: skip
        return {"key": self.key, "when": self.when, "kinds": kinds, "problems": self.problems, "refusal": self.refusal}


def draft_of(form: FormData, now: datetime, oldest: timedelta = OLDEST) -> Draft:
    """The posted form, checked against `now`: taken at most `oldest` ago (the downtime's
    re-entry, web/pages/reentry.py, takes older ones)."""
    draft = Draft(key=form_text(form, "key"), when=form_text(form, "when").strip())
    numbers: dict[str, Decimal] = {}
    for name, kind in KINDS.items():
        typed = form_text(form, name).strip()[:40]
        draft.values[name] = typed
        if typed:
            number, problem = typed_number(typed, kind)
            if problem:
                draft.problems[name] = problem
            elif number is not None:
                numbers[name] = number
    pressure = [name for name in ("systolic", "diastolic") if draft.values[name]]
    if len(pressure) == 1:
        draft.problems.setdefault("diastolic" if pressure == ["systolic"] else "systolic", "pair")
    elif "systolic" in numbers and "diastolic" in numbers and numbers["systolic"] <= numbers["diastolic"]:
        draft.problems["systolic"] = "order"
    if not any(draft.values.values()):
        draft.problems["set"] = "empty"
    _, problem = typed_moment(draft.when, now, oldest)
    if problem:
        draft.problems["when"] = problem
    form_key.check(draft)
    return draft


def typed_number(typed: str, kind: Kind) -> tuple[Decimal | None, str | None]:
    """A typed number (a Danish decimal comma or a point) checked against `kind`."""
    try:
        number = Decimal(typed.replace(" ", "").replace(",", "."))
    except InvalidOperation:
        return None, "number"
    if not number.is_finite():
        return None, "number"
    places = -int(number.as_tuple().exponent) if number != number.to_integral_value() else 0
    if places > kind.decimals:
        return None, "whole" if kind.decimals == 0 else "decimals"
    if not kind.low <= number <= kind.high:
        return None, "range"
    return number, None


def typed_moment(typed: str, now: datetime, oldest: timedelta = OLDEST) -> tuple[datetime | None, str | None]:
    """The moment a form's time field says (as a datetime-local field sends it, read as Danish
    time), or why it cannot be taken: `missing`, `format`, `future`, `old` (before `oldest` ago)."""
    if not typed:
        return None, "missing"
    try:
        moment = datetime.fromisoformat(typed)
    except ValueError:
        return None, "format"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=COPENHAGEN)
    if moment > now + AHEAD:
        return None, "future"
    if moment < now - oldest:
        return None, "old"
    return moment, None


def field_time(moment: datetime) -> str:
    """A moment as a datetime-local field shows it: Danish time, to the minute."""
    return moment.astimezone(COPENHAGEN).strftime("%Y-%m-%dT%H:%M")


def current_encounter(core: Acting, patient_id: str) -> dict[str, Any] | None:
    """The patient read first (outside the clinician's care that is `Withheld`, and nothing more
    is asked), then the current stay, chosen as the chart's header chooses it; None if none."""
    read = Reader(core, patient_id)
    read.read_patient()
    encounters, places = read.search("Encounter", ("status", "in-progress"), ("_include", "Encounter:service-provider"))
    stay = header.stay(encounters, places, "en")
    return next((e for e in encounters if stay and e.get("id") == stay["encounter"]), None)


def write(core: Acting, patient_id: str, draft: Draft, author: str, now: datetime) -> None:
    """Write `draft`'s set on `patient_id` by `author` (Practitioner/id) in one transaction, or
    find the set its key already wrote."""
    encounter = current_encounter(core, patient_id)
    moment, _ = typed_moment(draft.when, now)
    assert moment is not None  # draft_of checked it
    entries = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": observation,
            "request": {"method": "POST", "url": "Observation", "ifNoneExist": condition},
        }
        for observation, condition in observations(draft, patient_id, author, moment, now, encounter)
    ]
    core.handle(FhirRequest("transaction", body={"resourceType": "Bundle", "type": "transaction", "entry": entries}))


def observations(
    draft: Draft, patient_id: str, author: str, moment: datetime, now: datetime, encounter: dict[str, Any] | None
) -> list[tuple[dict[str, Any], str]]:
    """The Observations of a checked draft, each with its If-None-Exist criteria."""
    common: dict[str, Any] = {
        "status": "final",
        "category": [VITAL_SIGNS],
        "subject": {"reference": f"Patient/{patient_id}"},
        **({"encounter": {"reference": f"Encounter/{encounter['id']}"}} if encounter else {}),
        "effectiveDateTime": moment.astimezone(COPENHAGEN).isoformat(timespec="seconds"),
        "issued": fhir_instant(now),
        "performer": [{"reference": author}],
    }
    made = []
    for name, kind in KINDS.items():
        if name in ("systolic", "diastolic") or not draft.values.get(name):
            continue
        made.append((_observation(draft.key, common, kind.loinc, kind.display, kind.danish,
                                  valueQuantity=_quantity(draft.values[name], kind)), kind.loinc))  # fmt: skip
    if draft.values.get("systolic") and draft.values.get("diastolic"):
        loinc, display, danish = BLOOD_PRESSURE
        parts = [
            {"code": _code(KINDS[n].loinc, KINDS[n].display), "valueQuantity": _quantity(draft.values[n], KINDS[n])}
            for n in ("systolic", "diastolic")
        ]
        made.insert(1 if draft.values.get("pulse") else 0,
                    (_observation(draft.key, common, loinc, display, danish, component=parts), loinc))  # fmt: skip
    return [(resource, form_key.condition(draft.key, loinc)) for resource, loinc in made]


def _observation(
    key: str, common: dict[str, Any], loinc: str, display: str, danish: str, **value: Any
) -> dict[str, Any]:
    identifier = [form_key.identifier(key, loinc)]
    return {"resourceType": "Observation", "identifier": identifier, **common, "code": _code(loinc, display, danish),
            **value}  # fmt: skip


def _code(loinc: str, display: str, text: str | None = None) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": loinc, "display": display}], **({"text": text} if text else {})}


def _quantity(typed: str, kind: Kind) -> dict[str, Any]:
    number = Decimal(typed.replace(" ", "").replace(",", "."))
    return {"value": jsontext.of_decimal(number), "unit": kind.unit, "system": UCUM, "code": kind.ucum}


def recorded(
    core: Acting, patient_id: str, language_: str, built: frozenset[str], draft: Draft, now: datetime
) -> dict[str, Any]:
    """What the page shows: the chart's header and the form (a new one at `now`, or `draft`)."""
    _, top = chart_header(core, patient_id, now.astimezone(COPENHAGEN).date(), language_, built, showing="vitals")
    if not draft.when:
        draft.when = field_time(now)
    return {**top, "form": draft.shown(language_), "language": language_}


def routes(web: WebLogin, paths: Callable[[], set[str]] = set) -> list[Route]:
    """The form's page and its POST, answered with a redirect to the flowsheet."""
    service = web.service

    def shown(request: Request, draft: Draft) -> dict[str, Any]:
        core, built = acting(service, request), built_parts(paths())
        values = recorded(core, request.path_params["id"], language(), built, draft, service.clock())
        return {**values, "csrf": request.user.csrf}

    def drafted(request: Request, form: FormData) -> Draft:
        return draft_of(form, service.clock())

    def save(request: Request, draft: Draft, author: str) -> str:
        patient_id = request.path_params["id"]
        write(acting(service, request), patient_id, draft, author, service.clock())
        return part_path("vitals").replace("{id}", patient_id) + "#flowsheet"

    return recording.routes(web, PATH, TEMPLATE, shown=shown, blank=Draft, drafted=drafted, save=save)
