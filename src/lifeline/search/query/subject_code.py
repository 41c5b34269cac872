"""A subject's resources of one coded concept: driven by search_subject_code (issue 27).

`Observation?subject=Patient/1&code=http://loinc.org|2345-7` (or `patient=1`, `subject:Patient=1`),
on a type that keeps search_subject_code (search/extract/subject_code.py), reads its matches from
one range of that table's index rather than the patient's references probed for the code: the
two clauses drive the search together (storage/matching.SubjectCode), and with `_sort=-date` the
same range gives them newest first, a page at a time (storage/ordering.newest_first_query).

Only the forms whose matches are exactly one key of the index: one value each, a typed local
reference (a bare id may name several types) and a coding with both system and code (a bare code
may be in several systems). Anything else, or a clause over an element withheld from the
searcher, leaves the search to the index tables as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lifeline.search.extract import subject_code
from lifeline.search.query import reference, token
from lifeline.search.query.withheld import Withholding
from lifeline.search.registry import SearchRegistry
from lifeline.storage.matching import SubjectCode


class _Clause(Protocol):  # lifeline.search.query.SearchClause, which imports this module
    @property
    def code(self) -> str: ...
    @property
    def modifier(self) -> str | None: ...
    @property
    def values(self) -> list[str]: ...
    @property
    def link(self) -> object: ...


def find(
    resource_type: str, clauses: Sequence[_Clause], registry: SearchRegistry, withholding: Withholding | None
) -> tuple[SubjectCode, tuple[int, int]] | None:
    """The key the clauses select in search_subject_code, and which two clauses it stands for."""
    if not subject_code.applies(registry, resource_type):
        return None
    subject: tuple[str, str, int] | None = None
    coding: tuple[str, str, int] | None = None
    for i, item in enumerate(clauses):
        if item.link is not None or len(item.values) != 1:
            continue
        param = registry.get(resource_type, item.code)
        if param is None or (withholding is not None and withholding.covers(param)):
            continue
        if subject is None and item.code in (subject_code.SUBJECT, "patient"):
            subject = _subject(resource_type, item, registry, i)
        elif coding is None and item.code == subject_code.CODE and item.modifier is None:
            parsed = token.parse(item.values[0], None, param)
            if isinstance(parsed, tuple) and parsed[0] is not None and parsed[1] is not None:
                coding = (parsed[0], parsed[1], i)
    if subject is None or coding is None:
        return None
    key = SubjectCode(resource_type, subject[0], subject[1], coding[0], coding[1])
    return key, (subject[2], coding[2])


def _subject(resource_type: str, item: _Clause, registry: SearchRegistry, i: int) -> tuple[str, str, int] | None:
    param = registry.get(resource_type, item.code)
    assert param is not None
    if item.modifier is not None and item.modifier not in registry.resource_types:
        return None  # :missing, :identifier and the like
    target_type, target_id, url = reference.parse(item.values[0], item.modifier, param)
    if url is not None or target_id is None:
        return None
    if item.code == "patient":
        # `patient` is the subject when it is a Patient (R4's `X.subject.where(resolve() is Patient)`).
        if param.expression != f"{resource_type}.subject.where(resolve() is Patient)" or target_type not in (
            None,
            "Patient",
        ):
            return None
        target_type = "Patient"
    return (target_type, target_id, i) if target_type is not None else None
