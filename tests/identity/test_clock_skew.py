"""A node whose clock is five minutes off: it says so, and its staff can still log in."""

from __future__ import annotations

import time

import pyotp

from lifeline.config import Settings
from lifeline.identity.clock_skew import ClockSkew
from lifeline.identity.keys import new_kek
from lifeline.identity.node import NodeIdentity
from lifeline.identity.totp import new_totp_secret, verify_totp
from tests.conftest import dispose, fresh_repository

FIVE_MINUTES = 300.0


def test_the_median_of_the_peers_wins_and_a_dead_peer_is_no_vote():
    def dead() -> float:
        raise OSError("unreachable")

    now = 1_800_000_000.0
    skew = ClockSkew([lambda: now - 10, lambda: now - 12, lambda: now + 500, dead], clock=lambda: now)
    measured = skew.measure()
    assert measured.peers == 3
    assert measured.offset == 10  # the median: the wild peer does not move the node
    assert measured.warning() is None  # within the 60 s threshold
    assert ClockSkew([dead], clock=lambda: now).measure().warning() is None  # no peer: nothing to say


def test_a_node_five_minutes_ahead_of_postgresql_warns_and_still_accepts_phone_codes(tmp_path):
    repo = fresh_repository("postgresql", tmp_path)
    try:
        ahead = lambda: time.time() + FIVE_MINUTES  # noqa: E731 - the node's broken clock
        node = NodeIdentity(repo, Settings(issuer="http://node", kek=new_kek()), clock=ahead)
        skew = node.skew.measure()
        assert skew.peers == 1 and abs(skew.offset - FIVE_MINUTES) < 5
        warning = skew.warning()
        assert warning is not None and "ahead of" in warning
        # The phone keeps real time; checked against the node's own clock its code is refused,
        # against the peers' time it is accepted.
        secret = new_totp_secret()
        code = pyotp.TOTP(secret).at(time.time())
        assert verify_totp(secret, code, last_accepted_step=None, clock=ahead) is None
        assert verify_totp(secret, code, last_accepted_step=None, clock=node.skew.peer_time) is not None
        # Its own tokens: issued and checked by the same clock, so they keep working.
        token = node.issue(subject="nurse", client_id="pages", scopes="user/*.rs", fhir_user="Practitioner/p1")
        assert node.verify(token).subject == "nurse"
    finally:
        dispose(repo)


def test_sqlite_has_no_clock_peer_and_no_warning(tmp_path):
    repo = fresh_repository("sqlite", tmp_path)
    try:
        node = NodeIdentity(repo, Settings(issuer="http://node", kek=new_kek()), clock=lambda: time.time() + 999)
        assert node.skew.measure().warning() is None
        assert abs(node.skew.peer_time() - (time.time() + 999)) < 5  # nothing to correct against
    finally:
        dispose(repo)
