"""Invariants evaluated in Python agree with their FHIRPath expressions."""

from __future__ import annotations

from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.models import models

from lifeline.fhir.validation.invariants import OPTIONS
from lifeline.fhir.validation.model import Model, definitions
from lifeline.fhir.validation.native import NATIVE
from lifeline.fhir.validation.structure import Target
from tests.fhir.validation import samples
from tests.fhir.validation.samples import DROP, patched

MODEL = Model()


def target(resource: dict[str, Any]) -> Target:
    node = MODEL.node(resource["resourceType"])
    return Target(node.constraints, node.path, node, resource, node.path, resource, resource)


def expression(key: str) -> str:
    return next(c["expression"] for c in definitions()["constraints"] if c["key"] == key)


ENTRY_URL = "entry.1.fullUrl"
FIRST_URL = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"


@pytest.mark.parametrize(
    ("key", "resource", "holds"),
    [
        ("que-2", samples.questionnaire(), True),
        ("que-2", patched(samples.questionnaire, {"item.0.item.1.item.0.linkId": "1"}), False),
        ("bdl-7", samples.transaction(), True),
        ("bdl-7", patched(samples.transaction, {ENTRY_URL: FIRST_URL}), False),
        ("bdl-7", patched(samples.transaction, {ENTRY_URL: FIRST_URL, "type": "history"}), True),
        (
            "bdl-7",
            patched(samples.transaction, {ENTRY_URL: FIRST_URL, "entry.1.resource.meta": {"versionId": "2"}}),
            True,
        ),
    ],
)
def test_native_agrees_with_fhirpathpy(key: str, resource: dict[str, Any], holds: bool) -> None:
    assert NATIVE[key](target(resource)) is holds
    engine = fhirpathpy.compile(expression(key), models["r4"], OPTIONS)
    assert engine(resource, {"resource": resource, "rootResource": resource}) == [holds]


@pytest.mark.parametrize(
    ("resource", "holds"),
    [
        (samples.with_contained(), True),
        (patched(samples.with_contained, {"medicationReference": {"reference": "Medication/x"}}), False),
        (patched(samples.with_contained, {"contained.0.id": DROP, "medicationReference": {"display": "x"}}), True),
        (
            patched(
                samples.with_contained,
                {
                    "medicationReference": {"display": "x"},
                    "contained.0.ingredient": [{"itemReference": {"reference": "#"}}],
                },
            ),
            True,
        ),
        (samples.patient(), True),
    ],
    ids=["referenced", "unreferenced", "no id", "refers to container", "none contained"],
)
def test_dom_3(resource: dict[str, Any], holds: bool) -> None:
    # fhirpathpy cannot evaluate dom-3 (as() on a collection), so the cases are the spec's.
    assert NATIVE["dom-3"](target(resource)) is holds
