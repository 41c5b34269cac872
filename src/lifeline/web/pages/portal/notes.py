"""`/portal/notes`: the notes the hospitals have written about the patient (issue 25), newest
first, each with its kind, who wrote it, the department and the whole text, `SHOWN` to a page.

A note is shown once it is released to the patient: signed (`docStatus` final or amended; a
preliminary note is the clinician's draft) and current (neither superseded by a newer version of
the document nor entered in error). R4 has no search parameter for `docStatus`, so the draft is
left out here, after the search; Lifeline's own note form writes signed notes only
(chart/note_form.py), so a draft is a note from another system. Notes are DocumentReferences whose
text is a text attachment, decoded and shown as text, never as markup (chart/notes.py).

Everything is asked of the core as the patient (or the parent acting for a child): the access rule
decides what comes back, the pages are the core's own sealed cursors (a cursor of another person's
search is refused by the core), and every page is on the audit trail as the patient's.
https://hl7.org/fhir/R4/documentreference.html
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from lifeline.fhir.acting import Acting
from lifeline.web.pages.chart import notes as chart_notes
from lifeline.web.pages.chart.notes import entries_of, page_cursors

PATH = "/portal/notes"
SHOWN = 10  # notes on one page: they are long, and read on a phone
RELEASED = ("final", "amended", None)  # docStatus of a signed note (none given: the system signs all)


def notes(core: Acting, patient_id: str, language_: str, cursor: str = "") -> dict[str, Any]:
    """One page of the released notes of `patient_id`, read as the person `core` acts as."""
    # The core judges the cursor: another's, altered or expired is a clear 400.
    bundle = chart_notes.searched(core, patient_id, chart_notes.criteria(chart_notes.Chosen(page=cursor[:2000]), SHOWN))
    included = {f"{r.get('resourceType')}/{r.get('id')}": r for r in entries_of(bundle, "include")}
    shown = [
        chart_notes.note(document, included, language_)
        for document in entries_of(bundle, "match")
        if document.get("docStatus") in RELEASED
    ]
    cursors = page_cursors(bundle)
    return {
        "notes": shown,
        "paging": {
            "newer": _link(cursors["previous"]) if cursors.get("previous") else None,
            "older": _link(cursors["next"]) if cursors.get("next") else None,
            "newest": PATH if cursor else None,
        },
        "language": language_,
    }


def _link(cursor: str) -> str:
    return f"{PATH}?{urlencode({'page': cursor})}"
