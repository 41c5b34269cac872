"""Each health probe against what it watches (status/probes.py): failed logins on the audit
trail, a site's mode and lag, the centre's silent sites, the clock against its peers."""

from __future__ import annotations

from datetime import timedelta

from lifeline.audit import events as audit_events
from lifeline.clock import system_clock
from lifeline.fhir.service import FhirService
from lifeline.identity.clock_skew import ClockSkew
from lifeline.replication.contacts import SiteContacts
from lifeline.status import probes


def test_failed_logins_above_the_alarm_fail_the_probe_within_their_window(node: FhirService) -> None:
    for n in range(4):
        audit_events.record(node.repo, "login", outcome="failure", user=f"u{n}", text="wrong password")
    audit_events.record(node.repo, "login", outcome="success", user="ok")
    audit_events.record(node.repo, "logout", outcome="failure", user="ok")  # not a login
    audit_events.record(node.repo, "login", outcome="failure", user="elsewhere", node_id="herlev")  # another chain
    now = system_clock()  # as the security events are recorded
    (within,) = probes.login_failures(node.repo, node.settings.node_id, 3, lambda: now)()
    assert not within.ok and "more than 3 failed logins" in within.detail
    assert within.components == ("staff-login", "patient-login")
    (under,) = probes.login_failures(node.repo, node.settings.node_id, 4, lambda: now)()
    assert under.ok and under.detail.startswith("4 failed logins")
    later = now + timedelta(minutes=probes.LOGIN_WINDOW_MINUTES, seconds=30)
    (after,) = probes.login_failures(node.repo, node.settings.node_id, 3, lambda: later)()
    assert after.ok and after.detail.startswith("0 failed")


def test_the_database_probe(node: FhirService) -> None:
    (found,) = probes.database(node.repo)()
    assert found.ok and found.impact == "critical" and "record" in found.components


def test_a_site_cut_off_or_stalled() -> None:
    status = {"mode": "connected", "lagSeconds": 0.0, "behind": 0, "centralLastReached": "2026-12-06T08:00:00Z"}
    cut, stall = probes.centre(lambda: status, 120)()
    assert cut.ok and stall.ok
    status.update(lagSeconds=300.5, behind=42)
    cut, stall = probes.centre(lambda: status, 120)()
    assert cut.ok and not stall.ok and "300.5 s behind" in stall.detail and "42 changes" in stall.detail
    status.update(mode="continuity", lastError="ConnectError: connection refused")
    cut, stall = probes.centre(lambda: status, 120)()
    assert not cut.ok and stall.ok  # cut off is the incident, not a stall on top of it
    assert cut.components == ("replication",) and "connection refused" in cut.detail


def test_the_centre_hears_its_sites(node: FhirService) -> None:
    now = [1000.0]
    contacts = SiteContacts(node.repo, clock=lambda: now[0])
    elsewhere = SiteContacts(node.repo, clock=lambda: now[0])  # another server process of the centre
    probe = probes.silent_sites(contacts.last, lambda: ["herlev", "roskilde"], 120, lambda: now[0], contacts.began)
    assert all(found.ok for found in probe())  # just started: not yet silent
    now[0] += 100
    elsewhere.heard("herlev")
    now[0] += 50
    herlev, roskilde = probe()
    assert herlev.ok and herlev.key == "site:herlev"
    assert not roskilde.ok and roskilde.components == ("replication:roskilde",) and "150 s" in roskilde.detail


def test_the_clock_against_its_peers() -> None:
    mine = [10_000.0]
    skewed = ClockSkew([lambda: mine[0] - 300.0, lambda: mine[0] - 301.0, lambda: mine[0] + 5], clock=lambda: mine[0])
    (found,) = probes.clock(skewed, 60)()
    assert not found.ok and "300 s ahead of" in found.detail and "3 peers" in found.detail
    (alone,) = probes.clock(ClockSkew([], clock=lambda: mine[0]), 60)()
    assert alone.ok and "No peer" in alone.detail
