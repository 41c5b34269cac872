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
from lifeline.search.registry import SearchParameter, SearchRegistry
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
            found = _subject(resource_type, item, param, registry)
            subject = None if found is None else (*found, i)
        elif coding is None and item.code == subject_code.CODE and item.modifier is None:
            pair = _coding(item.values[0], param)
            coding = None if pair is None else (*pair, i)
    if subject is None or coding is None:
        return None
    key = SubjectCode(resource_type, subject[0], subject[1], coding[0], coding[1])
    return key, (subject[2], coding[2])


def _subject(
    resource_type: str, item: _Clause, param: SearchParameter, registry: SearchRegistry
) -> tuple[str, str] | None:
    """The typed local subject (type, id) a `subject` or `patient` clause names, or None."""
    if item.modifier is not None and item.modifier not in registry.resource_types:
        return None  # :missing, :identifier and the like
    target_type, target_id, url = reference.parse(item.values[0], item.modifier, param)
    if url is not None or target_id is None:
        return None
    if item.code == "patient":
        if not _patient_is_subject(param, resource_type) or target_type not in (None, "Patient"):
            return None
        target_type = "Patient"
    return (target_type, target_id) if target_type is not None else None


def _patient_is_subject(param: SearchParameter, resource_type: str) -> bool:
    """Whether the type's `patient` parameter is its subject when that is a Patient (R4's
    `X.subject.where(resolve() is Patient)`), so that search_subject_code's rows answer it."""
    return param.expression == f"{resource_type}.subject.where(resolve() is Patient)"


def _coding(value: str, param: SearchParameter) -> tuple[str, str] | None:
    """(system, code) of a token value with both parts, the only form that is one key; or None."""
    parsed = token.parse(value, None, param)
    if not isinstance(parsed, tuple) or parsed[0] is None or parsed[1] is None:
        return None
    return parsed[0], parsed[1]


def has_condition(
    resource_type: str,
    source: str,
    param_code: str,
    final_code: str,
    final_modifier: str | None,
    values: list[str],
    registry: SearchRegistry,
    withholding: Withholding | None,
) -> tuple[str, list[object]] | None:
    """`_has:Observation:patient:code=system|code` as one probe of search_subject_code's index per
    resource searched (an EXISTS over `resource r`), or None where the table cannot answer it.

    The reverse chain otherwise finds every `source` resource with the code, then the resources
    they point at: in proportion to the code's resources in the whole region (2.3 s at p95 for a
    common code on 11,000 patients, bench/search.py (i)). The probe is in proportion to the
    resources searched, one index lookup each, and stops with the page when the total is not
    asked for. Only one value, a coding with both system and code, through `subject` (or
    `patient`, the subject when it is a Patient) of a type that keeps the table."""
    if final_code != subject_code.CODE or final_modifier is not None or len(values) != 1:
        return None
    if not subject_code.applies(registry, source) or param_code not in (subject_code.SUBJECT, "patient"):
        return None
    reference_param = registry.get(source, param_code)
    code_param = registry.get(source, final_code)
    if reference_param is None or code_param is None:
        return None
    if withholding is not None and withholding.covers(code_param):
        return None
    if param_code == "patient" and (resource_type != "Patient" or not _patient_is_subject(reference_param, source)):
        return None
    pair = _coding(values[0], code_param)
    if pair is None:
        return None
    sql = (
        "EXISTS (SELECT 1 FROM search_subject_code c WHERE c.res_type = ? AND c.subject_id = r.res_id"
        " AND c.code = ? AND c.system = ? AND c.subject_type = ?)"
    )
    return sql, [source, pair[1], pair[0], resource_type]
