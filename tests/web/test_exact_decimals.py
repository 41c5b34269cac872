"""Decimals come back as they were sent, on every path of the API (issue 26;
https://hl7.org/fhir/R4/datatypes.html#decimal: never IEEE floating point)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from lifeline import jsontext
from lifeline.fhir.service import FhirService

FHIR = {"Content-Type": "application/fhir+json"}
PLAIN = ["0.40", "105.00", "-83.694710", "3.141592653589793238462643", "0.000000150", "-0.0"]
EXPONENT = ["1e2", "1.50E-7"]


def _observation(values: list[str]) -> bytes:
    """An Observation whose components hold the values exactly as written in its JSON text."""
    components = ",".join(
        '{"code":{"text":"c' + str(i) + '"},"valueQuantity":{"value":' + v + ',"unit":"mg"}}'
        for i, v in enumerate(values)
    )
    return (
        '{"resourceType":"Observation","status":"final","code":{"text":"exact ' + uuid.uuid4().hex + '"},'
        '"subject":{"reference":"Patient/' + uuid.uuid4().hex + '"},"component":[' + components + "]}"
    ).encode()


def _written(resource: dict[str, Any]) -> list[str]:
    return [str(c["valueQuantity"]["value"]) for c in resource["component"]]


def _json(response: Any) -> Any:
    assert response.status_code < 300, response.text
    return jsontext.loads(response.content)


@pytest.fixture(scope="module")
def stored(client: Any) -> dict[str, Any]:
    response = client.post("/fhir/Observation", content=_observation(PLAIN + EXPONENT), headers=FHIR)
    created = _json(response)
    assert _written(created) == PLAIN + EXPONENT  # the write's own answer is what was sent
    return created


def test_read_vread_and_history_give_the_digits_back(client: Any, stored: dict[str, Any]) -> None:
    expected = PLAIN + EXPONENT
    path = f"/fhir/Observation/{stored['id']}"
    assert _written(_json(client.get(path))) == expected
    assert _written(_json(client.get(f"{path}/_history/1"))) == expected
    [entry] = _json(client.get(f"{path}/_history"))["entry"]
    assert _written(entry["resource"]) == expected


def test_search_summary_and_elements_give_the_digits_back(client: Any, stored: dict[str, Any]) -> None:
    expected = PLAIN + EXPONENT
    found = _json(client.get("/fhir/Observation", params={"_id": stored["id"]}))
    assert _written(found["entry"][0]["resource"]) == expected
    chosen = _json(client.get("/fhir/Observation", params={"_id": stored["id"], "_elements": "component"}))
    assert _written(chosen["entry"][0]["resource"]) == expected


def test_a_patch_elsewhere_leaves_the_digits_alone(client: Any) -> None:
    created = _json(client.post("/fhir/Observation", content=_observation(PLAIN), headers=FHIR))
    path = f"/fhir/Observation/{created['id']}"
    patch = b'[{"op": "replace", "path": "/status", "value": "amended"}]'
    patched = _json(client.patch(path, content=patch, headers={"Content-Type": "application/json-patch+json"}))
    assert patched["status"] == "amended" and _written(patched) == PLAIN
    merge = b'{"component": [{"code": {"text": "c0"}, "valueQuantity": {"value": 2.50, "unit": "mg"}}]}'
    merged = _json(client.patch(path, content=merge, headers={"Content-Type": "application/merge-patch+json"}))
    assert _written(merged) == ["2.50"]
    assert _written(_json(client.get(path))) == ["2.50"]


def test_a_transaction_keeps_the_digits(client: Any) -> None:
    entry = (
        '{"fullUrl":"urn:uuid:' + str(uuid.uuid4()) + '","resource":' + _observation(PLAIN).decode() + ","
        '"request":{"method":"POST","url":"Observation"}}'
    )
    bundle = '{"resourceType":"Bundle","type":"transaction","entry":[' + entry + "]}"
    result = _json(client.post("/fhir", content=bundle.encode(), headers=FHIR))
    location = result["entry"][0]["response"]["location"].split("/fhir", 1)[1].split("/_history")[0]
    assert _written(_json(client.get(f"/fhir{location}"))) == PLAIN
    # a PATCH entry carries its document in a Binary
    patch = base64.b64encode(b'[{"op": "replace", "path": "/status", "value": "amended"}]').decode()
    patch_bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch},
                "request": {"method": "PATCH", "url": location.lstrip("/")},
            }
        ],
    }
    assert client.post("/fhir", json=patch_bundle, headers=FHIR).status_code == 200
    assert _written(_json(client.get(f"/fhir{location}"))) == PLAIN


def test_a_number_search_uses_the_precision_as_written(client: Any) -> None:
    # R4 search.html#number: 0.40 stands for [0.395, 0.405]; a search for 0.403 lies within it,
    # where the 0.4 a float keeps stands for [0.35, 0.45].
    code = f"exact-{uuid.uuid4().hex}"
    body = (
        '{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"urn:test","code":"'
        + code
        + '"}]},'
        '"valueQuantity":{"value":0.40,"unit":"mg"}}'
    )
    client.post("/fhir/Observation", content=body.encode(), headers=FHIR)
    near = _json(client.get("/fhir/Observation", params={"code": f"urn:test|{code}", "value-quantity": "ap0.43"}))
    assert near.get("total", len(near.get("entry", []))) == 1
    stored_range = _json(client.get("/fhir/Observation", params={"code": f"urn:test|{code}", "value-quantity": "0.40"}))
    assert len(stored_range.get("entry", [])) == 1


def test_the_core_hands_decimals_to_its_callers_with_their_digits(service: FhirService, stored: dict[str, Any]) -> None:
    from lifeline.fhir.found import searched
    from lifeline.identity.principal import OPERATOR

    [found] = searched(service.as_user(OPERATOR), "Observation", [("_id", stored["id"])]).matches
    assert type(found["component"][0]["valueQuantity"]["value"]) is jsontext.Decimal
    assert str(found["component"][0]["valueQuantity"]["value"]) == "0.40"
