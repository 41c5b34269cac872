"""Writing a note in the chart (issue 21, "Record care"): the form's check, and the
DocumentReference it becomes (https://hl7.org/fhir/R4/documentreference.html), shaped as the
generator writes notes (generate/documents.py) so the reader shows both alike: status current, the
text base64 in a text/plain attachment, the department as custodian, the stay as context.

A form sent twice (a double click, the back button, a retry after a timeout) writes one note: each
form carries a one-time key, the note carries it as an identifier, and the create is conditional
(If-None-Exist, https://hl7.org/fhir/R4/http.html#ccreate), so the core answers the second time
with the note the first one wrote. That is the core's own rule, under its lock, and holds at a site
node too, where the create is written through to the centre with its condition.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from starlette.datastructures import FormData

from lifeline.clock import COPENHAGEN
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.web.login import form_text
from lifeline.web.pages.chart import form_key, header
from lifeline.web.pages.chart.form_key import KEY_SYSTEM, new_key
from lifeline.web.pages.chart.page import Reader

LOINC = "http://loinc.org"
MOST_CHARACTERS = 100_000  # a long discharge summary is a few thousand
PLAIN_TEXT = "text/plain; charset=utf-8"
# The kinds of note a clinician writes here: LOINC code -> (LOINC's name, the record's Danish
# title), those the generated record holds (generate/documents.py).
NOTE_TYPES = {
    "11506-3": ("Progress note", "Ambulant notat"),
    "34117-2": ("History and physical note", "Indlæggelsesnotat"),
    "18842-5": ("Discharge summary", "Epikrise"),
    "34111-5": ("Emergency department note", "Akutnotat"),
}
DEFAULT_TYPE = "11506-3"


@dataclass
class Draft:
    """The form as the clinician filled it in, and what is wrong with it (field -> a problem's
    name, which the template words: `empty`, `too-long`, `unknown`, `missing`, `refused`)."""

    key: str = field(default_factory=new_key)
    type: str = DEFAULT_TYPE
    text: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    refusal: str = ""  # the core's words when it refused the note

    def shown(self) -> dict[str, Any]:
        types = [{"code": code, "name": name} for code, (name, _) in NOTE_TYPES.items()]
        return {"key": self.key, "type": self.type, "text": self.text, "problems": self.problems,
                "refusal": self.refusal, "types": types, "most": MOST_CHARACTERS}  # fmt: skip


def draft_of(form: FormData) -> Draft:
    """The posted form, checked. The text is kept as typed but for the browser's line ends."""
    text = form_text(form, "text").replace("\r\n", "\n").replace("\r", "\n")
    draft = Draft(key=form_text(form, "key"), type=form_text(form, "type"), text=text)
    if not text.strip():
        draft.problems["text"] = "empty"
    elif len(text) > MOST_CHARACTERS:
        draft.problems["text"] = "too-long"
    if draft.type not in NOTE_TYPES:
        draft.problems["type"] = "unknown"
    form_key.check(draft)
    return draft


def write(core: Acting, patient_id: str, draft: Draft, author: str, now: datetime) -> str:
    """Write `draft` as a note on `patient_id` by `author` (Practitioner/id) at `now`, or find
    the one its key already wrote; the note's id. The patient is read first: outside the
    clinician's care that is `Withheld`, and nothing is written."""
    read = Reader(core, patient_id)
    read.read_patient()
    encounters, places = read.search("Encounter", ("status", "in-progress"), ("_include", "Encounter:service-provider"))
    stay = header.stay(encounters, places, "en")
    current = next((e for e in encounters if stay and e.get("id") == stay["encounter"]), None)
    body = document(draft, patient_id, author, now, current, places)
    asking = FhirRequest("create", "DocumentReference", body=body, if_none_exist=f"identifier={KEY_SYSTEM}|{draft.key}")
    answer = core.handle(asking)
    written = orjson.loads(answer.raw) if answer.raw is not None else answer.resource or {}
    return str(written.get("id") or "")


def document(
    draft: Draft,
    patient_id: str,
    author: str,
    now: datetime,
    encounter: dict[str, Any] | None,
    included: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The DocumentReference of a note; its department and stay are the current encounter's."""
    name, title = NOTE_TYPES[draft.type]
    when = now.astimezone(COPENHAGEN).isoformat(timespec="seconds")
    attachment = {
        "contentType": PLAIN_TEXT,
        "data": base64.b64encode(draft.text.encode()).decode(),
        "title": title,
        "creation": when,
    }
    note: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "identifier": [{"system": KEY_SYSTEM, "value": draft.key}],
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [{"system": LOINC, "code": draft.type, "display": name}], "text": title},
        "subject": {"reference": f"Patient/{patient_id}"},
        "date": when,
        "author": [{"reference": author}],
        "description": title,
        "content": [{"attachment": attachment}],
    }
    if encounter is not None:
        provider = encounter.get("serviceProvider") or {}
        if provider.get("reference"):
            department = included.get(provider["reference"], {}).get("name") or provider.get("display")
            note["custodian"] = {"reference": provider["reference"], **({"display": department} if department else {})}
        note["context"] = {"encounter": [{"reference": f"Encounter/{encounter['id']}"}]}
    return note
