"""A Binary in its own format and judged by its securityContext (web/binary.py, access/ties.py),
on both backends: raw upload and download byte for byte with the content's type, the JSON form,
406, `X-Security-Context`; who may read and write one; attachments up to the body limit."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.audit.store import drain_outbox, events_after
from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.web.app import create_app
from tests.conftest import TickingClock, assert_outcome, dispose, fresh_repository, put_resource

FHIR = {"Content-Type": "application/fhir+json"}
JSON = {"Accept": "application/fhir+json"}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
# A "scanned letter": a PDF header, then every byte value, so that no byte can be lost unseen.
LETTER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"


def _ref(kind: str, key: str) -> dict[str, str]:
    return {"reference": f"{kind}/{key}"}


@pytest.fixture(scope="module")
def world(client: Any, service: FhirService) -> dict[str, Any]:
    """A department with its doctor, a patient in its care and one in another's, each with a
    DocumentReference; tokens for both doctors and both patients."""
    tag = uuid.uuid4().hex[:8]
    w: dict[str, Any] = {"tag": tag, **{k: f"{k}-{tag}" for k in ("dep", "other", "doc", "role", "enc", "b")}}
    put_resource(client, {"resourceType": "Organization", "id": w["dep"], "name": "Ward A"})
    put_resource(client, {"resourceType": "Organization", "id": w["other"], "name": "Ward B"})
    put_resource(client, {"resourceType": "Practitioner", "id": w["doc"], "name": [{"family": "Doc"}]})
    role = {"resourceType": "PractitionerRole", "id": w["role"], "active": True}
    put_resource(
        client, {**role, "practitioner": _ref("Practitioner", w["doc"]), "organization": _ref("Organization", w["dep"])}
    )
    for name, dep in (("enc", "dep"), ("b", "other")):
        put_resource(client, {"resourceType": "Patient", "id": w[name], "name": [{"family": f"Bin{tag}"}]})
        put_resource(
            client,
            {
                "resourceType": "Encounter",
                "id": f"e-{name}-{tag}",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": _ref("Patient", w[name]),
                "period": {"start": "2026-11-15T10:00:00Z", "end": "2026-11-16T10:00:00Z"},
                "serviceProvider": _ref("Organization", w[dep]),
            },
        )
        w[f"doc_{name}"] = f"letter-{name}-{tag}"
        put_resource(
            client,
            {
                "resourceType": "DocumentReference",
                "id": w[f"doc_{name}"],
                "status": "current",
                "subject": _ref("Patient", w[name]),
                "description": "Referral letter (scanned)",
                # The scan itself is a Binary naming this DocumentReference as its securityContext.
                "content": [{"attachment": {"contentType": "application/pdf", "title": "referral.pdf"}}],
            },
        )

    def token(**claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {service.identity.issue(client_id='tests', lifetime=3600, **claims)}"}

    w["in_care"] = token(subject=f"doc-{tag}", scopes="user/*.cruds", fhir_user=f"Practitioner/{w['doc']}")
    w["outside"] = token(subject=f"nobody-{tag}", scopes="user/*.cruds", fhir_user=f"Practitioner/none-{tag}")
    for name in ("enc", "b"):
        w[f"patient_{name}"] = token(
            subject=f"citizen-{name}-{tag}", scopes="patient/*.cruds", fhir_user=f"Patient/{w[name]}", patient=w[name]
        )
    return w


def _upload(client: Any, data: bytes, content_type: str, context: str | None, headers: Any = None) -> Any:
    sent = {"Content-Type": content_type, **({"X-Security-Context": context} if context else {}), **(headers or {})}
    return client.post("/fhir/Binary", content=data, headers=sent)


def _path(response: Any) -> str:
    return str(response.headers["Location"]).replace("http://testserver", "").split("/_history")[0]


def test_raw_upload_then_raw_download_is_byte_identical(client: Any, world: dict[str, Any]) -> None:
    context = f"DocumentReference/{world['doc_enc']}"
    created = _upload(client, LETTER, "application/pdf", context)
    assert created.status_code == 201, created.text
    assert created.json()["contentType"] == "application/pdf"
    path = _path(created)
    for accept in ("application/pdf", "*/*", BROWSER, "application/*", None):
        answer = client.get(path, headers={"Accept": accept} if accept else {})
        assert answer.status_code == 200, (accept, answer.text)
        assert answer.content == LETTER, accept
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.headers["ETag"] == 'W/"1"' and answer.headers["Last-Modified"].endswith("GMT")
        assert answer.headers["X-Security-Context"] == context
        assert answer.headers["x-content-type-options"] == "nosniff"
    vread = client.get(f"{path}/_history/1", headers={"Accept": "application/pdf"})
    assert vread.status_code == 200 and vread.content == LETTER


def test_a_raw_put_stores_at_its_id_and_keeps_parameters_of_the_type(client: Any, world: dict[str, Any]) -> None:
    path = f"/fhir/Binary/put-{uuid.uuid4().hex[:12]}"
    text = "Henvisning: smerter i venstre knæ\n".encode()
    first = client.put(path, content=text, headers={"Content-Type": "text/plain; charset=utf-8"})
    assert first.status_code == 201, first.text
    second = client.put(path, content=text + b"Tillaeg.\n", headers={"Content-Type": "text/plain; charset=utf-8"})
    assert second.status_code == 200 and second.headers["ETag"] == 'W/"2"'
    answer = client.get(path, headers={"Accept": "text/*"})
    assert answer.content == text + b"Tillaeg.\n"
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert "x-security-context" not in answer.headers  # it has none
    assert "sandbox" in answer.headers["content-security-policy"]  # an upload runs nothing in a browser
    assert client.get(f"{path}/_history/1", headers={"Accept": "text/plain"}).content == text


def test_the_json_form_of_the_same_binary(client: Any, world: dict[str, Any]) -> None:
    context = f"DocumentReference/{world['doc_enc']}"
    path = _path(_upload(client, LETTER, "application/pdf", context))
    for how in ({"headers": JSON}, {"params": {"_format": "json"}}, {"headers": {"Accept": "application/json"}}):
        answer = client.get(path, **how)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/fhir+json")
        binary = answer.json()
        assert binary["resourceType"] == "Binary" and binary["contentType"] == "application/pdf"
        assert base64.b64decode(binary["data"]) == LETTER
        assert binary["securityContext"] == {"reference": context}
    # And a Binary written as JSON is read raw all the same.
    resource = {"resourceType": "Binary", "contentType": "image/png", "data": base64.b64encode(b"\x89PNG\r\n").decode()}
    created = client.post("/fhir/Binary", json=resource, headers=FHIR)
    raw = client.get(_path(created), headers={"Accept": "image/*"})
    assert raw.content == b"\x89PNG\r\n" and raw.headers["content-type"] == "image/png"


def test_an_accept_neither_the_content_nor_fhir_json_is_406(client: Any, world: dict[str, Any]) -> None:
    path = _path(_upload(client, LETTER, "application/pdf", f"Patient/{world['enc']}"))
    body = assert_outcome(client.get(path, headers={"Accept": "image/png"}), 406, "not-supported")
    assert "application/pdf" in body["issue"][0]["diagnostics"]
    assert_outcome(client.get(f"{path}/_history/1", headers={"Accept": "text/html"}), 406)
    assert_outcome(client.get(path, headers={"Accept": "application/pdf;q=0, image/*"}), 406)
    assert_outcome(client.get(path, params={"_format": "xml"}), 406)
    assert_outcome(client.get(path, headers={"Accept": "application/fhir+xml"}), 406)


def test_bad_input_is_refused_and_nothing_is_stored(client: Any, world: dict[str, Any]) -> None:
    def nothing_at(path: str) -> None:
        assert client.get(path, headers=JSON).status_code == 404

    path = f"/fhir/Binary/bad-{uuid.uuid4().hex[:12]}"
    assert_outcome(client.put(path, content=LETTER, headers={"Content-Type": ""}), 400, text="Content-Type")
    nothing_at(path)
    bad_context = {"Content-Type": "application/pdf", "X-Security-Context": "the referral"}
    assert_outcome(client.put(path, content=LETTER, headers=bad_context), 400, text="X-Security-Context")
    nothing_at(path)
    assert_outcome(client.put(path, content=LETTER, headers={"Content-Type": "not a type"}), 400, text="media type")
    nothing_at(path)
    assert_outcome(client.put(path, content=LETTER, headers={"Content-Type": "application/fhir+xml"}), 415)
    nothing_at(path)
    # A person must name something they may see: unknown and unseeable get the same answer.
    for context in (f"DocumentReference/unknown-{world['tag']}", f"DocumentReference/{world['doc_b']}"):
        sent = {"Content-Type": "application/pdf", "X-Security-Context": context, **world["in_care"]}
        body = assert_outcome(client.put(path, content=LETTER, headers=sent), 422, "processing")
        assert body["issue"][0]["diagnostics"] == f"securityContext {context} names no resource you may see"
        nothing_at(path)
    binary_of_binary = {"Content-Type": "application/pdf", "X-Security-Context": "Binary/x", **world["in_care"]}
    assert_outcome(client.put(path, content=LETTER, headers=binary_of_binary), 422, text="names no patient")
    # Without a securityContext a Binary could be anyone's: only integrations write one.
    assert_outcome(
        client.put(path, content=LETTER, headers={"Content-Type": "application/pdf", **world["in_care"]}), 403
    )
    nothing_at(path)


def test_a_binary_is_read_as_the_resource_its_security_context_names(client: Any, world: dict[str, Any]) -> None:
    path = _path(_upload(client, LETTER, "application/pdf", f"DocumentReference/{world['doc_enc']}"))
    bid = path.rsplit("/", 1)[1]
    for who in ("in_care", "patient_enc"):
        answer = client.get(path, headers={"Accept": "application/pdf", **world[who]})
        assert answer.status_code == 200 and answer.content == LETTER, who
    assert_outcome(client.get(path, headers=world["outside"]), 403, "suppressed", "break the glass")
    assert_outcome(client.get(f"{path}/_history/1", headers=world["outside"]), 403, "suppressed")
    assert_outcome(client.get(path, headers=world["patient_b"]), 404)
    # Searches, includes, counts and history keep to the same judgement.
    for who, shown in (("in_care", True), ("patient_enc", True), ("outside", False), ("patient_b", False)):
        headers = {**JSON, **world[who]}
        found = client.get(f"/fhir/Binary?_id={bid}", headers=headers).json()
        assert found["total"] == (1 if shown else 0), who
        everywhere = client.get(f"/fhir/?_id={bid}", headers=headers).json()
        assert everywhere["total"] == (1 if shown else 0), who
        counted = client.get(f"/fhir/Binary?_id={bid}&_summary=count", headers=headers).json()
        assert counted["total"] == (1 if shown else 0), who
        by_context = client.get(f"/fhir/Binary?security-context=DocumentReference/{world['doc_enc']}", headers=headers)
        assert (bid in by_context.text) is shown, who
        history = client.get("/fhir/Binary/_history?_count=1000", headers=headers).json()
        assert any(bid in e["fullUrl"] for e in history.get("entry", [])) is shown, who
        revinclude = client.get(
            f"/fhir/DocumentReference?_id={world['doc_enc']}&_revinclude=Binary:security-context", headers=headers
        )
        assert (bid in revinclude.text) is shown, who
    included = client.get(
        f"/fhir/Binary?_id={bid}&_include=Binary:security-context", headers={**JSON, **world["in_care"]}
    )
    assert f"DocumentReference/{world['doc_enc']}" in included.text


def test_a_binary_naming_nothing_stays_for_integrations(client: Any, world: dict[str, Any]) -> None:
    path = _path(_upload(client, b"anyone's", "text/plain", None))
    assert client.get(path).content == b"anyone's"  # the shared client is a system principal
    for who in ("in_care", "patient_enc"):
        assert client.get(path, headers=world[who]).status_code in (403, 404), who
        assert (
            client.get(f"/fhir/Binary?_id={path.rsplit('/', 1)[1]}", headers={**JSON, **world[who]}).json()["total"]
            == 0
        )


def test_people_write_binaries_for_what_they_may_see(client: Any, world: dict[str, Any]) -> None:
    scan = _upload(client, LETTER, "application/pdf", f"Patient/{world['enc']}", world["in_care"])
    assert scan.status_code == 201, scan.text
    assert client.get(_path(scan), headers=world["patient_enc"]).content == LETTER
    assert client.get(_path(scan), headers=world["outside"]).status_code == 403
    own = _upload(client, b"my own notes", "text/plain", f"Patient/{world['enc']}", world["patient_enc"])
    assert own.status_code == 201, own.text
    assert client.get(_path(own), headers=world["in_care"]).content == b"my own notes"
    other = _upload(client, b"not mine", "text/plain", f"Patient/{world['b']}", world["patient_enc"])
    assert_outcome(other, 422, text="names no resource you may see")
    # Moving a Binary to a record the writer cannot see is refused like creating it there.
    moved = client.put(
        _path(scan),
        content=LETTER,
        headers={"Content-Type": "application/pdf", "X-Security-Context": f"Patient/{world['b']}", **world["in_care"]},
    )
    assert_outcome(moved, 422)
    assert client.get(_path(scan), headers=JSON).json()["securityContext"]["reference"] == f"Patient/{world['enc']}"


def test_a_deleted_binary_is_judged_by_what_it_named(client: Any, world: dict[str, Any]) -> None:
    path = _path(_upload(client, LETTER, "application/pdf", f"DocumentReference/{world['doc_enc']}"))
    assert client.delete(path).status_code in (200, 204)
    assert_outcome(client.get(path, headers=world["in_care"]), 410)
    assert client.get(f"{path}/_history/1", headers={"Accept": "application/pdf", **world["in_care"]}).content == LETTER
    assert client.get(f"{path}/_history/1", headers=world["outside"]).status_code == 403
    assert client.get(f"{path}/_history/1", headers=world["patient_b"]).status_code == 404


def test_the_audit_records_of_a_write_and_a_read_name_the_patient(
    client: Any, service: FhirService, world: dict[str, Any]
) -> None:
    # Read: the patient of the DocumentReference it names; written: the Patient it names.
    read = _path(_upload(client, LETTER, "application/pdf", f"DocumentReference/{world['doc_enc']}"))
    assert client.get(read, headers=world["in_care"]).status_code == 200
    written = _path(_upload(client, LETTER, "application/pdf", f"Patient/{world['enc']}"))
    drain_outbox(service.repo)  # the write's record, from the outbox into the chain
    rows = events_after(service.repo, service.settings.node_id, 0, limit=1_000_000)
    events = [orjson.loads(r.content) for r in rows]
    for kind, path in (("read", read), ("create", written)):
        reference = path.removeprefix("/fhir/")
        found = [
            e
            for e in events
            if e["subtype"][0]["code"] == kind
            and any(x.get("what", {}).get("reference", "").startswith(reference) for x in e.get("entity", []))
        ]
        assert found, f"the {kind} is on the trail"
        named = {x["what"]["reference"] for x in found[-1]["entity"] if "what" in x}
        assert f"Patient/{world['enc']}" in named, kind


@pytest.fixture(scope="module")
def roomy(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A node whose body limit (16 MB) is above a scanned letter's size."""
    repo = fresh_repository(backend, tmp_path_factory.mktemp(f"roomy-{backend}"))
    settings = Settings(max_body_bytes=16 * 1024 * 1024, issuer="http://testserver", kek=new_kek(), probe_seconds=0)
    service = FhirService(repo, settings, clock=TickingClock())
    token = service.identity.issue(subject="tests", client_id="tests", scopes="system/*.cruds", lifetime=3600)
    app = create_app(service, close_on_shutdown=False)
    with TestClient(app, base_url="http://testserver", headers={"Authorization": f"Bearer {token}"}) as test_client:
        yield test_client
    dispose(repo, service)


def test_a_ten_megabyte_scanned_letter_is_stored_and_read_back(roomy: TestClient) -> None:
    letter = b"%PDF-1.7\n" + bytes(range(256)) * (10 * 1024 * 4) + b"\n%%EOF\n"  # 10 MB
    patient = f"big-{uuid.uuid4().hex[:8]}"
    put_resource(roomy, {"resourceType": "Patient", "id": patient})
    created = _upload(roomy, letter, "application/pdf", f"Patient/{patient}", {"Prefer": "return=minimal"})
    assert created.status_code == 201, created.text[:500]
    path = _path(created)
    answer = roomy.get(path, headers={"Accept": "application/pdf"})
    assert answer.status_code == 200 and answer.content == letter
    assert base64.b64decode(roomy.get(path, headers=JSON).json()["data"]) == letter
    # An attachment inside a resource may be as large, up to the body limit.
    attachment = {"contentType": "application/pdf", "data": base64.b64encode(letter[: 3 * 1024 * 1024]).decode()}
    document = {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": f"Patient/{patient}"},
        "content": [{"attachment": attachment}],
    }
    stored = roomy.post("/fhir/DocumentReference", json=document, headers={**FHIR, "Prefer": "return=minimal"})
    assert stored.status_code == 201, stored.text[:500]
    read = roomy.get(_path(stored)).json()
    assert read["content"][0]["attachment"]["data"] == attachment["data"]
    # Past the body limit, 413, as for any body.
    too_big = b"%PDF-1.7\n" + b"\0" * (16 * 1024 * 1024)
    assert_outcome(_upload(roomy, too_big, "application/pdf", f"Patient/{patient}"), 413)


def test_the_capability_statement_says_so(client: Any) -> None:
    statement = client.get("/fhir/metadata").json()
    binary = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Binary")
    assert "X-Security-Context" in binary["documentation"]
    assert any(p["name"] == "security-context" for p in binary["searchParam"])
