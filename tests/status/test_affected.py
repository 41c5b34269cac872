"""Who an incident affects (status/affected.py): failed logins and refused requests over the
incident's window, counted from the audit trail by hospital, department, role and node — distinct
staff and attempts, unknown logins apart, patients as a number, no one named; on both backends."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from lifeline.audit import events
from lifeline.audit.access import access_event
from lifeline.audit.index import catch_up
from lifeline.audit.store import append
from lifeline.fhir import urls
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR, Principal
from lifeline.status import incidents
from lifeline.status.affected import AffectedCache, affected, tally
from lifeline.status.components import MAJOR, components
from lifeline.status.incidents import Incident
from tests.web.test_login_pages import add_user, browser, csrf_of

T0 = datetime(2026, 12, 6, 8, 2, tzinfo=UTC)
CENTRE = {"node": "central", "role": "central", "mode": "connected"}


def _put(service: FhirService, resource: dict[str, Any]) -> None:
    request = urls.parse("PUT", f"{resource['resourceType']}/{resource['id']}", [], "http://testserver/fhir")
    request.body, request.principal = resource, OPERATOR
    assert service.handle(request).status in (200, 201)


def _ref(res_type: str, res_id: str) -> dict[str, str]:
    return {"reference": f"{res_type}/{res_id}"}


def directory(service: FhirService, suffix: str = "") -> dict[str, str]:
    """Two hospitals (their names ending in `suffix`, to tell them from other tests' on a shared
    node), three departments, staff of two roles; their login names by a short key."""
    tag = uuid.uuid4().hex[:6]
    orgs = {
        f"herlev-{tag}": (f"Herlev Hospital{suffix}", None),
        f"holbaek-{tag}": (f"Holbæk Sygehus{suffix}", None),
        f"herlev-card-{tag}": ("Kardiologisk Afdeling", f"herlev-{tag}"),
        f"herlev-ed-{tag}": ("Akutmodtagelsen", f"herlev-{tag}"),
        f"holbaek-med-{tag}": ("Medicinsk Afdeling", f"holbaek-{tag}"),
    }
    for org_id, (name, part_of) in orgs.items():
        _put(service, {"resourceType": "Organization", "id": org_id, "name": name,
                       **({"partOf": _ref("Organization", part_of)} if part_of else {})})  # fmt: skip
    staff = {
        "ann": (f"herlev-card-{tag}", "Læge"),
        "bo": (f"herlev-card-{tag}", "Sygeplejerske"),
        "cy": (f"herlev-ed-{tag}", "Læge"),
        "di": (f"holbaek-med-{tag}", "Læge"),
    }
    names = {}
    for key, (department, role) in staff.items():
        practitioner = f"{key}-{tag}"
        _put(service, {"resourceType": "Practitioner", "id": practitioner, "name": [{"family": "Hansen"}]})
        _put(service, {"resourceType": "PractitionerRole", "id": f"role-{practitioner}", "active": True,
                       "practitioner": _ref("Practitioner", practitioner),
                       "organization": _ref("Organization", department), "code": [{"text": role}]})  # fmt: skip
        names[key] = add_user(service, practitioner=practitioner).username
    return names


def next_second() -> None:
    """Wait for the wall clock's next second: an incident begun then counts no failure of a test
    before (an incident's window starts at the second it began)."""
    time.sleep(1.001 - datetime.now(UTC).microsecond / 1_000_000)


def failed_login(service: FhirService, user: str, at: datetime, node: str = "central") -> None:
    event = events.security_event("login", node_id=node, outcome="failure", user=user, text="wrong password")
    append(service.repo, node, [event], clock=lambda: at)


def refused(service: FhirService, user: str | None, at: datetime, node: str = "central", patient: bool = False) -> None:
    principal = None
    if user is not None:
        fhir_user = f"Patient/{user}" if patient else None
        kind = "patient" if patient else "staff"
        principal = Principal(kind, user, "lifeline-web", OPERATOR.scopes, fhir_user=fhir_user)
    event = access_event(None, 503, node_id=node, address=None, exchange="read", principal=principal)
    append(service.repo, node, [event], clock=lambda: at)


def _at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def _incident(service: FhirService) -> Incident:
    return incidents.open_incident(
        service.repo, title="Logins fail", impact="major", components=["staff-login"], text="", author="operator:x",
        clock=lambda: T0,
    )  # fmt: skip


def test_distinct_staff_and_attempts_by_place_within_the_window(node: FhirService) -> None:
    names = directory(node)
    opened = _incident(node)
    minute = timedelta(minutes=1)
    failed_login(node, names["ann"], T0 - minute)  # before the incident: not counted
    for _ in range(3):
        failed_login(node, names["ann"], T0 + minute)
    failed_login(node, names["bo"], T0 + 2 * minute)
    failed_login(node, names["cy"], T0 + 2 * minute, node="herlev")
    failed_login(node, names["di"], T0 + 3 * minute, node="holbaek")
    failed_login(node, "no-such-login", T0 + 3 * minute)
    failed_login(node, "citizen", T0 + 3 * minute)
    refused(node, names["ann"], T0 + 4 * minute)
    refused(node, None, T0 + 4 * minute)
    refused(node, "pat-1", T0 + 4 * minute, patient=True)
    resolved = incidents.update_incident(
        node.repo, opened.id, status="resolved", text="Over", author="operator:x", clock=lambda: T0 + 10 * minute
    )
    failed_login(node, names["bo"], T0 + 11 * minute)  # after it was resolved: not counted
    found = affected(node.repo, resolved, node=CENTRE, components=components(CENTRE, [], []))
    logins = found.logins
    assert (logins.staff, logins.attempts, logins.unknown, logins.patient_attempts) == (4, 6, 1, 1)
    assert not logins.lower_bound and found.indexed
    by_hospital = {h.hospital: (h.staff, h.attempts) for h in logins.hospitals}
    assert by_hospital == {"Herlev Hospital": (3, 5), "Holbæk Sygehus": (1, 1)}
    groups = {(g.hospital, g.department, g.role, g.node): (g.staff, g.attempts) for g in logins.groups}
    assert groups == {
        ("Herlev Hospital", "Kardiologisk Afdeling", "Læge", "central"): (1, 3),
        ("Herlev Hospital", "Kardiologisk Afdeling", "Sygeplejerske", "central"): (1, 1),
        ("Herlev Hospital", "Akutmodtagelsen", "Læge", "herlev"): (1, 1),
        ("Holbæk Sygehus", "Medicinsk Afdeling", "Læge", "holbaek"): (1, 1),
    }
    requests = found.requests
    assert (requests.staff, requests.attempts, requests.unknown, requests.patients) == (1, 1, 1, 1)
    shown = repr(found)
    assert not any(name in shown for name in names.values()) and "pat-1" not in shown and "Hansen" not in shown


def test_an_open_incident_counts_until_now_and_a_bound_says_lower(node: FhirService) -> None:
    names = directory(node)
    now = datetime.now(UTC)
    opened = incidents.open_incident(
        node.repo, title="Logins fail", impact="major", components=["staff-login"], text="", author="operator:x",
        clock=lambda: now - timedelta(minutes=5),
    )  # fmt: skip
    for _ in range(4):
        failed_login(node, names["di"], now - timedelta(minutes=1))
    found = affected(node.repo, opened, node=CENTRE, components=components(CENTRE, [opened], []))
    assert found.until is None and (found.logins.staff, found.logins.attempts) == (1, 4)
    bounded = affected(node.repo, opened, node=CENTRE, components=[], limit=3)
    assert bounded.logins.lower_bound and bounded.logins.attempts == 3 and bounded.requests.lower_bound
    assert [c.status for c in found.components if c.key == "staff-login"] == ["partial_outage"]


def test_continuity_from_the_node_or_the_sites_cut_off() -> None:
    from lifeline.status.affected import continuity

    site = {"node": "herlev", "role": "site", "mode": "continuity"}
    assert continuity(site, []) == ("herlev",)
    assert continuity({**site, "mode": "connected"}, []) == ()
    cut = Incident("i", "t", "critical", "investigating", ("replication:holbaek",), "2026-12-06T08:00:00Z")
    found = components(CENTRE, [cut], ["herlev", "holbaek"])
    assert [c.status for c in found if c.site == "holbaek"] == [MAJOR]
    assert continuity(CENTRE, found) == ("holbaek",)


def test_a_real_failed_login_is_counted(service: FhirService) -> None:
    names = directory(service)
    next_second()  # the shared node: no earlier test's failed login in the incident's first second
    opened = incidents.open_incident(
        service.repo, title="Logins fail", impact="major", components=["staff-login"], text="", author="operator:x",
    )  # fmt: skip
    try:
        with browser(service) as web:
            page = web.get("/login")
            form = {"csrf": csrf_of(page.text), "username": names["cy"], "password": "not the password"}
            assert web.post("/login", data=form).status_code == 200  # the form again, with the problem
        found = affected(service.repo, opened, node=CENTRE, components=[])
        assert found.logins.staff == 1 and found.logins.hospitals[0].hospital == "Herlev Hospital"
        assert found.logins.groups[0].department == "Akutmodtagelsen"
    finally:
        incidents.update_incident(service.repo, opened.id, status="resolved", text="Test over", author="test")


def test_the_cache_computes_once_per_max_age() -> None:
    now = [0.0]
    asked: list[int] = []
    cache = AffectedCache(lambda: now[0], max_age=30)
    empty = tally([], None, login=True)  # type: ignore[arg-type]

    def compute() -> Any:
        asked.append(1)
        return empty

    assert cache.get("i", compute) is empty and cache.get("i", compute) is empty and len(asked) == 1
    now[0] = 31
    cache.get("i", compute)
    assert len(asked) == 2


def test_counting_a_large_trail_is_fast_enough_to_serve(node: FhirService) -> None:
    """100,000 records in the window, a fifth of them failures: measured, not asserted (the
    report says how long it took; see docs/architecture.md)."""
    names = directory(node)
    opened = _incident(node)
    users = [names["ann"], names["bo"], names["cy"], names["di"], "no-such-login"]
    batch = []
    for number in range(100_000):
        at = T0 + timedelta(milliseconds=number)
        if number % 5 == 0:
            event = events.security_event("login", node_id="central", outcome="failure", user=users[number % 25 // 5])
        else:
            event = access_event(None, 200, node_id="central", address=None, exchange="read", principal=OPERATOR)
        batch.append((at, event))
    for start in range(0, len(batch), 5000):
        chunk = batch[start : start + 5000]
        append(node.repo, "central", [event for _, event in chunk], clock=_at(chunk[0][0]))
    catch_up(node.repo)
    resolved = incidents.update_incident(
        node.repo, opened.id, status="resolved", text="Over", author="operator:x", clock=lambda: T0 + timedelta(hours=1)
    )
    began = time.perf_counter()
    found = affected(node.repo, resolved, node=CENTRE, components=[])
    took = time.perf_counter() - began
    print(f"\naffected over 100,000 records ({node.repo.__class__.__name__}): {took:.2f} s")
    assert found.logins.attempts == 16_000 and found.logins.staff == 4 and found.logins.unknown == 4_000


def test_the_synthetic_probe_is_never_counted_as_staff(node: FhirService) -> None:
    from lifeline.identity.principal import OPERATOR as operator
    from lifeline.status import synthetic

    names = directory(node)
    synthetic.make_account(node.as_user(operator, None, "HOPERAT"), node.repo, node.identity.kek, "probe-central")
    opened = _incident(node)
    failed_login(node, "probe-central", T0 + timedelta(minutes=1))  # its own incident tells of it
    failed_login(node, names["ann"], T0 + timedelta(minutes=1))
    found = affected(node.repo, opened, node=CENTRE, components=[])
    assert (found.logins.staff, found.logins.attempts, found.logins.unknown) == (1, 1, 0)
