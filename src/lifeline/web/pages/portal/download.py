"""Download the whole record (issue 25): the patient's `Patient/{id}/$everything`, asked through
the core as the patient, so the same access rule and audit trail apply as to the API; as one FHIR
Bundle (JSON) and as a readable PDF made from that same Bundle (record_pdf.py).
https://hl7.org/fhir/R4/patient-operation-everything.html

One copy is one consistent state of the record: `$everything` pages by type and id (keyset), so a
change between two pages cannot repeat or shift an entry, and once all pages are read the record
is asked whether anything of it changed since the first page (`_since`); if so, the copy is made
again, and after `ATTEMPTS` busy tries the patient is told to try again in a moment (409), never a
half copy or a 500. (A deletion during a copy is not seen by `_since`: the copy is then as the
record stood when its first page was read, the deleted resource included.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from lifeline import jsontext
from lifeline.errors import Conflict
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest

ATTEMPTS = 3
# A write that began before the copy's first page may be stamped a moment before it; looking back
# this far finds it (a change found this way only makes the copy again).
SETTLE = timedelta(seconds=5)
BUSY = "Your record was being changed while the copy was made. Nothing was sent: try again in a moment."


def everything_page(core: Acting, patient_id: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    """One page of `$everything` as the person `core` acts as may see it, as plain data."""
    request = FhirRequest("operation", "Patient", patient_id, operation="$everything", params=params)
    answer = core.handle(request)
    return dict(orjson.loads(jsontext.dumps(answer.resource or {})))


def whole_record(core: Acting, patient_id: str, made: datetime) -> dict[str, Any]:
    """The whole record of `patient_id` as one Bundle (`made`: the copy's time, the core's
    clock); Conflict when it keeps changing while it is read."""
    page_size = str(core.service.settings.max_count)
    for _ in range(ATTEMPTS):
        began = core.service.clock() - SETTLE
        entries: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            params = [("_count", page_size), *([("_page", cursor)] if cursor else [])]
            page = everything_page(core, patient_id, params)
            for entry in page.get("entry") or []:
                resource = entry.get("resource") or {}
                key = f"{resource.get('resourceType')}/{resource.get('id')}"
                if (entry.get("search") or {}).get("mode") == "match" or key not in entries:
                    entries[key] = entry  # a resource referenced from two pages is in the copy once
            cursor = _next_page(page)
            if cursor is None:
                break
        changed = everything_page(core, patient_id, [("_since", _instant(began)), ("_count", "1")])
        if not changed.get("entry"):
            return {
                "resourceType": "Bundle",
                "type": "searchset",
                "timestamp": _instant(made),
                "total": sum(1 for e in entries.values() if (e.get("search") or {}).get("mode") == "match"),
                "entry": list(entries.values()),
            }
    raise Conflict(BUSY)


def _next_page(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if link.get("relation") == "next":
            pages = parse_qs(urlsplit(str(link.get("url"))).query).get("_page") or []
            return pages[0] if pages else None
    return None


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def resources(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The Bundle's resources by type."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        by_type.setdefault(str(resource.get("resourceType")), []).append(resource)
    return by_type


def file_name(made: datetime, extension: str) -> str:
    return f"lifeline-record-{made.date().isoformat()}.{extension}"
