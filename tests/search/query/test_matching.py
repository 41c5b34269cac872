"""Every parameter type and modifier against a real database: the exact ids each search returns.

https://hl7.org/fhir/R4/search.html — the same table runs on SQLite and, when reachable, on
PostgreSQL, so the compiled SQL is known to mean the same thing on both.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.search.query.database import IndexDatabase, filled_database, search_cases
from tests.search.query.dataset import CPR, LOINC, NOW, PROFILE, RESOURCES, UCUM

ALL_PATIENTS = {"p1", "p2", "p3", "p4"}

# (resource type, [(name, value), …], expected ids)
CASES: list[tuple[str, list[tuple[str, str]], set[str]]] = [
    # string: starts-with on normalized text, accents folded, æ ø å kept
    ("Patient", [("name", "muller")], {"p1"}),
    ("Patient", [("name", "MÜL")], {"p1"}),
    ("Patient", [("family", "mue")], {"p3"}),
    ("Patient", [("given", "åse")], {"p2"}),
    ("Patient", [("given", "ase")], {"p3"}),
    ("Patient", [("given", "Søren")], {"p1"}),
    ("Patient", [("given", "soren")], set()),
    ("Patient", [("name", "ærø")], {"p4"}),
    ("Patient", [("name", "zoe")], {"p4"}),
    ("Patient", [("name", "hansen,ærø")], {"p2", "p4"}),
    ("Patient", [("name:exact", "Müller")], {"p1"}),
    ("Patient", [("name:exact", "müller")], set()),
    ("Patient", [("name:contains", "ülle")], {"p1"}),
    ("Patient", [("name:contains", "100%")], {"p3"}),
    ("Patient", [("name:contains", "r_x")], {"p3"}),
    ("Patient", [("name:contains", "r%x")], set()),
    ("Patient", [("name", "a_e")], set()),
    ("Patient", [("address-city", "københavn")], {"p1"}),
    ("Patient", [("address", "nørre")], {"p1"}),
    ("Patient", [("address", "aarhus")], {"p2"}),
    ("Patient", [("address:missing", "true")], {"p3", "p4"}),
    # token
    ("Patient", [("gender", "male")], {"p1"}),
    ("Patient", [("gender", "male,female")], {"p1", "p2"}),
    ("Patient", [("gender:not", "male")], {"p2", "p3", "p4"}),
    ("Patient", [("gender:not", "male,female")], {"p3", "p4"}),
    ("Patient", [("identifier", f"{CPR}|0101901234")], {"p1"}),
    ("Patient", [("identifier", "0101901234")], {"p1"}),
    ("Patient", [("identifier", f"{CPR}|")], {"p1", "p2"}),
    ("Patient", [("identifier", "|X1")], set()),
    ("Patient", [("identifier", "http://other.example/ids|X1")], {"p3"}),
    ("Patient", [("identifier:text", "cpr")], {"p1", "p2"}),
    ("Patient", [("identifier:missing", "true")], {"p4"}),
    ("Patient", [("active", "true")], {"p1"}),
    ("Patient", [("active", "false")], {"p2"}),
    ("Patient", [("active:missing", "true")], {"p3", "p4"}),
    ("Patient", [("active:missing", "false")], {"p1", "p2"}),
    ("Patient", [("phone", "+4512345678")], {"p1"}),
    ("Patient", [("telecom", "s@x.dk")], {"p1"}),
    ("Patient", [("email", "+4512345678")], set()),
    ("Patient", [("deceased", "true")], {"p2"}),
    ("Patient", [("deceased", "false")], {"p1", "p3", "p4"}),
    ("Patient", [("_tag", "http://lifeline.dk/tags|vip")], {"p1"}),
    ("Patient", [("_tag:missing", "true")], {"p2", "p3", "p4"}),
    ("Observation", [("code", f"{LOINC}|8867-4")], {"o1", "o4"}),
    ("Observation", [("code", "8867-4")], {"o1", "o4"}),
    ("Observation", [("code", f"{LOINC}|")], {"o1", "o2", "o4"}),
    ("Observation", [("code:text", "heart")], {"o1"}),
    ("Observation", [("code:text", "HÆMO")], {"o3"}),
    ("Observation", [("code:not", f"{LOINC}|8867-4")], {"o2", "o3"}),
    ("Observation", [("status", "final,amended")], {"o1", "o2", "o4"}),
    # _id
    ("Patient", [("_id", "p1,p3")], {"p1", "p3"}),
    ("Patient", [("_id:not", "p1")], {"p2", "p3", "p4"}),
    ("Patient", [("_id", "nope")], set()),
    # date: precision ranges and every prefix
    ("Patient", [("birthdate", "1990")], {"p1"}),
    ("Patient", [("birthdate", "1990-01-01")], {"p1"}),
    ("Patient", [("birthdate", "1985")], {"p2"}),
    ("Patient", [("birthdate", "1985-06-15")], set()),
    ("Patient", [("birthdate", "ge1990")], {"p1", "p4"}),
    ("Patient", [("birthdate", "gt1990")], {"p4"}),
    ("Patient", [("birthdate", "lt1990")], {"p2"}),
    ("Patient", [("birthdate", "le1990-01-01")], {"p1", "p2"}),
    ("Patient", [("birthdate", "sa1990")], {"p4"}),
    ("Patient", [("birthdate", "eb1990-01-01")], {"p2"}),
    ("Patient", [("birthdate", "ne1990-01-01")], {"p2", "p4"}),
    ("Patient", [("birthdate", "ap1990-01-01")], {"p1"}),
    ("Patient", [("birthdate", "ap1988")], {"p1", "p2"}),
    ("Patient", [("birthdate:missing", "true")], {"p3"}),
    ("Patient", [("death-date", "2023-05-01")], {"p2"}),
    ("Patient", [("death-date", "2023-05-01T10:00:00Z")], {"p2"}),
    ("Patient", [("death-date", "2023-05-01T12:00:00+02:00")], {"p2"}),
    ("Patient", [("death-date", "2023-05-01T12:00:00 02:00")], {"p2"}),
    ("Patient", [("death-date", "2023-05-01T12:00:00Z")], set()),
    ("Patient", [("_lastUpdated", "gt2024-01-31")], {"p2", "p4"}),
    ("Patient", [("_lastUpdated", "2024-02")], {"p2", "p4"}),
    ("Patient", [("_lastUpdated", "lt2024")], {"p3"}),
    ("Patient", [("_lastUpdated", "2024-02-15T12:30:00Z")], {"p2"}),
    ("Patient", [("_lastUpdated", "2024-02-15T12:30:00.4Z")], set()),
    ("Patient", [("_lastUpdated", "2024-02-15T12:30:00.5Z")], {"p2"}),
    ("Patient", [("_lastUpdated", "2024-02-15T12:30")], {"p2"}),
    ("Patient", [("_lastUpdated", "ge2024-01-10T08:00:00Z"), ("_lastUpdated", "lt2024-02")], {"p1"}),
    ("Observation", [("date", "2024-03-05")], {"o1", "o4"}),
    ("Observation", [("date", "2024")], {"o1", "o4"}),
    ("Observation", [("date", "ge2024")], {"o1", "o2", "o4"}),
    ("Observation", [("date", "lt2024")], {"o3"}),
    ("Observation", [("date", "eb2023-07-01")], {"o3"}),
    ("Observation", [("date", "sa2023")], {"o1", "o2", "o4"}),
    ("Observation", [("date", "ne2024")], {"o2", "o3"}),
    # reference
    ("Patient", [("general-practitioner", "Practitioner/gp1")], {"p1"}),
    ("Patient", [("general-practitioner", "gp2")], {"p2"}),
    ("Patient", [("general-practitioner:Practitioner", "gp1")], {"p1"}),
    ("Patient", [("general-practitioner:Organization", "gp1")], set()),
    ("Patient", [("organization", "Organization/o1")], {"p1"}),
    ("Patient", [("organization", "http://elsewhere.example/fhir/Organization/o1")], {"p1"}),
    ("Patient", [("organization", "http://other.example/fhir/Organization/o1")], {"p1"}),
    ("Patient", [("organization:missing", "true")], {"p2", "p3", "p4"}),
    ("Observation", [("subject", "Patient/p1")], {"o1", "o4"}),
    ("Observation", [("patient", "p1")], {"o1", "o4"}),
    ("Observation", [("patient", "Patient/p1/_history/1")], {"o1", "o4"}),
    ("Observation", [("subject", "Group/g1")], {"o3"}),
    ("Observation", [("subject:Group", "g1")], {"o3"}),
    ("Observation", [("patient:missing", "true")], {"o3"}),
    ("Observation", [("subject", "Patient/p1,Patient/p2")], {"o1", "o2", "o4"}),
    # quantity
    ("Observation", [("value-quantity", "72")], {"o1"}),
    ("Observation", [("value-quantity", f"72|{UCUM}|/min")], {"o1"}),
    ("Observation", [("value-quantity", "72||/min")], {"o1"}),
    ("Observation", [("value-quantity", "72||beats/minute")], {"o1"}),
    ("Observation", [("value-quantity", "72|http://other.example|/min")], set()),
    ("Observation", [("value-quantity", "gt50")], {"o1", "o2"}),
    ("Observation", [("value-quantity", "lt10")], {"o3"}),
    ("Observation", [("value-quantity", "80.5")], {"o2"}),
    ("Observation", [("value-quantity", "80")], set()),
    ("Observation", [("value-quantity", "ap85")], {"o2"}),
    ("Observation", [("value-quantity", "8.1||mmol/l")], {"o3"}),
    ("Observation", [("value-quantity", f"ge8|{UCUM}|")], {"o1", "o2"}),
    ("Observation", [("value-quantity:missing", "true")], {"o4"}),
    # number
    ("RiskAssessment", [("probability", "0.25")], {"ra1"}),
    ("RiskAssessment", [("probability", "0.250")], {"ra1"}),
    # 0.3 has one significant figure: [0.25, 0.35), so 0.25 matches (spec number semantics)
    ("RiskAssessment", [("probability", "0.3")], {"ra1", "ra2"}),
    ("RiskAssessment", [("probability", "0.30")], {"ra2"}),
    ("RiskAssessment", [("probability", "gt0.26")], {"ra2"}),
    ("RiskAssessment", [("probability", "le0.25")], {"ra1"}),
    ("RiskAssessment", [("probability", "ne0.30")], {"ra1"}),
    ("RiskAssessment", [("probability", "ap0.28")], {"ra2"}),
    ("RiskAssessment", [("probability", "sa0.2")], {"ra1", "ra2"}),
    ("RiskAssessment", [("probability", "eb0.30")], {"ra1"}),
    ("RiskAssessment", [("probability", "eb0.3")], set()),
    ("RiskAssessment", [("probability", "3e-1")], {"ra1", "ra2"}),
    ("RiskAssessment", [("probability:missing", "true")], {"ra3"}),
    # uri
    ("ValueSet", [("url", "http://hl7.org/fhir/ValueSet/example")], {"vs1"}),
    ("ValueSet", [("url:below", "http://hl7.org/fhir/ValueSet/example")], {"vs1", "vs2"}),
    ("ValueSet", [("url:below", "http://hl7.org/fhir/ValueSet/Example")], set()),
    ("ValueSet", [("url:above", "http://acme.org/fhir/ValueSet/123/_history/5")], {"vs3"}),
    ("ValueSet", [("url:above", "http://hl7.org/fhir/ValueSet/example-extensional")], {"vs1", "vs2"}),
    ("Patient", [("_profile", PROFILE)], {"p1"}),
    ("Patient", [("_profile:below", "http://hl7.dk/fhir/")], {"p1"}),
    # clauses are ANDed
    ("Patient", [("gender", "male"), ("birthdate", "1990")], {"p1"}),
    ("Patient", [("gender", "female"), ("birthdate", "1990")], set()),
    ("Patient", [], ALL_PATIENTS),
]


def _backends() -> list[str]:
    return ["sqlite", "postgresql"]


@pytest.fixture(scope="module", params=_backends())
def database(request: pytest.FixtureRequest) -> Iterator[IndexDatabase]:
    with filled_database(request.param, RESOURCES) as db:
        yield db


@search_cases(CASES)
def test_search_returns_exactly(
    database: IndexDatabase,
    resource_type: str,
    params: list[tuple[str, str]],
    expected: set[str],
) -> None:
    assert database.search_every_way(resource_type, params, now=NOW) == expected
