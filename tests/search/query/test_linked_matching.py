r"""Chains, _has and composites against a real database: the exact ids each search returns.

https://hl7.org/fhir/R4/search.html#chaining, #has and #composite — like test_matching, on SQLite
and, when reachable, PostgreSQL; each search also runs with no clause driving (every clause an
EXISTS), which must agree.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lifeline.errors import BadRequest
from lifeline.search.query import compile_where, parse_query
from lifeline.search.registry import default_registry
from tests.search.query.database import IndexDatabase, filled_database, search_cases
from tests.search.query.dataset import (
    BP_PANEL,
    CPR,
    DIASTOLIC,
    LINKED,
    LOINC,
    NOW,
    PROFILE,
    RESOURCES,
    SNOMED,
    SYSTOLIC,
    UCUM,
)

SYS = f"{LOINC}|{SYSTOLIC}"
DIA = f"{LOINC}|{DIASTOLIC}"

# (resource type, [(name, value), …], expected ids)
CASES: list[tuple[str, list[tuple[str, str]], set[str]]] = [
    # chains: one level, every final type
    ("Observation", [("subject.name", "muller")], {"o1", "o4", "panel"}),
    ("Observation", [("subject:Patient.name", "hansen")], {"o2", "bp1"}),
    ("Observation", [("subject.name", "hansen")], {"o2", "bp1", "bp2"}),  # a Patient or a Location
    ("Observation", [("subject:Location.name", "hansen")], {"bp2"}),
    ("Observation", [("subject:Patient.identifier", f"{CPR}|0101901234")], {"o1", "o4", "panel"}),
    ("Observation", [("patient.identifier", "0101901234")], {"o1", "o4", "panel"}),
    ("Observation", [("patient.identifier", f"{CPR}|")], {"o1", "o2", "o4", "bp1", "panel"}),
    ("Observation", [("subject:Patient.identifier:text", "cpr")], {"o1", "o2", "o4", "bp1", "panel"}),
    ("Observation", [("subject:Patient.name:exact", "Müller")], {"o1", "o4", "panel"}),
    ("Observation", [("subject:Patient.name:exact", "müller")], set()),
    ("Observation", [("subject:Patient.name:contains", "ülle")], {"o1", "o4", "panel"}),
    ("Observation", [("subject:Patient.gender", "male,other")], {"o1", "o4", "panel", "blood-group"}),
    ("Observation", [("subject:Patient.gender:not", "male")], {"o2", "bp1", "blood-group", "note", "onset"}),
    ("Observation", [("subject:Patient.birthdate", "lt1990")], {"o2", "bp1"}),
    ("Observation", [("subject:Patient.birthdate:missing", "true")], {"blood-group"}),
    ("Observation", [("subject:Patient._id", "p2,p3")], {"o2", "bp1", "blood-group"}),
    ("Observation", [("subject:Patient._id:not", "p1,p2")], {"blood-group", "note", "onset"}),
    ("Observation", [("subject:Patient.general-practitioner", "Practitioner/gp1")], {"o1", "o4", "panel"}),
    ("Observation", [("subject:Patient._profile", PROFILE)], {"o1", "o4", "panel"}),
    ("Observation", [("has-member.value-quantity", "gt70")], {"panel"}),
    ("Observation", [("has-member.value-quantity", f"72|{UCUM}|/min")], {"panel"}),
    ("Observation", [("has-member:Observation.code-value-quantity", f"{LOINC}|8867-4$72")], {"panel"}),
    ("Observation", [("subject.name", "nobody")], set()),
    # chains: two levels, with several target types at the second
    ("Observation", [("encounter.subject.name", "muller")], {"bp1"}),
    ("Observation", [("encounter.patient.gender", "male")], {"bp1"}),
    ("Observation", [("encounter.subject:Group.characteristic", "diet")], {"bp2"}),
    ("Observation", [("subject:Patient.general-practitioner.name", "jensen")], {"o1", "o4", "panel"}),
    ("Observation", [("subject:Patient.general-practitioner.name", "nielsen")], {"o2", "bp1"}),
    ("Observation", [("subject:Patient.organization.name", "rigs")], {"o1", "o4", "panel"}),
    ("Observation", [("subject:Patient.general-practitioner:Practitioner.gender", "male")], {"o2", "bp1"}),
    # chains combined with other clauses
    ("Observation", [("subject.name", "hansen"), ("code", f"{LOINC}|{BP_PANEL}")], {"bp1", "bp2"}),
    ("Observation", [("subject.name", "hansen"), ("subject:Patient.gender", "female")], {"o2", "bp1"}),
    # _has
    ("Patient", [("_has:Observation:patient:code", "8867-4")], {"p1"}),
    ("Patient", [("_has:Observation:patient:code", f"{LOINC}|29463-7,{LOINC}|883-9")], {"p2", "p3"}),
    ("Patient", [("_has:Observation:subject:code:text", "heart")], {"p1"}),
    ("Patient", [("_has:Observation:patient:code:not", "8867-4")], {"p1", "p2", "p3", "p4"}),
    ("Patient", [("_has:Observation:patient:value-quantity", "gt50")], {"p1", "p2"}),
    ("Patient", [("_has:Observation:patient:value-quantity", "gt50"), ("gender", "female")], {"p2"}),
    ("Patient", [("_has:Observation:patient:value-quantity:missing", "false")], {"p1", "p2"}),
    ("Patient", [("_has:Observation:patient:date", "ge2024-05")], {"p2"}),  # o2's period has no end
    ("Patient", [("_has:Observation:patient:value-string", "positiv")], {"p4"}),
    ("Patient", [("_has:RiskAssessment:subject:probability", "0.25")], {"p1"}),
    ("Patient", [("_has:Observation:patient:component-code-value-quantity", f"{SYS}$120")], {"p2"}),
    ("Patient", [("_has:Encounter:patient:_id", "e1")], {"p1"}),
    ("Patient", [("_has:Observation:patient:code", "8867-4"), ("_has:Observation:patient:code", BP_PANEL)], set()),
    ("Patient", [("_has:Observation:patient:code", "nothing")], set()),
    ("Practitioner", [("_has:Patient:general-practitioner:gender", "female")], {"gp2"}),
    ("Organization", [("_has:Patient:organization:_has:Observation:patient:code", "8867-4")], {"o1"}),
    ("Practitioner", [("_has:Patient:general-practitioner:_has:Observation:patient:code", BP_PANEL)], {"gp2"}),
    ("Practitioner", [("_has:Patient:general-practitioner:_has:Encounter:patient:status", "finished")], {"gp1"}),
    ("Encounter", [("_has:Observation:encounter:subject:Patient.name", "hansen")], {"e1"}),
    ("Encounter", [("_has:Observation:encounter:subject.name", "hansen")], {"e1", "e2"}),
    ("Group", [("_has:Observation:subject:code", "X-1")], {"g1"}),
    # a chain ending in a _has: Observations about a Patient some Encounter is about
    ("Observation", [("subject:Patient._has:Encounter:patient:status", "finished")], {"o1", "o4", "panel"}),
    # composites: components pair within one element
    ("Observation", [("component-code-value-quantity", f"{SYS}$120")], {"bp1"}),
    ("Observation", [("component-code-value-quantity", f"{SYS}$80")], set()),  # the diastolic's value
    ("Observation", [("component-code-value-quantity", f"{DIA}$80")], {"bp1"}),
    ("Observation", [("component-code-value-quantity", f"{SYS}$gt130")], {"bp2"}),
    ("Observation", [("component-code-value-quantity", f"{DIA}$gt90")], {"bp2"}),
    ("Observation", [("component-code-value-quantity", f"{SYS}$gt90")], {"bp1", "bp2"}),
    ("Observation", [("component-code-value-quantity", f"{SYS}$lt100")], set()),  # only the diastolics are
    ("Observation", [("component-code-value-quantity", f"{SYS}$ge120|{UCUM}|mm[Hg]")], {"bp1", "bp2"}),
    ("Observation", [("component-code-value-quantity", f"{SYS}$120|{UCUM}|kg")], set()),
    ("Observation", [("component-code-value-quantity", f"{SYS}$120||mmHg")], {"bp1"}),
    ("Observation", [("component-code-value-quantity", f"{SYSTOLIC}$ap125")], {"bp1"}),
    ("Observation", [("component-code-value-quantity", f"{SYS}$120,{DIA}$95")], {"bp1", "bp2"}),
    (
        "Observation",
        [("component-code-value-quantity", f"{SYS}$120"), ("component-code-value-quantity", f"{DIA}$80")],
        {"bp1"},
    ),
    (
        "Observation",
        [("component-code-value-quantity", f"{SYS}$120"), ("component-code-value-quantity", f"{DIA}$95")],
        set(),
    ),
    ("Observation", [("combo-code-value-quantity", f"{SYS}$150")], {"bp2"}),
    ("Observation", [("combo-code-value-quantity", f"{LOINC}|8867-4$72")], {"o1"}),
    ("Observation", [("code-value-quantity", f"{LOINC}|8867-4$72")], {"o1"}),
    ("Observation", [("code-value-quantity", f"{LOINC}|8867-4$gt100")], set()),
    ("Observation", [("code-value-quantity", f"{LOINC}|8867-4$ge72")], {"o1"}),
    ("Observation", [("code-value-quantity", f"{LOINC}|$lt81")], {"o1", "o2"}),
    ("Observation", [("code-value-quantity", f"{SYS}$120")], set()),  # a component, not the Observation
    (
        "Observation",
        [("code-value-quantity:missing", "true")],
        {"o4", "bp1", "bp2", "blood-group", "note", "onset", "panel"},
    ),
    ("Observation", [("code-value-concept", f"{LOINC}|883-9${SNOMED}|112144000")], {"blood-group"}),
    ("Observation", [("code-value-concept", "883-9$112144000")], {"blood-group"}),
    ("Observation", [("code-value-concept", "883-9$|112144000")], set()),
    ("Observation", [("combo-code-value-concept", "883-9$112144000")], {"blood-group"}),
    ("Observation", [("code-value-string", "X-2$positiv")], {"note"}),
    ("Observation", [("code-value-string", r"X-2$positiv \$ke")], {"note"}),
    ("Observation", [("code-value-string", r"X-2$positiv \$ke\, ikke")], {"note"}),
    ("Observation", [("code-value-string", r"X-2$positiv \$kex")], set()),
    ("Observation", [("code-value-string", "X-2$negativ")], set()),
    ("Observation", [("code-value-date", "X-3$2024-05")], {"onset"}),
    ("Observation", [("code-value-date", "X-3$gt2024-05-01T10:00:00Z")], set()),
    ("Observation", [("code-value-date", "X-3$ge2024-05-01T10:00:00Z")], {"onset"}),
    ("Observation", [("code-value-date", "X-3$2024-06")], set()),
    ("DocumentReference", [("relationship", "DocumentReference/d0$replaces")], {"d1"}),
    ("DocumentReference", [("relationship", "d0$replaces")], {"d1"}),
    ("DocumentReference", [("relationship", "DocumentReference/d0$transforms")], set()),
    ("Group", [("characteristic-value", "diet$vegan")], {"g1"}),
    ("Group", [("characteristic-value", "smoker$false")], {"g1"}),
    ("Group", [("characteristic-value", "diet$false")], set()),
    ("ValueSet", [("context-type-value", f"focus${SNOMED}|1234")], {"vs4"}),
    ("ValueSet", [("context-type-value", "age$1234")], set()),
    ("ValueSet", [("context-type-quantity", "age$ge18")], {"vs4"}),
    ("ValueSet", [("context-type-quantity", "focus$ge18")], set()),
    ("MolecularSequence", [("chromosome-variant-coordinate", "1$ge140$le160")], {"ms1"}),
    ("MolecularSequence", [("chromosome-variant-coordinate", "1$ge160$le170")], set()),  # no variant both
    ("MolecularSequence", [("chromosome-window-coordinate", "1$100$200")], {"ms1"}),
    ("MolecularSequence", [("chromosome-window-coordinate", "2$100$200")], set()),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[IndexDatabase]:
    with filled_database(request.param, [*RESOURCES, *LINKED]) as db:
        yield db


@search_cases(CASES)
def test_search_returns_exactly(
    database: IndexDatabase,
    resource_type: str,
    params: list[tuple[str, str]],
    expected: set[str],
) -> None:
    assert database.search_every_way(resource_type, params, now=NOW) == expected


BAD: list[tuple[str, str, str]] = [
    ("Observation", "subject.", "x"),
    ("Observation", "subject:Patient.", "x"),
    ("Observation", "subject.nonsense", "x"),  # no target type has it
    ("Observation", "subject:Patient.nonsense", "x"),
    ("Observation", "subject:Organization.name", "x"),  # not a target type
    ("Observation", "subject:Nope.name", "x"),
    ("Observation", "status.name", "x"),  # a chain through a token
    ("Patient", "name.family", "x"),  # a chain through a string
    ("Observation", "subject:Patient.name:foo", "x"),
    ("Observation", "subject:Patient.birthdate", "yesterday"),
    ("Observation", "subject:Patient.gender:missing", "maybe"),
    ("Observation", "subject.subject.name", "x"),  # no target of subject has a subject
    ("Observation", "has-member.has-member.has-member.has-member.has-member.code", "x"),  # too deep
    ("Patient", "_has", "x"),
    ("Patient", "_has:Observation", "x"),
    ("Patient", "_has:Observation:patient", "x"),
    ("Patient", "_has:Observation:patient:", "x"),
    ("Patient", "_has::patient:code", "x"),
    ("Patient", "_has:Observation:has-member:code", "x"),  # cannot refer to a Patient
    ("Patient", "_has:Observation:code:status", "x"),  # not a reference
    ("Patient", "_has:Observation:patient:value-quantity", "abc"),
    ("Patient", "_has:Observation:patient:code:below", "x"),
    ("Observation", "code-value-quantity", "abc"),
    ("Observation", "code-value-quantity", "8867-4$abc"),
    ("Observation", "code-value-quantity", "8867-4$"),
    ("Observation", "code-value-quantity", "$72"),
    ("Observation", "code-value-quantity", "8867-4$72$1"),
    ("Observation", "code-value-quantity", "a|b|c$72"),
    ("Observation", "code-value-quantity", "8867-4$xx72"),
    ("Observation", "code-value-quantity:exact", "8867-4$72"),
    ("Observation", "code-value-date", "X-3$yesterday"),
    ("DocumentReference", "relationship", "not a reference$replaces"),
    ("MolecularSequence", "chromosome-variant-coordinate", "1$2"),
]


@pytest.mark.parametrize(("resource_type", "name", "value"), BAD, ids=[f"{t}?{n}={v}" for t, n, v in BAD])
def test_bad_chains_has_and_composites_are_400(resource_type: str, name: str, value: str) -> None:
    with pytest.raises(BadRequest):
        registry = default_registry()
        clauses, _ = parse_query(resource_type, [(name, value)], registry)
        compile_where(resource_type, clauses, registry)
