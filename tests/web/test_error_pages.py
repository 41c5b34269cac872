"""The pages' one error handler (web/errors.py): outside /fhir an error is an HTML page with a plain
message and a correlation id (also in the log line, with the exception), never a traceback; a
request asking for JSON gets the OperationOutcome."""

from __future__ import annotations

import logging
import re

import pytest

from lifeline.errors import Conflict, StorageUnavailable
from lifeline.fhir.service import FhirService
from lifeline.replication import status
from lifeline.web.pages import landing
from tests.web.test_login_pages import browser

SECRET = "internal detail that must not leave the server"


def correlation_of(page: str) -> str:
    match = re.search(r'id="correlation">([0-9a-f]{12})<', page)
    assert match, page
    return match.group(1)


def broken(*args: object) -> dict[str, object]:
    raise RuntimeError(SECRET)


def test_an_exception_in_a_page_is_a_plain_page_with_a_correlation_id(
    service: FhirService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(landing, "landing", broken)
    with browser(service) as web, caplog.at_level(logging.ERROR, "lifeline.web"):
        answer = web.get("/")
    assert answer.status_code == 500 and answer.headers["content-type"].startswith("text/html")
    correlation = correlation_of(answer.text)
    assert answer.headers["x-correlation-id"] == correlation
    assert SECRET not in answer.text and "Traceback" not in answer.text and "RuntimeError" not in answer.text
    assert "Something went wrong" in answer.text
    (record,) = [r for r in caplog.records if correlation in r.getMessage()]
    assert record.exc_info is not None and str(record.exc_info[1]) == SECRET


def test_json_asked_for_gets_the_operation_outcome(service: FhirService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(landing, "landing", broken)
    with browser(service) as web:
        for answer in (web.get("/", params={"_format": "json"}), web.get("/", headers={"Accept": "application/json"})):
            assert answer.status_code == 500
            outcome = answer.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert outcome["issue"][0]["code"] == "exception" and SECRET not in answer.text
            assert answer.headers["x-correlation-id"] in outcome["issue"][0]["diagnostics"]


def test_a_fhir_error_keeps_its_status_and_message(service: FhirService, monkeypatch: pytest.MonkeyPatch) -> None:
    def conflicted(*args: object) -> dict[str, object]:
        raise Conflict("Someone else changed this record first.")

    monkeypatch.setattr(landing, "landing", conflicted)
    with browser(service) as web:
        page = web.get("/")
        assert page.status_code == 409 and "Someone else changed this record first." in page.text
        assert "A conflict with another change" in page.text and correlation_of(page.text)
        outcome = web.get("/?_format=json").json()
        assert outcome["issue"][0]["code"] == "conflict"


def test_an_unknown_path_is_the_html_404_page(service: FhirService) -> None:
    with browser(service) as web:
        page = web.get("/no/such/page")
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "Page not found" in page.text and correlation_of(page.text)
        assert '<link rel="stylesheet"' in page.text  # in the base layout
        assert web.get("/no/such/page", headers={"Accept": "application/json"}).json()["issue"][0]["code"] == (
            "not-found"
        )


def test_the_fhir_api_keeps_its_own_errors(service: FhirService) -> None:
    with browser(service) as web:
        answer = web.get("/fhir/NoSuchType/1")
        assert answer.headers["content-type"].startswith("application/fhir+json")
        assert answer.json()["resourceType"] == "OperationOutcome"


def test_a_database_that_is_down_still_gets_its_error_page(
    service: FhirService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The layout reads the node's status; when that fails too, the page is shown without it."""

    def down(*args: object) -> dict[str, object]:
        raise StorageUnavailable("The database is not answering")

    monkeypatch.setattr(landing, "landing", down)
    monkeypatch.setattr(status, "node_status", down)
    with browser(service) as web:
        page = web.get("/")
        assert page.status_code == 503 and page.headers["retry-after"] == "5"
        assert "Lifeline is unavailable for a moment" in page.text and correlation_of(page.text)
