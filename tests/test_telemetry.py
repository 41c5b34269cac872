"""lifeline.telemetry: correlation ids, the JSON log lines and the node's own metrics, the last
read back from a real app's /metrics after a failed login and some requests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from lifeline import telemetry
from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from tests.web.test_login_pages import add_user, browser, csrf_of


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = telemetry.configure_logging(Settings(log_dir=str(tmp_path / "log"), node_id="herlev"))
    assert path == tmp_path / "log" / telemetry.LOG_FILE
    yield path
    telemetry.stop_logging()


def lines_of(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.mark.parametrize("value", ["a", "abc-123", "A.b_c:d-e", "x" * 128, "0f" * 16])
def test_a_sane_id_is_kept(value: str) -> None:
    assert telemetry.sane_request_id(value) == value


@pytest.mark.parametrize("value", [None, "", "x" * 129, "with space", "new\nline", "semi;colon", "ø", "a/b"])
def test_anything_else_is_refused(value: str | None) -> None:
    assert telemetry.sane_request_id(value) is None


def test_a_made_id_is_sane_and_new() -> None:
    made = {telemetry.new_request_id() for _ in range(100)}
    assert len(made) == 100
    assert all(telemetry.sane_request_id(each) == each and len(each) == 32 for each in made)


def test_correlated_sets_the_id_for_the_block_only() -> None:
    assert telemetry.current_request_id() is None
    with telemetry.correlated("round-1") as chosen:
        assert chosen == telemetry.current_request_id() == "round-1"
        with telemetry.correlated() as inner:
            assert telemetry.current_request_id() == inner != "round-1"
        assert telemetry.current_request_id() == "round-1"
    assert telemetry.current_request_id() is None
    with telemetry.correlated("not sane!") as replaced:
        assert replaced != "not sane!" and telemetry.sane_request_id(replaced) == replaced


@pytest.mark.parametrize(
    ("path", "status", "expected"),
    [
        ("/fhir", 200, "fhir"),
        ("/fhir/Patient/1", 404, "fhir"),
        ("/fhirish", 404, "other"),
        ("/login", 200, "login"),
        ("/login/second-factor", 200, "login"),
        ("/logout", 303, "login"),
        ("/oauth/token", 400, "login"),
        ("/status", 200, "status"),
        ("/status.json", 200, "status"),
        ("/metrics", 200, "status"),
        ("/replication/changes", 200, "replication"),
        ("/static/app.0123.css", 200, "static"),
        ("/patients/abc/vitals", 200, "page"),
        ("/", 200, "page"),
        ("/wp-admin.php", 404, "other"),
        ("/.well-known/jwks.json", 200, "other"),
    ],
)
def test_route_classes(path: str, status: int, expected: str) -> None:
    assert telemetry.route_class(path, status) == expected
    assert expected in telemetry.ROUTE_CLASSES


def test_status_classes() -> None:
    assert [telemetry.status_class(s) for s in (101, 200, 204, 303, 404, 429, 500, 503, 999)] == [
        "1xx", "2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "5xx", "5xx",
    ]  # fmt: skip


def test_a_log_line_is_json_with_the_node_the_id_and_the_extra_fields(log_file: Path) -> None:
    log = logging.getLogger("lifeline.tests")
    with telemetry.correlated("req-1"):
        log.info("first %s", "line", extra={"route_class": "page", "status": 200})
    log.warning("outside any request")
    try:
        raise ValueError("broken")
    except ValueError:
        log.exception("it failed")
    logging.getLogger("some.library").info("a library's chatter stays out")
    first, second, third = lines_of(log_file)
    assert first["message"] == "first line" and first["level"] == "INFO" and first["logger"] == "lifeline.tests"
    assert first["node"] == "herlev" and first["request_id"] == "req-1"
    assert first["route_class"] == "page" and first["status"] == 200
    assert str(first["time"]).endswith("Z") and str(first["time"]).startswith("20")
    assert second["request_id"] is None and second["level"] == "WARNING"
    assert "ValueError: broken" in str(third["exception"])


def test_no_log_folder_no_file(tmp_path: Path) -> None:
    assert telemetry.configure_logging(Settings(log_dir="")) is None
    assert not any(h.get_name() == "lifeline-jsonl" for h in logging.getLogger().handlers)


def test_configuring_again_replaces_the_handler(tmp_path: Path) -> None:
    try:
        telemetry.configure_logging(Settings(log_dir=str(tmp_path / "a")))
        second = telemetry.configure_logging(Settings(log_dir=str(tmp_path / "b")))
        assert [h.get_name() for h in logging.getLogger().handlers].count("lifeline-jsonl") == 2  # file, stderr
        logging.getLogger("lifeline.tests").warning("once")
        assert second is not None and len(lines_of(second)) == 1
        assert (tmp_path / "a" / telemetry.LOG_FILE).read_bytes() == b""
    finally:
        telemetry.stop_logging()


def _sample(name: str, **labels: str) -> float:
    return telemetry.TELEMETRY.get_sample_value(name, labels) or 0.0


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        if head == name and not wanted:
            return float(value)
        if head.startswith(name + "{") and ",".join(sorted(head[len(name) + 1 : -1].split(","))) == wanted:
            return float(value)
    raise AssertionError(f"{name}{{{wanted}}} is not in /metrics")


def test_metrics_count_requests_and_a_failed_login(service: FhirService) -> None:
    node = service.settings.node_id
    failures = _sample("lifeline_logins_total", node=node, person="staff", outcome="failure")
    pages = _sample("lifeline_http_requests_total", route_class="login", status_class="2xx")
    appends = _sample("lifeline_audit_append_seconds_count")
    staff = add_user(service)
    web = browser(service)
    page = web.get("/login")
    answer = web.post("/login", data={"csrf": csrf_of(page.text), "username": staff.username, "password": "wrong"})
    assert answer.status_code == 200 and "form" in answer.text
    assert web.get("/no-such-page").status_code == 404
    assert web.get("/fhir/metadata").status_code == 200
    text = web.get("/metrics").text
    assert _metric(text, "lifeline_logins_total", node=node, person="staff", outcome="failure") == failures + 1
    assert _metric(text, "lifeline_http_requests_total", route_class="login", status_class="2xx") >= pages + 2
    assert _metric(text, "lifeline_http_requests_total", route_class="other", status_class="4xx") >= 1
    assert _metric(text, "lifeline_http_requests_total", route_class="fhir", status_class="2xx") >= 1
    assert _metric(text, "lifeline_http_request_duration_seconds_count", route_class="fhir", status_class="2xx") >= 1
    assert _metric(text, "lifeline_http_requests_in_flight", route_class="status") == 1  # this very request
    assert _metric(text, "lifeline_audit_append_seconds_count") >= appends + 1
    # The replication figures are still there, before ours.
    assert "lifeline_open_conflicts{" in text


def test_a_patient_login_is_counted_apart_from_staff() -> None:
    before = _sample("lifeline_logins_total", node="n1", person="patient", outcome="success")
    telemetry.count_login("n1", "patient", "success")
    assert _sample("lifeline_logins_total", node="n1", person="patient", outcome="success") == before + 1
