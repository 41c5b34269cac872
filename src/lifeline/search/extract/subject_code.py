"""search_subject_code: a resource's subjects and codes, each pair with the resource's latest date.

The clinician's commonest question of the record, "this patient's results of this test, newest
first" (`Observation?subject=Patient/1&code=http://loinc.org|2345-7&_sort=-date`), needs three
parameters of three index tables together. Each holds rows per parameter, so a search found
every match of the patient, probed the code and the date of each, and sorted them all for a page
of 50: in proportion to the patient's results, 0.5 s for one with 40,000 (issue 27). This
table holds the three together, so that its index serves the filter and the order at once
(lifeline.search.query.subject_code).

Kept for the types that have all three parameters (`subject` a reference, `code` a token, `date`
a date: Observation, DiagnosticReport, Procedure, MedicationRequest, List), from the entries the
other tables receive: one row per typed local subject and coding with both system and code.
"""

from __future__ import annotations

from lifeline.search.registry import SearchRegistry
from lifeline.storage.index_rows import NO_DATE, DateEntry, ReferenceEntry, SubjectCodeEntry, TokenEntry

SUBJECT, CODE, DATE = "subject", "code", "date"


def applies(registry: SearchRegistry, resource_type: str) -> bool:
    """Whether resources of the type get search_subject_code rows."""
    params = registry.params_for(resource_type)
    kinds = {SUBJECT: "reference", CODE: "token", DATE: "date"}
    return all((param := params.get(code)) is not None and param.type == kind for code, kind in kinds.items())


def entries(
    tokens: list[TokenEntry], dates: list[DateEntry], references: list[ReferenceEntry]
) -> list[SubjectCodeEntry]:
    """The rows of a resource, from its other entries (the same for a write and a reindex)."""
    subjects: list[tuple[str, str]] = []
    for r in references:
        if r.param == SUBJECT and r.target_type is not None and r.target_id is not None:
            subjects.append((r.target_type, r.target_id))
    codes: list[tuple[str, str]] = []
    for t in tokens:
        if t.param == CODE and t.system is not None and t.code is not None:
            codes.append((t.system, t.code))
    if not subjects or not codes:
        return []
    latest = max((d.high for d in dates if d.param == DATE), default=NO_DATE)
    pairs = dict.fromkeys((s, c) for s in subjects for c in codes)  # a repeated coding is one row
    return [SubjectCodeEntry(s[0], s[1], c[0], c[1], latest) for s, c in pairs]
