"""The registry built from all R4 SearchParameters (https://hl7.org/fhir/R4/searchparameter-registry.html)."""

from __future__ import annotations

from lifeline.search.registry import SearchRegistry, default_registry, expression_for, split_union

COMMON = {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"}


def test_default_registry_is_a_cached_singleton() -> None:
    assert default_registry() is default_registry()


def test_every_resource_type_has_the_common_parameters() -> None:
    registry = default_registry()
    assert len(registry.resource_types) == 147
    for resource_type in registry.resource_types:
        assert COMMON <= set(registry.params_for(resource_type)), resource_type


def test_patient_parameters() -> None:
    params = default_registry().params_for("Patient")
    assert {"name", "family", "given", "birthdate", "identifier", "gender", "general-practitioner"} <= set(params)
    assert params["birthdate"].type == "date"
    assert params["birthdate"].expression == "Patient.birthDate"
    assert set(params["general-practitioner"].targets) == {"Organization", "Practitioner", "PractitionerRole"}
    assert "_text" not in params  # no expression: not an index lookup


def test_multi_base_definitions_are_split_per_type() -> None:
    registry = default_registry()
    patient = registry.get("Observation", "patient")
    assert patient is not None
    assert patient.expression == "Observation.subject.where(resolve() is Patient)"
    assert patient.url == "http://hl7.org/fhir/SearchParameter/clinical-patient"
    assert registry.get("AllergyIntolerance", "patient").expression == "AllergyIntolerance.patient"  # type: ignore[union-attr]
    code = registry.get("MedicationRequest", "code")
    assert code is not None and code.expression == "(MedicationRequest.medication.ofType(CodeableConcept))"


def test_relative_expressions_stay_whole() -> None:
    name = default_registry().get("InsurancePlan", "name")
    assert name is not None and name.expression == "name | alias"


def test_composites_keep_their_resolved_components() -> None:
    composite = default_registry().get("Observation", "code-value-quantity")
    assert composite is not None and composite.type == "composite"
    assert [c.code for c in composite.components] == ["code", "value-quantity"]


def test_get_unknown() -> None:
    registry = default_registry()
    assert registry.get("Patient", "nonsense") is None
    assert registry.get("NoSuchType", "_id") is None
    assert registry.params_for("NoSuchType") == {}


def test_bundle_gets_resource_but_not_domain_resource_parameters() -> None:
    assert {"_id", "_lastUpdated", "composition", "identifier"} <= set(default_registry().params_for("Bundle"))


def test_system_level_pseudo_type() -> None:
    assert set(default_registry().params_for("Resource")) == COMMON


def test_patient_compartment() -> None:
    registry = default_registry()
    assert registry.compartment_params("Observation") == ["subject", "performer"]
    assert registry.compartment_params("Patient") == ["link"]
    assert registry.compartment_params("ValueSet") == []


def test_split_union_respects_parentheses_and_quotes() -> None:
    assert split_union("A.b | (C.d | C.e) | F.where(x='a|b')") == ["A.b", "(C.d | C.e)", "F.where(x='a|b')"]


def test_expression_for() -> None:
    expression = "A.x | (B.y.ofType(Quantity)) | Resource.id"
    assert expression_for(expression, "B", ["A", "B"]) == "(B.y.ofType(Quantity)) | Resource.id"
    assert expression_for("A.x", "A", ["A"]) == "A.x"


def test_custom_registry() -> None:
    registry = SearchRegistry(
        [{"code": "nick", "base": ["Patient"], "type": "string", "expression": "Patient.name.text"}],
        ["Patient"],
    )
    assert set(registry.params_for("Patient")) == {"nick"}


def test_a_union_of_other_parameters_is_answered_from_their_rows() -> None:
    observation = default_registry().params_for("Observation")
    assert observation["combo-code"].rows == ("code", "component-code")
    assert observation["combo-value-quantity"].rows == ("component-value-quantity", "value-quantity")
    assert observation["combo-code-value-quantity"].rows == ("code-value-quantity", "component-code-value-quantity")
    assert observation["code"].rows == ("code",) and not observation["code"].stored
    assert default_registry().get("Patient", "phonetic").rows == ("name",)  # type: ignore[union-attr]
    # references keep their own rows: chains, includes, compartments and the access rule read
    # them by name (Coverage's patient and beneficiary have the same expression)
    coverage = default_registry().params_for("Coverage")
    assert not coverage["patient"].stored and not coverage["beneficiary"].stored


def test_only_a_whole_union_of_the_same_type_is_derived() -> None:
    def param(code: str, expression: str, kind: str = "token") -> dict[str, object]:
        return {"code": code, "base": ["Observation"], "type": kind, "expression": expression}

    registry = SearchRegistry(
        [
            param("a", "Observation.code"),
            param("b", "Observation.component.code"),
            param("ab", "Observation.code | (Observation.component.code)"),
            param("abc", "Observation.code | Observation.component.code | Observation.method"),
            param("a-string", "Observation.code | Observation.component.code", "string"),
            param("again", "Observation.code"),
        ],
        ["Observation"],
    )
    params = registry.params_for("Observation")
    assert params["ab"].rows == ("a", "b")
    assert params["abc"].rows == ("abc",)  # Observation.method is no other parameter's
    assert params["a-string"].rows == ("a-string",)  # another type has other rows
    assert params["again"].rows == ("a",)  # the same expression: the earlier code's rows
