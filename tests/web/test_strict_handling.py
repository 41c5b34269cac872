"""`Prefer: handling=strict` on search (https://hl7.org/fhir/R4/search.html#errors): a parameter the
server would ignore refuses the search, with issues of severity error."""

from __future__ import annotations

import uuid

from tests.conftest import assert_outcome

STRICT = {"Prefer": "handling=strict"}


def test_strict_search_with_an_ignored_parameter_is_400_with_errors(client):
    family = f"Strict{uuid.uuid4().hex[:8]}"
    response = client.get("/fhir/Patient", params={"family": family, "_list": "my-list"}, headers=STRICT)
    body = assert_outcome(response, 400, code="not-supported", text="_list")
    assert [i["severity"] for i in body["issue"]] == ["error"]


def test_strict_search_with_an_unknown_parameter_is_400_with_errors(client):
    response = client.get("/fhir/Observation", params={"shoe-size": "42", "_contained": "true"}, headers=STRICT)
    body = assert_outcome(response, 400)
    assert {i["severity"] for i in body["issue"]} == {"error"}
    assert len(body["issue"]) == 2


def test_lenient_search_keeps_the_ignored_parameter_as_a_warning(client):
    response = client.get("/fhir/Patient", params={"family": f"Lenient{uuid.uuid4().hex[:8]}", "_list": "x"})
    assert response.status_code == 200, response.text
    outcome = [e for e in response.json()["entry"] if e["search"]["mode"] == "outcome"][0]["resource"]
    assert [i["severity"] for i in outcome["issue"]] == ["warning"]
