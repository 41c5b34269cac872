"""How every R4 type is tied to a patient (access/ties.py, issue 19.7), and what follows: an
untied type that can carry anyone's data is refused to staff and patients."""

from __future__ import annotations

import base64
from typing import Any

from lifeline.access.ties import COMPARTMENT, CONTEXT, DIRECTORY, PATIENT, UNTIED, tie, tie_params
from lifeline.search.registry import default_registry
from tests.conftest import assert_outcome, put_resource

FHIR = {"Content-Type": "application/fhir+json"}


def test_every_type_has_a_decided_tie() -> None:
    registry = default_registry()
    kinds = {t: tie(registry, t) for t in registry.resource_types}
    assert kinds["Patient"] == PATIENT
    assert kinds["Observation"] == COMPARTMENT and kinds["Device"] == COMPARTMENT
    assert tie_params(registry, "Device") == ("patient",)
    assert kinds["Practitioner"] == DIRECTORY and kinds["Slot"] == DIRECTORY
    for untied in ("Bundle", "Linkage", "MessageHeader", "Subscription", "Parameters"):
        assert kinds[untied] == UNTIED, untied
    assert kinds["Binary"] == CONTEXT  # judged as the resource its securityContext names
    assert tie(registry, "SomethingNew") == UNTIED  # unknown types are refused until decided
    # Every type is one of the five kinds, and a tied type has at least one tie parameter.
    assert set(kinds.values()) == {PATIENT, COMPARTMENT, DIRECTORY, CONTEXT, UNTIED}
    assert all(tie_params(registry, t) for t, kind in kinds.items() if kind == COMPARTMENT)


def _untied(world: dict[str, Any]) -> list[dict[str, Any]]:
    tag, old = world["tag"], world["old"]
    return [
        {
            "resourceType": "Binary",
            "id": f"bin-{tag}",
            "contentType": "text/plain",  # no securityContext: nothing to judge it by
            "data": base64.b64encode(f"discharge letter of Patient/{old}".encode()).decode(),
        },
        {
            "resourceType": "Bundle",
            "id": f"bun-{tag}",
            "type": "collection",
            "entry": [{"resource": {"resourceType": "Patient", "id": old, "name": [{"family": world["family"]}]}}],
        },
    ]


def test_untied_types_are_for_system_principals_only(client: Any, world: dict[str, Any]) -> None:
    for resource in _untied(world):
        put_resource(client, resource)  # the shared client is a system principal
        url = f"/fhir/{resource['resourceType']}/{resource['id']}"
        assert client.get(url).status_code == 200
        assert_outcome(client.get(url, headers=world["docA_h"]), 403)
        found = client.get(f"/fhir/{resource['resourceType']}?_id={resource['id']}", headers=world["docA_h"]).json()
        assert found["total"] == 0
        system = client.get(f"/fhir/?_id={resource['id']}", headers=world["docA_h"]).json()
        assert system["total"] == 0
        assert client.get(url, headers=world["patient_h"]("old")).status_code in (403, 404)
        # Writing one is refused as well.
        assert_outcome(client.put(url, json=resource, headers={**FHIR, **world["docA_h"]}), 403)


def test_a_device_is_judged_by_its_patient(client: Any, world: dict[str, Any]) -> None:
    device = {
        "resourceType": "Device",
        "id": f"dev-{world['tag']}",
        "patient": {"reference": f"Patient/{world['old']}"},
    }
    put_resource(client, device)
    url = f"/fhir/Device/{device['id']}"
    assert_outcome(client.get(url, headers=world["docA_h"]), 403, "suppressed")
    assert client.get(f"/fhir/Device?_id={device['id']}", headers=world["docA_h"]).json()["total"] == 0
    assert client.get(url, headers=world["patient_h"]("old")).status_code == 200


def test_a_directory_resource_cannot_smuggle_a_patient(client: Any, world: dict[str, Any]) -> None:
    smuggler = {
        "resourceType": "Location",
        "id": f"loc-{world['tag']}",
        "contained": [{"resourceType": "Patient", "id": "p", "name": [{"family": "Hidden"}]}],
    }
    response = client.put(f"/fhir/Location/{smuggler['id']}", json=smuggler, headers=FHIR)
    assert_outcome(response, 422, text="contain")
