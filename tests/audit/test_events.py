"""Security events on the audit trail: logins, failed logins and logouts at the pages,
break-the-glass (with its grant, in one transaction), and the chain still verifies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lifeline.access.break_glass import grant
from lifeline.audit.checkpoint import audit_key_ring
from lifeline.audit.events import security_event
from lifeline.audit.store import events_after
from lifeline.audit.verify import verify
from lifeline.fhir.service import FhirService
from tests.identity.helpers import Clock
from tests.web.test_login_pages import add_user, browser, csrf_of, log_in


def _events(service: FhirService) -> list[dict[str, Any]]:
    import orjson

    node = service.settings.node_id
    return [orjson.loads(r.content) for r in events_after(service.repo, node, 0, limit=100_000)]


def _about(events: list[dict[str, Any]], user: str) -> list[tuple[str, str]]:
    """(subtype code, outcome) of the events whose requestor is `user`, oldest first."""
    return [
        (e["subtype"][0]["code"], e["outcome"])
        for e in events
        if any(a.get("altId") == user for a in e["agent"] if a.get("requestor"))
    ]


def test_logins_failed_logins_and_logouts_are_recorded(service: FhirService) -> None:
    clock, staff = Clock(), add_user(service)
    with browser(service, clock) as web:
        page = web.get("/login")
        wrong = {"csrf": csrf_of(page.text), "username": staff.username, "password": "not the password at all"}
        assert web.post("/login", data=wrong).status_code == 200
        log_in(web, staff, clock)
        account = web.get("/login")
        assert web.post("/logout", data={"csrf": csrf_of(account.text)}).status_code == 303
    logins = [e for e in _about(_events(service), staff.username) if e[0] in ("110122", "110123")]
    assert logins == [("110122", "4"), ("110122", "0"), ("110123", "0")]  # besides, the top bar's read of their name
    report = verify(service.repo, audit_key_ring(service.repo))
    assert report.ok, report


def test_break_the_glass_is_a_security_alert_committed_with_its_grant(service: FhirService) -> None:
    now = datetime.now(UTC)
    grant(
        service.repo, user="dr.who", practitioner="pr-who", patient="pt-1", reason="ETREAT", text="unconscious",
        now=now, hours=4,
    )  # fmt: skip
    alerts = [e for e in _events(service) if e["subtype"][0]["code"] == "break-the-glass" and e["agent"][0].get(
        "altId") == "dr.who"]  # fmt: skip
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["type"]["code"] == "110113"  # DICOM Security Alert
    assert alert["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert alert["entity"][0]["what"]["reference"] == "Patient/pt-1"
    assert alert["outcomeDesc"] == "unconscious"


def test_event_shape() -> None:
    event = security_event("login", node_id="herlev", outcome="failure", user="x", address="10.0.0.1")
    assert event["resourceType"] == "AuditEvent" and event["outcome"] == "4"
    assert event["agent"][0]["network"] == {"address": "10.0.0.1", "type": "2"}
    assert event["source"]["observer"]["display"] == "herlev"
