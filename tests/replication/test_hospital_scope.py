"""A hospital-scoped site holds its hospital's patients and everything shared, not the rest of the
region; a patient's first admission there brings their whole record along (issue 7)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lifeline.fhir import urls
from lifeline.identity import records
from lifeline.identity.passwords import hash_password
from lifeline.identity.principal import OPERATOR
from tests.replication.nodes import CentralNode, SiteNode, wait_until


@pytest.fixture
def central(tmp_path: Path) -> Iterator[CentralNode]:
    node = CentralNode("sqlite", tmp_path / "central")
    node.start()
    yield node
    node.close()


def _put(central: CentralNode, resource: dict[str, Any]) -> None:
    request = urls.parse("PUT", f"{resource['resourceType']}/{resource['id']}", [], f"{central.url}/fhir")
    request.body, request.principal = resource, OPERATOR
    assert central.service.handle(request).status in (200, 201)


def _encounter(res_id: str, patient: str, organisation: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": res_id,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{patient}"},
        "serviceProvider": {"reference": f"Organization/{organisation}"},
    }


def _observation(res_id: str, patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": res_id,
        "status": "final",
        "code": {"text": "Pulse"},
        "subject": {"reference": f"Patient/{patient}"},
    }


def test_a_hospital_site_holds_its_patients_and_what_is_shared(central: CentralNode, tmp_path: Path) -> None:
    _put(central, {"resourceType": "Organization", "id": "herlev", "name": "Herlev Hospital"})
    _put(
        central, {"resourceType": "Organization", "id": "herlev-cardio", "partOf": {"reference": "Organization/herlev"}}
    )
    _put(central, {"resourceType": "Organization", "id": "roskilde", "name": "Roskilde Hospital"})
    for patient in ("anna", "bent"):
        _put(central, {"resourceType": "Patient", "id": patient})
    _put(central, _encounter("enc-anna", "anna", "herlev-cardio"))
    _put(central, _encounter("enc-bent", "bent", "roskilde"))
    _put(central, _observation("obs-anna", "anna"))
    _put(central, _observation("obs-bent", "bent"))
    options = {"scope": "hospital", "organizations": ["herlev"]}
    site = SiteNode(central, "herlev", "sqlite", tmp_path / "herlev", site_options=options)
    try:
        wait_until(lambda: site.node.position >= site.node.head > 0 and site.repo.read("Observation", "obs-anna"))
        for held in [("Patient", "anna"), ("Observation", "obs-anna"), ("Organization", "roskilde")]:
            assert site.repo.read(*held) is not None, held
        for other in [("Patient", "bent"), ("Observation", "obs-bent"), ("Encounter", "enc-bent")]:
            assert site.repo.read(*other) is None, other
        # Bent's first admission at Herlev: his whole record comes along, history and all.
        _put(central, _encounter("enc-bent-herlev", "bent", "herlev"))
        wait_until(lambda: site.repo.read("Observation", "obs-bent") is not None, what="Bent's record at Herlev")
        assert site.repo.read("Patient", "bent") is not None
        assert site.repo.read("Encounter", "enc-bent") is not None
        # Another hospital's patient is not the site's to ask for.
        _put(central, {"resourceType": "Patient", "id": "cilla"})
        asked = httpx.get(
            f"{central.url}/replication/compartment?patient=cilla",
            headers={"authorization": f"Bearer {site.credential}"},
        )
        assert asked.status_code == 403, asked.text
    finally:
        site.close()


def test_a_hospital_site_holds_only_its_own_staff_logins(central: CentralNode, tmp_path: Path) -> None:
    _put(central, {"resourceType": "Organization", "id": "herlev"})
    _put(central, {"resourceType": "Organization", "id": "roskilde"})
    for practitioner, organisation in (("dr-herlev", "herlev"), ("dr-roskilde", "roskilde")):
        _put(central, {"resourceType": "Practitioner", "id": practitioner})
        _put(central, _role(f"role-{practitioner}", practitioner, organisation))
        records.put_user(central.repo, records.User(practitioner, practitioner, hash_password("s3cret-enough")))
    site = SiteNode(central, "herlev", "sqlite", tmp_path / "herlev", site_options={
        "scope": "hospital", "organizations": ["herlev"]})  # fmt: skip
    try:
        wait_until(lambda: site.node.position >= site.node.head > 0, what="the site to catch up")
        assert records.get_user(site.repo, "dr-herlev") is not None
        assert records.get_user(site.repo, "dr-roskilde") is None
        # A new role at Herlev: the doctor's login follows.
        _put(central, _role("role-dr-roskilde-at-herlev", "dr-roskilde", "herlev"))
        wait_until(lambda: records.get_user(site.repo, "dr-roskilde") is not None, what="the login at Herlev")
    finally:
        site.close()


def _role(res_id: str, practitioner: str, organisation: str) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "id": res_id,
        "practitioner": {"reference": f"Practitioner/{practitioner}"},
        "organization": {"reference": f"Organization/{organisation}"},
    }


def test_a_region_site_holds_everything(central: CentralNode, tmp_path: Path) -> None:
    _put(central, {"resourceType": "Patient", "id": "carl"})
    _put(central, _observation("obs-carl", "carl"))
    site = SiteNode(central, "glostrup", "sqlite", tmp_path / "glostrup")
    try:
        wait_until(lambda: site.repo.read("Observation", "obs-carl") is not None, what="the region at the site")
    finally:
        site.close()
