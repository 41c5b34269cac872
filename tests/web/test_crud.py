"""create, read, vread, update, delete and patch over HTTP, on both backends."""

from __future__ import annotations

import base64
import uuid

import orjson

from tests.conftest import assert_outcome, new_patient

FHIR = {"Content-Type": "application/fhir+json"}


def create(client, resource, **headers):
    return client.post(f"/fhir/{resource['resourceType']}", json=resource, headers={**FHIR, **headers})


def test_create_assigns_uuid_and_answers_with_location_etag_and_last_modified(client):
    response = create(client, new_patient())
    assert response.status_code == 201, response.text
    body = response.json()
    uuid.UUID(body["id"])
    assert body["meta"]["versionId"] == "1"
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert response.headers["Last-Modified"].endswith("GMT")
    assert response.headers["content-type"].startswith("application/fhir+json")


def test_create_ignores_a_client_id_in_the_body(client):
    response = create(client, new_patient(id="chosen-by-client"))
    assert response.status_code == 201
    assert response.json()["id"] != "chosen-by-client"


def test_read_and_vread(client):
    created = create(client, new_patient()).json()
    read = client.get(f"/fhir/Patient/{created['id']}")
    assert read.status_code == 200
    assert read.json() == created
    assert read.headers["ETag"] == 'W/"1"'
    vread = client.get(f"/fhir/Patient/{created['id']}/_history/1")
    assert vread.status_code == 200
    assert vread.json() == created


def test_read_unknown_is_404_operation_outcome(client):
    assert_outcome(client.get(f"/fhir/Patient/{uuid.uuid4()}"), 404, "not-found")
    created = create(client, new_patient()).json()
    assert_outcome(client.get(f"/fhir/Patient/{created['id']}/_history/7"), 404, "not-found")
    assert_outcome(client.get(f"/fhir/Patient/{created['id']}/_history/x"), 404)


def test_update_makes_a_new_version_and_keeps_the_old(client):
    created = create(client, new_patient()).json()
    changed = {**created, "gender": "male"}
    response = client.put(f"/fhir/Patient/{created['id']}", json=changed, headers=FHIR)
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == 'W/"2"'
    assert response.json()["gender"] == "male"
    assert client.get(f"/fhir/Patient/{created['id']}/_history/1").json()["gender"] == "female"
    assert client.get(f"/fhir/Patient/{created['id']}").json()["meta"]["versionId"] == "2"


def test_update_as_create_with_a_client_chosen_id(client):
    pid = f"client-{uuid.uuid4().hex[:12]}"
    response = client.put(f"/fhir/Patient/{pid}", json=new_patient(id=pid), headers=FHIR)
    assert response.status_code == 201, response.text
    assert response.headers["Location"].endswith(f"/Patient/{pid}/_history/1")


def test_update_rejects_an_id_that_differs_from_the_url(client):
    created = create(client, new_patient()).json()
    body = {**created, "id": "another-id"}
    assert_outcome(client.put(f"/fhir/Patient/{created['id']}", json=body, headers=FHIR), 400, text="differs")
    without_id = {k: v for k, v in created.items() if k != "id"}
    assert_outcome(client.put(f"/fhir/Patient/{created['id']}", json=without_id, headers=FHIR), 400, text="id")
    assert client.get(f"/fhir/Patient/{created['id']}").json()["meta"]["versionId"] == "1"


def test_if_match_optimistic_locking(client):
    created = create(client, new_patient()).json()
    url = f"/fhir/Patient/{created['id']}"
    stale = client.put(url, json={**created, "gender": "other"}, headers={**FHIR, "If-Match": 'W/"9"'})
    assert_outcome(stale, 412, "conflict")
    fresh = client.put(url, json={**created, "gender": "other"}, headers={**FHIR, "If-Match": 'W/"1"'})
    assert fresh.status_code == 200
    again = client.put(url, json={**created, "gender": "male"}, headers={**FHIR, "If-Match": 'W/"1"'})
    assert_outcome(again, 412)
    assert client.get(url).json()["gender"] == "other"


def test_prefer_return(client):
    minimal = create(client, new_patient(), Prefer="return=minimal")
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert "Location" in minimal.headers
    outcome = create(client, new_patient(), Prefer="return=OperationOutcome")
    assert outcome.status_code == 201
    assert outcome.json()["resourceType"] == "OperationOutcome"
    representation = create(client, new_patient(), Prefer="return=representation")
    assert representation.json()["resourceType"] == "Patient"


def test_delete_then_read_is_gone_and_history_keeps_it(client):
    created = create(client, new_patient()).json()
    url = f"/fhir/Patient/{created['id']}"
    assert client.delete(url).status_code == 204
    assert_outcome(client.get(url), 410, "deleted")
    assert client.delete(url).status_code == 204  # idempotent: nothing new is written
    history = client.get(f"{url}/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert history["total"] == 2
    assert client.get(f"{url}/_history/1").status_code == 200
    assert_outcome(client.get(f"{url}/_history/2"), 410)
    # A deleted resource can be brought back by an update: version 3.
    revived = client.put(url, json=created, headers=FHIR)
    assert revived.status_code == 201
    assert revived.headers["ETag"] == 'W/"3"'


def test_delete_unknown_is_204(client):
    assert client.delete(f"/fhir/Patient/{uuid.uuid4()}").status_code == 204


def test_json_patch(client):
    created = create(client, new_patient()).json()
    url = f"/fhir/Patient/{created['id']}"
    patch = [{"op": "replace", "path": "/gender", "value": "male"}, {"op": "add", "path": "/active", "value": True}]
    response = client.patch(url, json=patch, headers={"Content-Type": "application/json-patch+json"})
    assert response.status_code == 200, response.text
    assert response.json()["gender"] == "male"
    assert response.json()["active"] is True
    assert response.headers["ETag"] == 'W/"2"'
    history = client.get(f"{url}/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["PATCH", "POST"]


def test_json_patch_errors_write_nothing(client):
    created = create(client, new_patient()).json()
    url = f"/fhir/Patient/{created['id']}"
    headers = {"Content-Type": "application/json-patch+json"}
    assert_outcome(client.patch(url, json={"op": "replace"}, headers=headers), 400, text="JSON Patch")
    assert_outcome(
        client.patch(url, json=[{"op": "replace", "path": "/nothing/here", "value": 1}], headers=headers), 422
    )
    invalid = [{"op": "replace", "path": "/gender", "value": "robot"}]
    assert_outcome(client.patch(url, json=invalid, headers=headers), 400)
    retyped = [{"op": "replace", "path": "/id", "value": "other"}]
    assert_outcome(client.patch(url, json=retyped, headers=headers), 422)
    stale = client.patch(
        url, json=[{"op": "add", "path": "/active", "value": True}], headers={**headers, "If-Match": 'W/"5"'}
    )
    assert_outcome(stale, 412)
    assert client.get(url).json()["meta"]["versionId"] == "1"
    assert_outcome(client.patch(f"/fhir/Patient/{uuid.uuid4()}", json=[], headers=headers), 404)


MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def test_json_merge_patch(client):
    """RFC 7386: members merge, `null` removes; a new version through the update's write path."""
    created = create(client, new_patient(active=True, telecom=[{"system": "phone", "value": "12345678"}])).json()
    url = f"/fhir/Patient/{created['id']}"
    merge = {"gender": "male", "active": None, "name": [{"family": "Merged"}], "maritalStatus": {"text": "married"}}
    response = client.patch(url, json=merge, headers={**MERGE_PATCH, "If-Match": 'W/"1"'})
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == 'W/"2"'
    patched = client.get(url).json()
    assert patched["gender"] == "male"
    assert "active" not in patched
    assert patched["name"] == [{"family": "Merged"}]
    assert patched["maritalStatus"] == {"text": "married"}
    assert patched["telecom"] == created["telecom"]
    assert patched["meta"]["versionId"] == "2"
    history = client.get(f"{url}/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["PATCH", "POST"]


def test_json_merge_patch_is_checked_like_an_update(client):
    created = create(client, new_patient()).json()
    url = f"/fhir/Patient/{created['id']}"
    assert_outcome(client.patch(url, json={"gender": "male"}, headers={**MERGE_PATCH, "If-Match": 'W/"9"'}), 412)
    assert_outcome(client.patch(url, json={"gender": "robot"}, headers=MERGE_PATCH), 400)
    assert_outcome(client.patch(url, json={"hobby": "chess"}, headers=MERGE_PATCH), 400)
    assert_outcome(client.patch(url, json={"id": "another"}, headers=MERGE_PATCH), 422)
    assert_outcome(client.patch(url, json=[{"op": "remove", "path": "/gender"}], headers=MERGE_PATCH), 400)
    assert client.get(url).json()["meta"]["versionId"] == "1"


def test_a_merge_patch_sent_as_plain_json_says_which_type_to_use(client):
    """fhirpy's patch() sends its merge patch as application/json."""
    created = create(client, new_patient()).json()
    url = f"/fhir/Patient/{created['id']}"
    body = assert_outcome(client.patch(url, json={"gender": "male"}, headers={"Content-Type": "application/json"}), 400)
    text = body["issue"][0]["diagnostics"]
    assert "application/merge-patch+json" in text and "application/json-patch+json" in text
    assert client.get(url).json()["gender"] == "female"


def test_merge_patch_in_a_transaction(client):
    created = create(client, new_patient()).json()
    merge = base64.b64encode(orjson.dumps({"gender": "other", "birthDate": None})).decode()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Binary", "contentType": "application/merge-patch+json", "data": merge},
                "request": {"method": "PATCH", "url": f"Patient/{created['id']}"},
            }
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR)
    assert response.status_code == 200, response.text
    patched = client.get(f"/fhir/Patient/{created['id']}").json()
    assert patched["gender"] == "other"
    assert "birthDate" not in patched
