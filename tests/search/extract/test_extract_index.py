"""extract_index on whole resources: all parameters of the type, fallback, and never raising."""

from __future__ import annotations

import datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifeline.generate import Options, generate
from lifeline.search.extract import extract_index, plan_for
from lifeline.search.registry import SearchRegistry, default_registry
from lifeline.storage.index_rows import IndexEntries, ReferenceEntry, StringEntry, TokenEntry

CPR = "urn:oid:1.2.208.176.1.2"

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {"versionId": "1", "lastUpdated": "2024-03-05T10:00:00.123Z", "tag": [{"system": "t", "code": "vip"}]},
    "identifier": [{"system": CPR, "value": "0101901234", "type": {"text": "CPR"}}],
    "active": True,
    "name": [{"family": "Müller", "given": ["Søren"]}],
    "telecom": [{"system": "phone", "value": "+4512345678"}],
    "gender": "male",
    "birthDate": "1990-01-01",
    "generalPractitioner": [{"reference": "Practitioner/gp1"}],
}


def by_param(entries: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for e in entries:
        out.setdefault(e.param, []).append(e)
    return out


def test_patient_entries() -> None:
    index = extract_index(PATIENT)
    strings = by_param(index.strings)
    assert strings["family"] == [StringEntry("family", "muller", "Müller")]
    assert strings["given"] == [StringEntry("given", "søren", "Søren")]
    assert [e.exact for e in strings["name"]] == ["Müller", "Søren"]
    tokens = by_param(index.tokens)
    assert tokens["identifier"] == [TokenEntry("identifier", CPR, "0101901234", "cpr")]
    assert tokens["gender"] == [TokenEntry("gender", None, "male")]
    assert tokens["active"] == [TokenEntry("active", None, "true")]
    assert tokens["deceased"] == [TokenEntry("deceased", None, "false")]
    assert [e.code for e in tokens["phone"]] == [e.code for e in tokens["telecom"]] == ["+4512345678"]
    assert tokens["_tag"] == [TokenEntry("_tag", "t", "vip")]
    assert "_id" not in tokens  # matched on the resource table itself
    dates = by_param(index.dates)
    assert set(dates) == {"birthdate"}  # _lastUpdated, like _id, is matched on the resource's own row
    assert index.references == [ReferenceEntry("general-practitioner", "Practitioner", "gp1", None)]


def test_observation_patient_only_for_patient_subjects() -> None:
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    to_patient = extract_index({**observation, "subject": {"reference": "Patient/1"}})
    to_group = extract_index({**observation, "subject": {"reference": "Group/1"}})
    assert {e.param for e in to_patient.references} == {"subject", "patient"}
    assert {e.param for e in to_group.references} == {"subject"}


def test_duplicates_within_a_parameter_are_removed() -> None:
    coding = {"system": "http://loinc.org", "code": "1"}
    observation = {"resourceType": "Observation", "code": {"coding": [coding, coding]}}
    assert [e.param for e in extract_index(observation).tokens] == ["code"]  # combo-code reads code's rows


def test_unknown_or_missing_resource_type_gives_no_entries() -> None:
    assert extract_index({"resourceType": "NoSuchType", "id": "1"}) == IndexEntries()
    assert extract_index({"id": "1"}) == IndexEntries()


def test_fhirpathpy_fallback_for_shapes_outside_the_subset() -> None:
    registry = SearchRegistry(
        [
            {
                "code": "official-given",
                "base": ["Patient"],
                "type": "string",
                "expression": "Patient.name.where(use = 'official' or use = 'usual').given.first()",
            },
            {"code": "family", "base": ["Patient"], "type": "string", "expression": "Patient.name.family"},
        ],
        ["Patient"],
    )
    assert plan_for(registry, "Patient").fallback_codes == ["official-given"]
    patient = {"resourceType": "Patient", "name": [{"given": ["A"]}, {"use": "official", "given": ["B", "C"]}]}
    assert [(e.param, e.exact) for e in extract_index(patient, registry).strings] == [("official-given", "B")]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
_fields = st.sampled_from(
    [
        "name",
        "identifier",
        "telecom",
        "birthDate",
        "address",
        "meta",
        "generalPractitioner",
        "deceasedBoolean",
        "deceasedDateTime",
        "valueQuantity",
        "effectivePeriod",
        "subject",
        "code",
        "component",
        "active",
        "gender",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["Patient", "Observation", "Encounter"]), st.dictionaries(_fields, _json, max_size=6))
def test_odd_data_never_raises(resource_type: str, fields: dict[str, Any]) -> None:
    extract_index({"resourceType": resource_type, **fields})


def test_the_default_registry_is_used_when_none_is_given() -> None:
    assert extract_index(PATIENT) == extract_index(PATIENT, default_registry())


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """A few generated patients and the region around them: twenty resource types as real data."""
    out = tmp_path_factory.mktemp("region")
    generate(Options(4, 3, out, datetime.date(2026, 11, 23)))
    return [orjson.loads(line) for path in sorted(out.glob("*.ndjson")) for line in path.read_bytes().splitlines()]


def test_a_step_skipped_for_a_resource_would_have_found_nothing(region: list[dict[str, Any]]) -> None:
    """Extraction walks only the steps whose root keys the resource holds (ExtractionPlan.steps_for);
    on real data every other step, walked anyway, gives nothing."""
    registry = default_registry()
    skipped = 0
    for resource in region:
        plan = plan_for(registry, resource["resourceType"])
        kept = plan.steps_for(resource)
        for step in plan.steps:
            if step not in kept:
                skipped += 1
                assert step.walk(resource) == [], (resource["resourceType"], step.expression)
    assert skipped > 5 * len(region)  # most of a type's parameters are absent from one resource


def test_resources_of_one_shape_share_their_steps_and_differ_in_values() -> None:
    first = extract_index({**PATIENT, "gender": "female"})
    second = extract_index({**PATIENT, "gender": "male"})
    assert TokenEntry("gender", None, "female") in first.tokens
    assert TokenEntry("gender", None, "male") in second.tokens
    without = extract_index({k: v for k, v in PATIENT.items() if k != "gender"})
    assert [t for t in without.tokens if t.param == "gender"] == []
