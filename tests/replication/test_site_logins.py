"""Logins survive the centre (issues 5 and 7): staff log in at their site, password and TOTP,
while the centre is down; a token one node signs is good at every node; and the centre revokes
a site's credential and its tokens at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lifeline.identity import records, sites
from tests.identity.helpers import Clock
from tests.replication.nodes import CentralNode, SiteNode, wait_until
from tests.web.test_login_pages import add_user, browser, log_in


@pytest.fixture
def central(tmp_path: Path) -> Iterator[CentralNode]:
    node = CentralNode("sqlite", tmp_path / "central")
    node.start()
    yield node
    node.close()


@pytest.fixture
def site(central: CentralNode, tmp_path: Path) -> Iterator[SiteNode]:
    node = SiteNode(central, "herlev", "sqlite", tmp_path / "herlev")
    yield node
    node.close()


def test_staff_log_in_at_a_site_while_the_centre_is_down(central: CentralNode, site: SiteNode) -> None:
    clock = Clock()
    staff = add_user(central.service)  # made at the centre: the site has it only by replication
    wait_until(lambda: records.get_user(site.repo, staff.username) is not None, what="the user at the site")
    with browser(site.service, clock) as web:
        assert log_in(web, staff, clock).status_code == 200  # first login: TOTP enrolled at the site
    wait_until(
        lambda: (records.get_user(central.repo, staff.username) or records.User("", "", "")).totp_secret is not None,
        what="the enrolment to reach the centre",
    )
    central.stop()
    clock.now += 60
    with browser(site.service, clock) as web:
        answer = log_in(web, staff, clock, next_path="/fhir/metadata")
        assert (answer.status_code, answer.headers["location"]) == (303, "/fhir/metadata")
    assert site.node.mode == "continuity" or site.node.status()["pendingLocalChanges"] > 0
    central.start()
    wait_until(lambda: site.node.mode == "connected" and site.node.status()["pendingLocalChanges"] == 0)
    # The login's own bookkeeping (the last TOTP step used) reached the centre: a code is never
    # good twice, at any node.
    at_site = records.get_user(site.repo, staff.username)
    at_centre = records.get_user(central.repo, staff.username)
    assert at_site is not None and at_centre is not None and at_centre.totp_step == at_site.totp_step


def test_a_token_signed_at_a_site_is_good_at_the_centre_until_the_site_is_revoked(
    central: CentralNode, site: SiteNode
) -> None:
    token = site.token()
    headers = {"authorization": f"Bearer {token}"}
    # The site's key reaches the centre through the outbox; then its tokens hold there too.
    wait_until(
        lambda: httpx.get(f"{central.url}/fhir/Patient?_count=1", headers=headers).status_code == 200,
        what="the site's token to be accepted at the centre",
    )
    sites.revoke_site(central.repo, "herlev")
    central.service.identity.refresh()  # as the next minute's re-read of the region would
    refused = httpx.get(f"{central.url}/fhir/Patient?_count=1", headers=headers)
    assert refused.status_code == 401, refused.text
    feed = httpx.get(f"{central.url}/replication/changes", headers={"authorization": f"Bearer {site.credential}"})
    assert feed.status_code == 403
