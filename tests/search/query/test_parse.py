"""parse_query: clauses, unknown names, ignored result parameters and BadRequest on bad values.

https://hl7.org/fhir/R4/search.html#errors — malformed values and unsupported modifiers are
errors; unknown parameters are left to the caller's lenient or strict handling.
"""

from __future__ import annotations

import pytest

from lifeline.errors import BadRequest
from lifeline.search.query import SearchClause, compile_match, compile_where, parse_query
from lifeline.search.query.chain import Chain, Final, Has
from lifeline.search.registry import default_registry
from lifeline.storage.matching import SubjectCode, source
from lifeline.storage.param_numbers import number

REGISTRY = default_registry()


def parse(resource_type: str, *params: tuple[str, str]) -> tuple[list[SearchClause], list[str]]:
    return parse_query(resource_type, list(params), REGISTRY)


def test_clause_per_parameter_with_modifier_and_or_values() -> None:
    clauses, unknown = parse("Patient", ("name:exact", "Søren,Åse"), ("gender", "male"))
    assert clauses == [SearchClause("name", "exact", ["Søren", "Åse"]), SearchClause("gender", None, ["male"])]
    assert unknown == []


def test_escaped_comma_is_not_an_or() -> None:
    clauses, _ = parse("Patient", ("name", r"a\,b,c"))
    assert clauses[0].values == [r"a\,b", "c"]


def test_empty_values_are_ignored() -> None:
    assert parse("Patient", ("name", ""), ("gender", ",male,")) == ([SearchClause("gender", None, ["male"])], [])


@pytest.mark.parametrize("name", ["_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total"])
def test_result_parameters_are_ignored(name: str) -> None:
    assert parse("Patient", (name, "x")) == ([], [])


@pytest.mark.parametrize(
    ("resource_type", "name"),
    [
        ("Patient", "nonsense"),
        ("Patient", "_text"),  # no expression in R4
        ("Patient", "_query"),
        ("Location", "near"),  # special
        ("Observation", "nonsense.name"),  # the head of a chain is unknown
        ("Patient", "_has:NoSuchType:patient:code"),
        ("Patient", "_has:Observation:nonsense:code"),
        ("Patient", "_has:Observation:patient:nonsense"),
        ("Patient", "_has:Observation:patient:_has:AuditEvent:nonsense:agent"),
    ],
)
def test_unknown_and_unsupported_names_are_reported(resource_type: str, name: str) -> None:
    assert parse(resource_type, (name, "x")) == ([], [name])


def test_system_level_search_knows_the_common_parameters() -> None:
    clauses, unknown = parse("Resource", ("_lastUpdated", "gt2024"), ("name", "x"))
    assert [c.code for c in clauses] == ["_lastUpdated"]
    assert unknown == ["name"]


@pytest.mark.parametrize(
    ("resource_type", "name", "value"),
    [
        ("Patient", "birthdate", "yesterday"),
        ("Patient", "birthdate", "xx2020"),
        ("Patient", "birthdate", "2020-13"),
        ("Patient", "birthdate", "2020-02-30"),
        ("Patient", "birthdate", "2020-01-01T25:00"),
        ("Patient", "birthdate", "ge"),
        ("Patient", "_lastUpdated", "2024-01-01T10:00:00+15:00"),
        ("Observation", "value-quantity", "abc"),
        ("Observation", "value-quantity", "5|http://unitsofmeasure.org"),
        ("Observation", "value-quantity", "gt5.5.5"),
        ("RiskAssessment", "probability", "1.2.3"),
        ("RiskAssessment", "probability", "zz1"),
        ("RiskAssessment", "probability", "NaN"),
        ("Observation", "code", "a|b|c"),
        ("Observation", "code", "|"),
        ("Patient", "active:missing", "maybe"),
        ("Patient", "name:foo", "x"),
        ("Patient", "name:text", "x"),
        ("Patient", "gender:below", "x"),
        ("Patient", "birthdate:exact", "2020"),
        ("Patient", "_id:text", "x"),
        ("Observation", "subject:Foo", "1"),
        ("Observation", "patient:Group", "1"),
        ("Observation", "subject:Patient", "a/b"),
        ("Observation", "subject", "not a reference"),
    ],
)
def test_malformed_values_and_unsupported_modifiers_raise(resource_type: str, name: str, value: str) -> None:
    with pytest.raises(BadRequest):
        parse(resource_type, (name, value))


def test_compile_where_without_clauses_is_true() -> None:
    assert compile_where("Patient", [], REGISTRY) == ("1 = 1", [])


def test_compile_where_uses_placeholders_only() -> None:
    clauses, _ = parse("Patient", ("name", "o'brien%"), ("birthdate", "ge2000"))
    where, args = compile_where("Patient", clauses, REGISTRY)
    assert "o'brien" not in where and "%" not in where
    assert where.count("?") == len(args)
    assert "o'brien\\%%" in args


def test_the_most_selective_clause_drives_the_query() -> None:
    # A bare code (any system): not a key of search_subject_code, so the reference drives.
    clauses, _ = parse("Observation", ("date", "ge2024"), ("code", "1"), ("patient", "p1"))
    match = compile_match("Observation", clauses, REGISTRY)
    date_sql, code_sql = match.where.split(") AND ")
    assert date_sql.startswith("EXISTS (SELECT 1 FROM search_date s WHERE s.res_type = r.res_type")
    assert code_sql.startswith("EXISTS (SELECT 1 FROM search_token s WHERE s.res_type = r.res_type")
    # The parameter's number names the type too (storage/param_numbers.py).
    assert match.ids == "SELECT s.res_id FROM search_reference s WHERE s.pid = ? AND s.target_id = ?"
    assert match.ids_args == (number("Observation", "patient"), "p1")
    # As one condition over `resource r`, the driving clause comes first, as an IN.
    where, args = compile_where("Observation", clauses, REGISTRY)
    assert where.startswith(f"r.res_type = ? AND r.res_id IN ({match.ids}) AND (EXISTS ")
    assert args[:3] == ["Observation", number("Observation", "patient"), "p1"]
    assert where.count("?") == len(args)


def test_a_subject_and_a_coding_drive_together_from_search_subject_code() -> None:
    clauses, _ = parse("Observation", ("date", "ge2024"), ("code", "http://loinc.org|1"), ("patient", "p1"))
    match = compile_match("Observation", clauses, REGISTRY)
    assert match.dated == SubjectCode("Observation", "Patient", "p1", "http://loinc.org", "1")
    assert match.ids == match.dated.ids()[0] and list(match.ids_args) == match.dated.ids()[1]
    assert match.where.startswith("EXISTS (SELECT 1 FROM search_date s") and "search_token" not in match.where
    # `subject` typed, or typed by its modifier, is the same key; `patient` only names Patients.
    for query in (("subject", "Patient/p1"), ("subject:Patient", "p1"), ("patient", "Patient/p1")):
        clauses, _ = parse("Observation", query, ("code", "http://loinc.org|1"))
        assert compile_match("Observation", clauses, REGISTRY).dated == match.dated
    # Not one key: a bare id (several types), a bare code or `|code` (several systems, or none),
    # two values, a modifier, a type without the table.
    for query in (
        (("subject", "p1"), ("code", "http://loinc.org|1")),
        (("patient", "p1"), ("code", "1")),
        (("patient", "p1"), ("code", "|1")),
        (("patient", "p1,p2"), ("code", "http://loinc.org|1")),
        (("patient", "p1"), ("code:not", "http://loinc.org|1")),
        (("patient", "Group/g1"), ("code", "http://loinc.org|1")),
    ):
        clauses, _ = parse("Observation", *query)
        assert compile_match("Observation", clauses, REGISTRY).dated is None, query
    clauses, _ = parse("Condition", ("patient", "p1"), ("code", "http://snomed.info/sct|1"))
    assert compile_match("Condition", clauses, REGISTRY).dated is None


def test_a_has_drives_from_resource_not_from_its_index_rows() -> None:
    # _has selects the targets of references, deleted and never stored ones among them: its
    # ids are not index-row owners, so it stays in the condition (lifeline.storage.matching).
    # (A bare code: a system|code would be a probe of search_subject_code, below.)
    clauses, _ = parse("Patient", ("_has:Observation:patient:code", "1"))
    match = compile_match("Patient", clauses, REGISTRY)
    assert match.ids is not None and not match.owners
    assert match.condition("Patient")[0].startswith(
        "r.res_type = ? AND r.res_id IN (SELECT s.target_id FROM search_reference s"
    )
    assert source("Patient", match)[0].startswith("resource r WHERE NOT r.deleted")


def test_negated_and_missing_clauses_never_drive() -> None:
    clauses, _ = parse("Patient", ("gender:not", "male"), ("birthdate:missing", "true"))
    where, _ = compile_where("Patient", clauses, REGISTRY)
    assert " IN (" not in where


def test_compile_where_rejects_an_unknown_clause() -> None:
    with pytest.raises(BadRequest):
        compile_where("Patient", [SearchClause("nonsense", None, ["x"])], REGISTRY)


def test_a_chain_parses_to_the_target_types_that_have_the_parameter() -> None:
    clauses, unknown = parse("Observation", ("subject.name:exact", "Søren"), ("subject:Patient.gender", "male"))
    assert unknown == []
    assert clauses[0] == SearchClause(
        "subject.name:exact",
        None,
        ["Søren"],
        Chain("subject", (("Patient", Final("name", "exact")), ("Location", Final("name", "exact")))),
    )
    assert clauses[1].link == Chain("subject", (("Patient", Final("gender", None)),))


def test_has_parses_nested_and_ending_in_a_chain() -> None:
    clauses, _ = parse("Practitioner", ("_has:Patient:general-practitioner:_has:Observation:patient:code", "1"))
    assert clauses[0].link == Has("Patient", "general-practitioner", Has("Observation", "patient", Final("code", None)))
    clauses, _ = parse("Encounter", ("_has:Observation:encounter:subject:Patient.name", "x"))
    assert clauses[0].link == Has("Observation", "encounter", Chain("subject", (("Patient", Final("name", None)),)))


def test_a_chained_identifier_drives_the_query() -> None:
    clauses, _ = parse(
        "Observation", ("code", "http://loinc.org|1"), ("subject:Patient.identifier", "urn:oid:1.2.208.176.1.2|1")
    )
    match = compile_match("Observation", clauses, REGISTRY)
    assert match.where.startswith("EXISTS (SELECT 1 FROM search_token s")
    assert match.ids is not None
    assert match.ids.startswith("SELECT s.res_id FROM search_reference s WHERE s.pid = ?")
    assert match.ids.count("?") == len(match.ids_args)
    assert match.where.count("?") == len(match.args)


def test_a_chain_with_a_negated_end_never_drives() -> None:
    clauses, _ = parse("Observation", ("subject:Patient.gender:not", "male"))
    where, _ = compile_where("Observation", clauses, REGISTRY)
    assert where.startswith("EXISTS (SELECT 1 FROM search_reference s WHERE s.res_type = r.res_type")


def test_a_has_ending_in_a_coding_probes_search_subject_code_per_resource() -> None:
    clauses, _ = parse("Patient", ("_has:Observation:patient:code", "http://loinc.org|1"))
    match = compile_match("Patient", clauses, REGISTRY)
    assert match.ids is None and match.where.startswith("EXISTS (SELECT 1 FROM search_subject_code c")
    assert list(match.args) == ["Observation", "1", "http://loinc.org", "Patient"]
    # Not a key of the table (a bare code, two values, another final parameter): the index tables.
    for value in ("1", "http://loinc.org|1,http://loinc.org|2"):
        clauses, _ = parse("Patient", ("_has:Observation:patient:code", value))
        assert "search_subject_code" not in compile_where("Patient", clauses, REGISTRY)[0]
    clauses, _ = parse("Patient", ("_has:Observation:patient:status", "final"))
    assert "search_subject_code" not in compile_where("Patient", clauses, REGISTRY)[0]
