"""Every generated resource passes the server's validator, invariants included; every reference
resolves to a generated resource; every resource is labelled as synthetic."""

from __future__ import annotations

from collections import Counter
from typing import Any

from lifeline.fhir.validation import Validator


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for value in node.values() for r in _references(value)]
    if isinstance(node, list):
        return [r for item in node for r in _references(item)]
    return []


def test_every_resource_is_valid_r4_with_strict_invariants(resources):
    validator = Validator(invariants="strict")
    failures = Counter()
    for resource in resources:
        warnings = validator.validate(resource, resource["resourceType"])
        for warning in warnings:
            if not warning.diagnostics.startswith("dom-6"):  # "should have narrative": best practice only
                failures[(resource["resourceType"], warning.diagnostics)] += 1
    assert not failures


def test_every_reference_resolves_and_ids_are_unique(resources):
    ids = [f"{r['resourceType']}/{r['id']}" for r in resources]
    assert len(ids) == len(set(ids))
    known = set(ids)
    dangling = Counter(ref for r in resources for ref in _references(r) if ref not in known)
    assert not dangling


def test_every_resource_is_labelled_synthetic(resources):
    assert all(any(s["code"] == "HTEST" for s in r["meta"]["security"]) for r in resources)


def test_about_a_hundred_resources_per_patient_and_every_kind_the_issue_names(region, resources):
    _, summary = region
    patients = summary.counts["Patient"]
    per_patient = (summary.resources - sum(summary.counts[t] for t in ("Organization", "Location", "Practitioner",
                   "PractitionerRole", "Schedule"))) / patients  # fmt: skip
    assert 60 <= per_patient <= 140
    for res_type in (
        "Organization", "Location", "Practitioner", "PractitionerRole", "Patient", "Encounter", "EpisodeOfCare",
        "Condition", "AllergyIntolerance", "Observation", "DiagnosticReport", "ImagingStudy", "MedicationRequest",
        "MedicationStatement", "Procedure", "DocumentReference", "CareTeam", "Consent", "Schedule", "Slot",
        "Appointment", "ServiceRequest", "RelatedPerson",
    ):  # fmt: skip
        assert summary.counts.get(res_type), res_type
