"""After a downtime (issue 23): the identifiers each label sheet issued (labels.py), each linked to
the real patient afterwards, and what was written on paper against it entered into the record.

The identifiers issued, the links and a list of what was entered are node-local rows
(storage/downtime_rows.py, migration 15): the sheet is printed by the site node and re-entered
there, and the list of what is still to re-enter is bookkeeping, not the record. Everything of
the record goes through the core as the clinician (fhir/acting.py), authorised and audited:

- linking adds the downtime identifier to the Patient (`identifier` system `urn:lifeline:downtime`,
  period start the moment of linking), so the record itself says which paper notes are this
  patient's; the core allows it only to staff who may write for the patient, and makes it a
  security event for the privacy officers' review (a Patient's identifiers decide access:
  access/deciding.py), as a wrong link would put one patient's notes in another's record;
- registering a patient who was unknown creates the Patient with the identifier, once (a
  conditional create on it);
- what was entered is one transaction Bundle per form, each resource tagged `re-entered`
  (`meta.tag` system `urn:lifeline:downtime`) and carrying the downtime identifier, its time the
  original time of care.
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from lifeline.clock import fhir_instant
from lifeline.downtime import labels
from lifeline.downtime.read import DowntimeError
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession

SYSTEM = "urn:lifeline:downtime"
RE_ENTERED = {"system": SYSTEM, "code": "re-entered", "display": "Re-entered after a downtime"}
OLDEST = timedelta(days=30)  # paper older than this is scanned into the record, not typed again
SHEETS = 100  # label sheets the report lists at most (a site makes one every run)
KINDS = ("vitals", "note", "dose")
_SPACES = re.compile(r"[\s\u2010-\u2015]+")  # spaces, and dashes a scanner or a phone may send


@dataclass
class Entry:
    """What one form entered against an identifier."""

    kind: str
    resources: list[str]
    care_time: str
    entered_by: str
    entered_at: str


@dataclass
class Label:
    """One identifier a sheet issued, the patient it was linked to, and what was entered."""

    identifier: str
    site: str
    sheet: str
    patient_id: str | None = None
    linked_by: str | None = None
    linked_at: str | None = None
    entries: list[Entry] = field(default_factory=list)

    @property
    def state(self) -> str:
        """`to-link` (given out or not: the paper tells), `to-enter` (linked, nothing entered
        yet) or `entered`."""
        if self.patient_id is None:
            return "to-link"
        return "entered" if self.entries else "to-enter"


def typed(text: str) -> str:
    """An identifier as typed or scanned: upper case, with the dashes made plain, no spaces."""
    return _SPACES.sub(lambda m: "-" if m.group(0).strip() else "", text.strip().upper())[:60]


def checked(repo: Repository, text: str) -> tuple[str, Label | None, str | None]:
    """The identifier typed, its row, or the reason it cannot be taken: `missing`, `format`,
    `check` (a digit miscopied: the check digit does not match) or `unknown` (never issued here)."""
    identifier = typed(text)
    if not identifier:
        return identifier, None, "missing"
    if labels.FORM.fullmatch(identifier) is None:
        return identifier, None, "format"
    if not labels.valid(identifier):
        return identifier, None, "check"
    found = label(repo, identifier)
    return identifier, found, None if found is not None else "unknown"


def issue(repo: Repository, site: str, made: datetime, identifiers: list[str]) -> int:
    """Record the identifiers of a sheet made at `made`; how many were new."""

    def work(session: WriteSession) -> int:
        return sum(session.insert_downtime_label(i, site, fhir_instant(made)) for i in identifiers)

    return repo.write(work)[0]


def label(repo: Repository, identifier: str) -> Label | None:
    with repo.reading() as session:
        rows = session.downtime_label_rows(identifier=identifier)
        entries = session.downtime_entry_rows([identifier]) if rows else []
    return _labels(rows, entries)[0] if rows else None


def issued(repo: Repository, now: datetime, sheets: int = SHEETS) -> list[Label]:
    """The identifiers of the newest `sheets` sheets made in the last 30 days, the newest sheet
    first, with what was entered against each."""
    with repo.reading() as session:
        rows = session.downtime_label_rows(since=fhir_instant(now - OLDEST), sheets=sheets)
        entries = session.downtime_entry_rows([r[0] for r in rows if r[3] is not None])
    return _labels(rows, entries)


def _labels(rows: list[Any], entries: list[Any]) -> list[Label]:
    found = {row[0]: Label(*row) for row in rows}
    for identifier, _, kind, resources, care_time, by, at in entries:
        if identifier in found:
            found[identifier].entries.append(Entry(kind, resources.split(), care_time, by, at))
    return list(found.values())


def pending_first(found: list[Label]) -> list[Label]:
    """Linked with nothing entered first, then those not linked, then the rest; each part in
    the order given (the newest sheet first)."""
    order = {"to-enter": 0, "to-link": 1, "entered": 2}
    return sorted(found, key=lambda each: order[each.state])


def marked(resource: dict[str, Any], identifier: str) -> dict[str, Any]:
    """`resource` tagged as re-entered and carrying the downtime identifier."""
    shown = copy.deepcopy(resource)
    meta = shown.setdefault("meta", {})
    meta["tag"] = [*(meta.get("tag") or []), dict(RE_ENTERED)]
    shown["identifier"] = [*(shown.get("identifier") or []), {"system": SYSTEM, "value": identifier}]
    return shown


def link(core: Acting, repo: Repository, found: Label, patient_id: str, by: str, now: datetime) -> None:
    """Link `found` to `patient_id` as the clinician: the identifier added to the Patient through
    the core (which refuses a patient the clinician may not write for), then the link recorded."""
    if found.patient_id not in (None, patient_id):
        raise DowntimeError(f"{found.identifier} is linked to another patient already")
    answer = core.handle(FhirRequest("read", "Patient", patient_id))
    patient = orjson.loads(answer.raw) if answer.raw is not None else dict(answer.resource or {})
    held = [i for i in patient.get("identifier") or [] if i.get("system") == SYSTEM]
    if not any(i.get("value") == found.identifier for i in held):
        patient["identifier"] = [*(patient.get("identifier") or []), downtime_identifier(found.identifier, now)]
        version = (patient.get("meta") or {}).get("versionId")
        core.handle(
            FhirRequest("update", "Patient", patient_id, body=patient, if_match=f'W/"{version}"' if version else None)
        )
    _record_link(repo, found, patient_id, by, now)


def register(core: Acting, repo: Repository, found: Label, patient: dict[str, Any], by: str, now: datetime) -> str:
    """Register `patient` (a Patient without id) carrying the downtime identifier, once: sent
    twice, the core finds the one the first send made. The new Patient's id."""
    body = {**patient, "identifier": [*(patient.get("identifier") or []), downtime_identifier(found.identifier, now)]}
    answer = core.handle(
        FhirRequest("create", "Patient", body=body, if_none_exist=f"identifier={SYSTEM}|{found.identifier}")
    )
    written = orjson.loads(answer.raw) if answer.raw is not None else answer.resource or {}
    patient_id = str(written.get("id") or "")
    _record_link(repo, found, patient_id, by, now)
    return patient_id


def downtime_identifier(identifier: str, now: datetime) -> dict[str, Any]:
    return {"use": "secondary", "system": SYSTEM, "value": identifier, "period": {"start": fhir_instant(now)}}


def _record_link(repo: Repository, found: Label, patient_id: str, by: str, now: datetime) -> None:
    repo.write(lambda session: session.link_downtime_label(found.identifier, patient_id, by, fhir_instant(now)))


def enter(
    core: Acting,
    repo: Repository,
    found: Label,
    entry: tuple[str, str, datetime],
    resources: list[tuple[dict[str, Any], str]],
    by: str,
    now: datetime,
) -> list[str]:
    """Write what one form entered (`entry`: its kind, its one-time key and the original time of
    care) as one transaction of conditional creates (`resources`: each with its If-None-Exist),
    each marked re-entered; then list it against the identifier. The references written."""
    kind, key, care_time = entry
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": marked(resource, found.identifier),
             "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": condition}}
            for resource, condition in resources
        ],
    }  # fmt: skip
    answer = core.handle(FhirRequest("transaction", body=bundle))
    result = orjson.loads(answer.raw) if answer.raw is not None else answer.resource or {}
    written = [
        "/".join(str((e.get("response") or {}).get("location") or "").split("/")[:2]) for e in result.get("entry") or []
    ]
    written = [w for w in written if w]
    values = (found.identifier, key, kind, " ".join(written),
              fhir_instant(care_time), by, fhir_instant(now))  # fmt: skip
    repo.write(lambda session: session.insert_downtime_entry(values))
    return written
