"""The official R4 examples, a representative part on both backends (issue 26): the first example
of each of the 141 resource types, every example holding a decimal (98), and every one Lifeline
refuses (28, each for its reason). Each is written as it is and read back equal in value and
precision. All 5,306 are counted by `python -m bench.r4_examples` (docs/benchmarks.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline import jsontext
from lifeline.fhir.service import FhirService
from tests.conftest import TEST_SETTINGS, TickingClock, dispose, fresh_repository
from tests.r4_examples import examples, judge

# Why Lifeline refuses these (status, words of its answer): written by the server alone, a
# business rule, or invalid by R4's own definitions.
REFUSED = {
    **{
        f"AuditEvent-{name}.json": (405, "written by Lifeline itself")
        for name in (
            "example-disclosure",
            "example-error",
            "example-login",
            "example-logout",
            "example-media",
            "example-pixQuery",
            "example-rest",
            "example-search",
            "example",
        )  # fmt: skip
    },
    "Appointment-2docs.json": (422, "a day that has passed"),
    "Appointment-example.json": (422, "a day that has passed"),
    "Appointment-examplereq.json": (422, "Slot/example does not exist"),
    "Bundle-v2-valuesets.json": (400, "'code' must not be empty"),
    "CodeSystem-v2-0550.json": (400, "'code' must not be empty"),
    "ImplementationGuide-fhir.json": (400, "Missing required element 'name'"),
    "ig-r4.json": (400, "Missing required element 'name'"),
    "Questionnaire-qs1.json": (400, "Missing required element 'linkId'"),
    "SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json": (
        400,
        "is not a valid id",
    ),
    **{
        f"SearchParameter-{kind}-extensions-{owner}-{name}.json": (400, "Missing required element 'base'")
        for kind, owner in (("codesystem", "CodeSystem"), ("valueset", "ValueSet"))
        for name in ("author", "effective", "end", "keyword", "workflow")
    },
}


def _has_decimal(value: object) -> bool:
    if isinstance(value, dict):
        return any(_has_decimal(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_decimal(v) for v in value)
    return type(value) is jsontext.Decimal


def _chosen() -> list[Path]:
    files = examples()
    first_of_type: dict[str, Path] = {}
    for path in files:
        first_of_type.setdefault(path.name.split("-")[0], path)
    chosen = set(first_of_type.values()) | {p for p in files if p.name in REFUSED}
    chosen |= {p for p in files if _has_decimal(jsontext.loads(p.read_bytes()))}
    return sorted(chosen)


@pytest.fixture(scope="module")
def fresh(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirService]:
    """A database of its own: the examples' ids (Patient/example …) are everyone's."""
    repo = fresh_repository(backend, tmp_path_factory.mktemp(f"examples-{backend}"))
    yield FhirService(repo, TEST_SETTINGS, clock=TickingClock())
    dispose(repo)


def test_the_examples_are_stored_and_read_back_as_sent_or_refused_for_their_reason(
    fresh: FhirService, backend: str
) -> None:
    chosen = _chosen()
    assert len(chosen) > 200
    judged = [judge(fresh, path, backend) for path in chosen]
    broken = [j for j in judged if j.kind == "broken"]
    assert not broken, broken[:5]
    refused = {j.name: j for j in judged if j.kind == "refused"}
    assert set(refused) == set(REFUSED)
    for name, (status, words) in REFUSED.items():
        assert refused[name].detail.startswith(f"{status}:") and words in refused[name].detail, refused[name]
    changed = [j for j in judged if j.kind == "stored" and not j.equal]
    assert not changed, changed[:5]
    decimals = [j for j in judged if j.name == "Observation-decimal.json"]
    assert decimals and decimals[0].equal  # 1.00, 1E-22, -1.000000000000000000E+245 as sent
