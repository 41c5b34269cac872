"""`/patients/{id}/notes`: the chart's notes (issue 21), newest first, each with its type, author,
department and whole text, filtered by type and department and paged; and the form that writes
one (note_form.py), posted to the same address and answered with a redirect back to the list
(POST-redirect-GET), so a reload never sends it again.

The notes are DocumentReferences whose text is a base64 text/plain attachment (R4 has no other
place for it: https://hl7.org/fhir/R4/documentreference.html); it is decoded here and shown as
text, never as markup. Everything is asked of the core as the clinician, as the chart's other
parts are (page.py): the filters and pages are FHIR search parameters and the core's own sealed
page cursors, and the note is written through the same audited, validated entry as an API call.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.routing import Route

from lifeline import jsontext
from lifeline.clock import today
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.web.login import WebLogin
from lifeline.web.pages import acting
from lifeline.web.pages.chart import header, note_form, recording, words
from lifeline.web.pages.chart.page import built_parts, chart_header, language, part_path

PATH = part_path("notes")
TEMPLATE = "chart/notes.html"
SHOWN = 20  # notes on one page; older ones a link away
PRESENT_READ = 500  # the notes read for the filters' choices: a long life's worth
READABLE = ("text/plain", "text/markdown")  # shown as they are; anything else only named


@dataclass(frozen=True)
class Chosen:
    """What the reader asked for: a type (a LOINC token), a department (Organization/id), a page
    (the core's sealed cursor), the note just written."""

    type: str = ""
    department: str = ""
    page: str = ""
    written: str = ""

    @classmethod
    def of(cls, query: QueryParams) -> Chosen:
        return cls(*(query.get(name, "")[:2000] for name in ("type", "department", "page", "written")))

    def link(self, cursor: str | None = None) -> str:
        kept = [("type", self.type), ("department", self.department), ("page", cursor or "")]
        query = urlencode([(name, value) for name, value in kept if value])
        return "?" + query if query else "?"


def notes(
    core: Acting,
    patient_id: str,
    today_: date,
    language_: str,
    built: frozenset[str],
    chosen: Chosen,
    draft: note_form.Draft,
) -> dict[str, Any]:
    """What the notes part shows of `patient_id` to the person `core` acts as: the header, the
    choices of the filters (from the notes there are), one page of the chosen notes, and the form."""
    read, top = chart_header(core, patient_id, today_, language_, built, showing="notes")
    present, organisations = read.search(
        "DocumentReference",
        ("status", "current"),
        ("_include", "DocumentReference:custodian"),
        ("_sort", "-date"),
        ("_count", str(PRESENT_READ)),
    )
    partial = read.more  # a record of more notes than that: the choices are from the newest
    types, departments = choices(present, organisations)
    shown: list[dict[str, Any]] = []
    paging: dict[str, str | None] = {"newer": None, "older": None, "newest": None}
    if (not chosen.type or chosen.type in types) and (not chosen.department or chosen.department in departments):
        bundle = searched(core, patient_id, criteria(chosen))
        included = {_key(r): r for r in entries_of(bundle, "include")}
        shown = [note(d, included, language_) for d in entries_of(bundle, "match")]
        cursors = page_cursors(bundle)
        paging = {
            "newer": chosen.link(cursors["previous"]) if cursors.get("previous") else None,
            "older": chosen.link(cursors["next"]) if cursors.get("next") else None,
            "newest": chosen.link() if chosen.page else None,
        }
    return {
        **top,
        "notes": shown,
        "filters": {
            "partial": partial,
            "read": PRESENT_READ,
            "type": chosen.type,
            "department": chosen.department,
            "types": [{"value": k, **v} for k, v in sorted(types.items(), key=lambda kv: kv[1]["label"].lower())],
            "departments": [
                {"value": k, **v} for k, v in sorted(departments.items(), key=lambda kv: kv[1]["label"].lower())
            ],
        },
        "total": len(present),
        "paging": paging,
        "written": chosen.written if any(n["id"] == chosen.written for n in shown) else "",  # said of a note shown
        "form": {
            **draft.shown(),
            "mostText": words.number(note_form.MOST_CHARACTERS, language_),
            "lengthText": words.number(len(draft.text), language_),
        },
        "language": language_,
    }


def criteria(chosen: Chosen, shown: int = SHOWN) -> list[tuple[str, str]]:
    """The search of a page of current notes, newest first, with their authors and departments
    (the portal's notes page asks the same, without filters)."""
    criteria = [
        ("status", "current"),
        ("_sort", "-date"),
        ("_count", str(shown)),
        ("_include", "DocumentReference:author"),
        ("_include", "DocumentReference:custodian"),
        ("_include:iterate", "PractitionerRole:practitioner"),
    ]
    if chosen.type:
        criteria.append(("type", chosen.type))
    if chosen.department:
        criteria.append(("custodian", chosen.department))
    if chosen.page:
        criteria.append(("_page", chosen.page))
    return criteria


def choices(
    present: list[dict[str, Any]], organisations: dict[str, dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The filters' choices, from the notes there are: each type (by its first code, as a search
    token) and each department (the custodian), with its name and how many notes it has."""
    types: dict[str, dict[str, Any]] = {}
    departments: dict[str, dict[str, Any]] = {}
    for document in present:
        kind = document.get("type") or {}
        coding = next((c for c in kind.get("coding") or [] if c.get("code")), None)
        if coding is not None:
            token = f"{coding.get('system', '')}|{coding['code']}" if coding.get("system") else str(coding["code"])
            loinc = coding["code"] if coding.get("system") == note_form.LOINC else None
            types.setdefault(token, {"label": words.concept(kind), "loinc": loinc, "count": 0})["count"] += 1
        custodian = document.get("custodian") or {}
        reference = custodian.get("reference")
        if isinstance(reference, str) and reference.startswith("Organization/"):
            name = organisations.get(reference, {}).get("name") or custodian.get("display") or reference
            departments.setdefault(reference, {"label": str(name), "count": 0})["count"] += 1
    return types, departments


def note(document: dict[str, Any], included: dict[str, dict[str, Any]], language_: str) -> dict[str, Any]:
    """One note as the clinician reads it."""
    attachment = next((c.get("attachment") or {} for c in document.get("content") or []), {})
    moment = document.get("date") or attachment.get("creation") or (document.get("meta") or {}).get("lastUpdated")
    custodian = document.get("custodian") or {}
    department = included.get(custodian.get("reference", ""), {}).get("name") or custodian.get("display")
    title = attachment.get("title") or document.get("description")
    kind = words.concept(document.get("type"))
    return {
        "id": document.get("id"),
        "type": kind,
        "loinc": words.coded(document.get("type"), note_form.LOINC),  # the template names the known ones
        "title": title if title and title != kind else None,
        "when": words.when(moment, language_),
        "authors": [author(a, included) for a in document.get("author") or []],
        "department": department,
        "docStatus": document.get("docStatus"),
        **text_of(attachment),
    }


def author(reference: dict[str, Any], included: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Who wrote a note: the Practitioner's name, through their role where the note names that
    (with the role, "Læge"), else the reference's own words."""
    target = included.get(reference.get("reference", ""), {})
    role = None
    if target.get("resourceType") == "PractitionerRole":
        role = words.concept((target.get("code") or [None])[0]) or None
        practitioner = target.get("practitioner") or {}
        person = included.get(practitioner.get("reference", ""), {})
        name = header.name(person) if person else practitioner.get("display")
    elif target.get("resourceType") == "Practitioner":
        name = header.name(target)
    else:
        name = None
    return {"name": name or reference.get("display") or None, "role": role}


def text_of(attachment: dict[str, Any]) -> dict[str, Any]:
    """The note's text, decoded from its attachment (the charset its content type names, UTF-8
    if none); `text` None when it cannot be shown here, with the format it is in."""
    media, _, parameters = str(attachment.get("contentType") or "text/plain").partition(";")
    media = media.strip().lower()
    charset = "utf-8"
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    data = attachment.get("data")
    if media not in READABLE or not isinstance(data, str):
        return {"text": None, "format": media, "elsewhere": bool(attachment.get("url"))}
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return {"text": None, "format": media, "elsewhere": False}
    try:
        text = raw.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        text = raw.decode("utf-8", errors="replace")
    return {"text": text.replace("\r\n", "\n").replace("\r", "\n"), "format": media, "elsewhere": False}


def routes(web: WebLogin, paths: Callable[[], set[str]] = set) -> list[Route]:
    """The notes page and its form; `paths` gives the app's route paths (the chart's parts)."""
    service = web.service

    def shown(request: Request, draft: note_form.Draft) -> dict[str, Any]:
        values = notes(
            acting(service, request),
            request.path_params["id"],
            today(service.clock),
            language(),
            built_parts(paths()),
            Chosen.of(request.query_params),
            draft,
        )
        return {**values, "csrf": request.user.csrf}

    def save(request: Request, draft: note_form.Draft, author: str) -> str:
        patient_id = request.path_params["id"]
        note_id = note_form.write(acting(service, request), patient_id, draft, author, service.clock())
        where = part_path("notes").replace("{id}", patient_id)
        return f"{where}?{urlencode({'written': note_id})}#note-{note_id}"

    def drafted(request: Request, form: FormData) -> note_form.Draft:
        return note_form.draft_of(form)

    return recording.routes(web, PATH, TEMPLATE, shown=shown, blank=note_form.Draft, drafted=drafted, save=save)


def searched(core: Acting, patient_id: str, criteria: list[tuple[str, str]]) -> dict[str, Any]:
    """The DocumentReferences of `patient_id` that `criteria` ask for, searched as the person."""
    answer = core.handle(FhirRequest("search", "DocumentReference", params=[("patient", patient_id), *criteria]))
    # Entries hold the stored JSON as it is (orjson fragments): read them as data.
    bundle = orjson.loads(jsontext.dumps(answer.resource or {}))
    return bundle if isinstance(bundle, dict) else {}


def entries_of(bundle: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if (e.get("search") or {}).get("mode") == mode and isinstance(e.get("resource"), dict)
    ]


def _key(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def page_cursors(bundle: dict[str, Any]) -> dict[str, str]:
    """The core's page cursors of a search Bundle's links, by relation (previous, next)."""
    found = {}
    for link in bundle.get("link", []):
        cursor = parse_qs(urlsplit(str(link.get("url", ""))).query).get("_page")
        if cursor and link.get("relation") in ("previous", "next"):
            found[str(link["relation"])] = cursor[0]
    return found
