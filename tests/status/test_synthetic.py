"""The synthetic probe logs in as a member of staff would — password, second-factor code — reads,
searches and logs out, through the node's real pages (status/synthetic.py); what it reports when
any step fails, and the probe account `lifeline probe account` makes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest

from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.keys import new_kek
from lifeline.identity.principal import OPERATOR
from lifeline.identity.totp import STEP_SECONDS
from lifeline.status import synthetic
from lifeline.status.watch import Watch
from lifeline.web.app import create_app
from tests.conftest import TickingClock, dispose, fresh_repository
from tests.web.browser import listening_socket, serving


@dataclass
class Served:
    service: FhirService
    base: str  # http://localhost:port


@pytest.fixture
def served(backend: str, tmp_path: Path) -> Iterator[Served]:
    """A node served over real HTTP on a loopback port, as the probe knocks at its front door."""
    repo = fresh_repository(backend, tmp_path)
    service: FhirService | None = None
    try:
        with closing(listening_socket()) as sock:
            port = sock.getsockname()[1]
            settings = Settings(issuer=f"http://localhost:{port}", kek=new_kek(), probe_seconds=0)
            service = FhirService(repo, settings, clock=TickingClock())
            with serving(create_app(service, close_on_shutdown=False), sock) as base:
                yield Served(service, base)
    finally:
        dispose(repo, service)


def _probe(served: Served) -> synthetic.SyntheticProbe:
    node, kek = served.service, served.service.identity.kek

    def account() -> synthetic.Credentials | None:
        return synthetic.credentials(node.repo, kek, "probe-central", 0)

    return synthetic.SyntheticProbe(served.base, account)


def _make(node: FhirService) -> str:
    return synthetic.make_account(
        node.as_user(OPERATOR, None, "HOPERAT"), node.repo, node.identity.kek, "probe-central"
    )


def test_the_probe_logs_in_reads_searches_and_logs_out(served: Served) -> None:
    node, probe = served.service, _probe(served)
    missing = probe.run()
    assert not missing.ok and "lifeline probe account" in missing.detail

    practitioner = _make(node)
    assert _make(node) == practitioner  # made again: the same Practitioner, a new password
    user = records.get_user(node.repo, "probe-central")
    assert user is not None and user.practitioner == practitioner and user.extra_roles == []

    found = probe.run()
    assert found.ok, found.detail
    assert found.key == "synthetic" and "login" in found.detail and "search" in found.detail
    step = records.get_user(node.repo, "probe-central").totp_step  # type: ignore[union-attr]
    assert step is not None  # a real second factor was taken
    again = probe.run()  # the next code of the window: a code is never used twice
    assert again.ok, again.detail
    assert records.get_user(node.repo, "probe-central").totp_step > step  # type: ignore[union-attr, operator]


def test_a_failed_login_is_reported_with_its_step_and_opens_an_incident(served: Served) -> None:
    node = served.service
    _make(node)
    user = records.get_user(node.repo, "probe-central")
    assert user is not None
    user.active = False
    records.put_user(node.repo, user)
    watch = Watch(node.repo, [_probe(served)], every_seconds=60, clock=node.clock)
    (found,) = watch.run_once()
    assert not found.ok and "password step failed" in found.detail
    with node.repo.reading() as session:
        from lifeline.status.incidents import open_incidents

        (incident,) = open_incidents(session)
    assert incident.title == "The synthetic login, read and search failed"
    assert set(incident.components) == {"staff-login", "record", "search"}


def test_the_next_code_never_reuses_a_step() -> None:
    secret = pyotp.random_base32()
    now = 1_000_000 * STEP_SECONDS + 1
    current = now // STEP_SECONDS
    totp = pyotp.TOTP(secret)
    assert synthetic.next_code(secret, None, now) == totp.generate_otp(current - 1)
    assert synthetic.next_code(secret, current, now) == totp.generate_otp(current + 1)
    assert synthetic.next_code(secret, current + 1, now) is None


def test_the_watch_runs_it_once_per_second_factor_step(served: Served) -> None:
    _make(served.service)
    claimed: list[int] = []
    probe = _probe(served)
    probe.claim = lambda round_: claimed.append(round_) or True
    first = probe()
    assert len(first) == 1 and first[0].ok, first
    assert probe() == []  # the same step: no second login
    assert len(claimed) == 1
