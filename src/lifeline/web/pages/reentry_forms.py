"""What a clinician types from paper on the re-entry page (reentry.py, issue 23): a set of vital
signs, a note, a dose given, and a patient who was unknown. Each is checked here and made into
the resources the chart's own forms make (chart/vitals_form.py, note_form.py, given_form.py),
with the ORIGINAL time of care, allowed up to 30 days back (downtime/reentry.py OLDEST); the
re-entered tag and the downtime identifier are added when they are written (reentry.enter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from starlette.datastructures import FormData

from lifeline import jsontext
from lifeline.clock import COPENHAGEN
from lifeline.cpr import CPR_SYSTEM, is_valid_cpr
from lifeline.downtime.reentry import OLDEST
from lifeline.fhir.acting import Acting
from lifeline.web.login import form_text
from lifeline.web.pages.chart import form_key, note_form, vitals_form
from lifeline.web.pages.chart.form_key import KEY_SYSTEM
from lifeline.web.pages.chart.given_form import DOSE, ROUTES, UNITS
from lifeline.web.pages.chart.vitals_form import current_encounter, typed_moment, typed_number

DAYS = OLDEST.days
SEXES = ("female", "male", "other", "unknown")
_BORN = re.compile(r"\d{4}-\d{2}-\d{2}")
Made = list[tuple[dict[str, Any], str]]  # resources to write, each with its If-None-Exist


def vitals_draft(form: FormData, now: datetime) -> vitals_form.Draft:
    return vitals_form.draft_of(form, now, OLDEST)


def vitals(core: Acting, draft: vitals_form.Draft, patient_id: str, author: str, now: datetime) -> Made:
    moment = _moment(draft.when, now)
    encounter = current_encounter(core, patient_id)
    return vitals_form.observations(draft, patient_id, author, moment, now, encounter)


@dataclass
class Note:
    """A note from paper: the chart's note form (note_form.Draft) and when it was written."""

    draft: note_form.Draft = field(default_factory=note_form.Draft)
    when: str = ""

    @property
    def key(self) -> str:
        return self.draft.key

    @property
    def problems(self) -> dict[str, str]:
        return self.draft.problems

    def shown(self) -> dict[str, Any]:
        return {**self.draft.shown(), "when": self.when}


def note_draft(form: FormData, now: datetime) -> Note:
    note = Note(note_form.draft_of(form), form_text(form, "when").strip())
    _, problem = typed_moment(note.when, now, OLDEST)
    if problem:
        note.problems["when"] = problem
    return note


def note(core: Acting, note_: Note, patient_id: str, author: str, now: datetime) -> Made:
    """The chart's DocumentReference, written at the time on paper: its `date` is when it was
    entered, its context period and attachment creation the original time."""
    moment = _moment(note_.when, now)
    encounter = current_encounter(core, patient_id)
    body = note_form.document(note_.draft, patient_id, author, moment, encounter, {})
    body["date"] = now.astimezone(COPENHAGEN).isoformat(timespec="seconds")
    context = body.setdefault("context", {})
    context["period"] = {"start": moment.astimezone(COPENHAGEN).isoformat(timespec="seconds")}
    return [(body, f"identifier={KEY_SYSTEM}|{note_.draft.key}")]


@dataclass
class Dose:
    """A dose given, as written on paper: the medicine in words (the patient may have had no
    prescription in the record), the dose, unit and route, and when."""

    key: str = field(default_factory=form_key.new_key)
    medicine: str = ""
    dose: str = ""
    unit: str = "mg"
    route: str = ""
    when: str = ""
    problems: dict[str, str] = field(default_factory=dict)

    def shown(self) -> dict[str, Any]:
        return {"key": self.key, "medicine": self.medicine, "dose": self.dose, "unit": self.unit,
                "route": self.route, "when": self.when, "problems": self.problems}  # fmt: skip


def dose_draft(form: FormData, now: datetime) -> Dose:
    key, medicine, amount, unit, route, when = (
        form_text(form, n).strip()[:200] for n in ("key", "medicine", "dose", "unit", "route", "when")
    )
    draft = Dose(key, medicine, amount, unit, route, when)
    if not draft.medicine:
        draft.problems["medicine"] = "missing"
    if not draft.dose:
        draft.problems["dose"] = "missing"
    else:
        _, problem = typed_number(draft.dose, DOSE)
        if problem:
            draft.problems["dose"] = problem
    if draft.unit not in UNITS:
        draft.problems["unit"] = "missing"
    if draft.route not in ROUTES:
        draft.problems["route"] = "missing"
    _, problem = typed_moment(draft.when, now, OLDEST)
    if problem:
        draft.problems["when"] = problem
    form_key.check(draft)
    return draft


def dose(core: Acting, draft: Dose, patient_id: str, author: str, now: datetime) -> Made:
    """A completed MedicationAdministration of the medicine named on paper."""
    moment = _moment(draft.when, now)
    encounter = current_encounter(core, patient_id)
    typed = Decimal(draft.dose.replace(" ", "").replace(",", "."))
    value = jsontext.of_decimal(typed)
    route, danish = ROUTES[draft.route]
    body = {
        "resourceType": "MedicationAdministration",
        "identifier": [form_key.identifier(draft.key)],
        "status": "completed",
        "medicationCodeableConcept": {"text": draft.medicine},
        "subject": {"reference": f"Patient/{patient_id}"},
        **({"context": {"reference": f"Encounter/{encounter['id']}"}} if encounter else {}),
        "effectiveDateTime": moment.astimezone(COPENHAGEN).isoformat(timespec="seconds"),
        "performer": [{"actor": {"reference": author}}],
        "dosage": {
            "route": {"coding": [{"system": "http://snomed.info/sct", "code": draft.route, "display": route}],
                      "text": danish},
            "dose": {"value": value, "unit": UNITS[draft.unit], "system": "http://unitsofmeasure.org",
                     "code": draft.unit},
        },
    }  # fmt: skip
    return [(body, form_key.condition(draft.key))]


@dataclass
class Newcomer:
    """A patient unknown to the record: the name, and the CPR number and birth date if known."""

    FIELDS = ("family", "given", "cpr", "born", "sex")
    family: str = ""
    given: str = ""
    cpr: str = ""
    born: str = ""
    sex: str = "unknown"
    problems: dict[str, str] = field(default_factory=dict)

    def shown(self) -> dict[str, Any]:
        return {"family": self.family, "given": self.given, "cpr": self.cpr, "born": self.born, "sex": self.sex,
                "problems": self.problems}  # fmt: skip

    def patient(self) -> dict[str, Any]:
        """The Patient to register (the downtime identifier is added by reentry.register)."""
        name = {"use": "official", "family": self.family, **({"given": self.given.split()} if self.given else {})}
        digits = self.cpr.replace("-", "").replace(" ", "")
        return {
            "resourceType": "Patient",
            **({"identifier": [{"system": CPR_SYSTEM, "value": digits}]} if digits else {}),
            "name": [name],
            "gender": self.sex,
            **({"birthDate": self.born} if self.born else {}),
        }


def newcomer_draft(form: FormData, today: date) -> Newcomer:
    family, given, cpr, born, sex = (
        form_text(form, n).strip()[:100] for n in ("family", "given", "cpr", "born", "sex")
    )
    draft = Newcomer(family, given, cpr, born, sex)
    if not draft.family:
        draft.problems["family"] = "missing"
    digits = draft.cpr.replace("-", "").replace(" ", "")
    if digits and not (digits.isdecimal() and len(digits) == 10 and is_valid_cpr(digits)):
        draft.problems["cpr"] = "bad"
    if draft.born:
        try:
            if not _BORN.fullmatch(draft.born) or date.fromisoformat(draft.born) > today:
                draft.problems["born"] = "bad"
        except ValueError:
            draft.problems["born"] = "bad"
    if draft.sex not in SEXES:
        draft.problems["sex"] = "missing"
    return draft


def _moment(typed: str, now: datetime) -> datetime:
    moment, _ = typed_moment(typed, now, OLDEST)
    assert moment is not None  # the draft was checked
    return moment
