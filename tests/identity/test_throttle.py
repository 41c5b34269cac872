"""Login throttling: lifeline.identity.throttle."""

from __future__ import annotations

from typing import Any

import pytest

from lifeline.identity.throttle import (
    Allowed,
    Counter,
    CounterStore,
    Decision,
    InMemoryCounterStore,
    LoginThrottle,
    Refused,
    ThrottlePolicy,
    TrustedDevice,
    account_key,
    address_key,
)

ADDRESS = "192.0.2.10"


class FixedClock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class DictStore:
    """The simplest CounterStore: shows the protocol is all the throttle needs, and exposes the keys."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[Counter, float]] = {}

    def get(self, key: str, now: float) -> Counter | None:
        entry = self.entries.get(key)
        return entry[0] if entry and entry[1] > now else None

    def put(self, key: str, counter: Counter, expires_at: float) -> None:
        self.entries[key] = (counter, expires_at)

    def delete(self, key: str) -> None:
        self.entries.pop(key, None)


def throttle(clock: FixedClock, store: CounterStore | None = None, **policy: Any) -> LoginThrottle:
    return LoginThrottle(store or InMemoryCounterStore(), ThrottlePolicy(**policy), clock)


def test_default_policy() -> None:
    policy = ThrottlePolicy()
    assert (policy.free_failures, policy.first_delay_seconds, policy.max_delay_seconds) == (3, 1.0, 900.0)
    assert (policy.address_limit, policy.address_window_seconds) == (30, 300.0)


def test_the_first_failures_are_free_then_one_second() -> None:
    clock = FixedClock()
    login = throttle(clock)
    assert [login.check_attempt("alice", ADDRESS) for _ in range(3)] == [Allowed()] * 3
    assert login.check_attempt("alice", ADDRESS) == Refused(retry_after=1, scope="account")
    clock.advance(0.999)
    assert login.check_attempt("alice", ADDRESS) == Refused(retry_after=1, scope="account")
    clock.advance(0.001)
    assert login.check_attempt("alice", ADDRESS) == Allowed()


def test_the_delay_doubles_up_to_fifteen_minutes() -> None:
    clock = FixedClock()
    login = throttle(clock, address_limit=1000)
    for _ in range(3):
        login.check_attempt("alice", ADDRESS)
    waits = []
    for _ in range(14):
        refusal = login.check_attempt("alice", ADDRESS)
        assert isinstance(refusal, Refused) and refusal.scope == "account"
        waits.append(refusal.retry_after)
        clock.advance(refusal.retry_after - 0.5)
        assert isinstance(login.check_attempt("alice", ADDRESS), Refused)
        clock.advance(0.5)
        assert login.check_attempt("alice", ADDRESS) == Allowed()
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900]


def test_the_delay_formula_stays_finite_for_absurd_counts() -> None:
    login = throttle(FixedClock())
    assert [login.account_delay(n) for n in (0, 2, 3, 4, 13, 14)] == [0, 0, 1, 2, 900, 900]
    assert login.account_delay(10**9) == 900


def test_refused_attempts_do_not_lengthen_the_delay() -> None:
    clock = FixedClock()
    login = throttle(clock)
    for _ in range(3):
        login.check_attempt("alice", ADDRESS)
    for _ in range(50):
        assert login.check_attempt("alice", ADDRESS) == Refused(1, "account")
    clock.advance(1)
    assert login.check_attempt("alice", ADDRESS) == Allowed()


def test_success_resets_the_account() -> None:
    clock = FixedClock()
    login = throttle(clock)
    for _ in range(3):
        login.check_attempt("alice", ADDRESS)
    clock.advance(1)
    assert login.check_attempt("alice", ADDRESS) == Allowed()
    login.record_success("alice", ADDRESS)
    assert [login.check_attempt("alice", ADDRESS) for _ in range(3)] == [Allowed()] * 3


def test_failures_are_forgotten_after_a_day_without_attempts() -> None:
    clock = FixedClock()
    login = throttle(clock)
    for _ in range(4):
        login.check_attempt("alice", ADDRESS)
        clock.advance(1)
    clock.advance(24 * 3600)
    assert [login.check_attempt("alice", ADDRESS) for _ in range(3)] == [Allowed()] * 3


def test_a_parallel_burst_cannot_all_pass_before_the_first_failure() -> None:
    login = throttle(FixedClock())
    decisions = [login.check_attempt("alice", ADDRESS) for _ in range(20)]
    assert decisions.count(Allowed()) == 3


def test_accounts_are_throttled_independently() -> None:
    login = throttle(FixedClock())
    for _ in range(3):
        login.check_attempt("alice", ADDRESS)
    assert isinstance(login.check_attempt("alice", ADDRESS), Refused)
    assert login.check_attempt("bob", ADDRESS) == Allowed()


def test_user_names_are_folded_before_counting() -> None:
    login = throttle(FixedClock())
    for name in ("Alice", " alice", "ALICE "):
        assert login.check_attempt(name, ADDRESS) == Allowed()
    assert isinstance(login.check_attempt("alice", ADDRESS), Refused)


def test_refusals_look_the_same_whether_or_not_the_account_exists() -> None:
    # The throttle never learns whether an account exists: the same history gives the same answers.
    def history(name: str) -> list[Decision]:
        clock = FixedClock()
        login = throttle(clock)
        decisions = []
        for step in range(12):
            decisions.append(login.check_attempt(name, ADDRESS))
            clock.advance(step * 0.7)
        return decisions

    assert history("dr.jensen") == history("no.such.person")
    assert any(isinstance(decision, Refused) for decision in history("no.such.person"))


def test_an_address_may_fail_at_most_thirty_times_per_window() -> None:
    clock = FixedClock()
    login = throttle(clock)
    for n in range(30):
        assert login.check_attempt(f"user{n}", ADDRESS) == Allowed()
        clock.advance(1)
    assert login.check_attempt("user-new", ADDRESS) == Refused(retry_after=270, scope="address")
    assert login.check_attempt("user-new", "198.51.100.7") == Allowed()
    clock.advance(269.5)
    assert login.check_attempt("user-new", ADDRESS) == Refused(retry_after=1, scope="address")
    clock.advance(0.5)
    assert login.check_attempt("user-new", ADDRESS) == Allowed()


def test_the_longer_wait_wins_when_both_limits_refuse() -> None:
    clock = FixedClock()
    login = throttle(clock, address_limit=4)
    for _ in range(3):
        login.check_attempt("alice", ADDRESS)
    login.check_attempt("bob", ADDRESS)
    assert login.check_attempt("alice", ADDRESS) == Refused(retry_after=300, scope="address")


def test_successful_logins_give_their_address_slot_back() -> None:
    # A whole hospital behind one NAT address logging in at shift change.
    login = throttle(FixedClock())
    for n in range(200):
        assert login.check_attempt(f"nurse{n}", ADDRESS) == Allowed()
        login.record_success(f"nurse{n}", ADDRESS)


def test_ipv6_clients_are_limited_per_slash_64() -> None:
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "address:2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.10") == address_key("192.0.2.10") == "address:192.0.2.10"
    with pytest.raises(ValueError, match="not an IPv4 or IPv6 address"):
        address_key("example.org")


def test_store_keys_are_short_and_name_no_one() -> None:
    store = DictStore()
    login = throttle(FixedClock(), store)
    login.check_attempt("dr.jensen" * 1000, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
    assert len(store.entries) == 2
    assert all(len(key) <= 80 and "jensen" not in key for key in store.entries)
    assert account_key("Dr.Jensen") == account_key("dr.jensen") != account_key("dr.jensen2")


def test_memory_store_forgets_expired_entries() -> None:
    store = InMemoryCounterStore()
    store.put("a", Counter(1, 0.0), expires_at=10.0)
    store.put("b", Counter(2, 0.0), expires_at=20.0)
    assert store.get("a", now=9.9) == Counter(1, 0.0)
    assert store.get("a", now=10.0) is None
    assert len(store) == 1
    assert store.get("b", now=25.0) is None
    assert len(store) == 0


def test_memory_store_replaces_and_deletes() -> None:
    store = InMemoryCounterStore()
    store.put("a", Counter(1, 0.0), expires_at=10.0)
    store.put("a", Counter(2, 5.0), expires_at=30.0)
    assert store.get("a", now=20.0) == Counter(2, 5.0)
    store.delete("a")
    store.delete("never-there")
    assert store.get("a", now=20.0) is None


def test_memory_store_is_bounded_and_evicts_what_expires_first() -> None:
    store = InMemoryCounterStore(max_entries=3)
    for name, expires_at in [("late", 400.0), ("soon", 100.0), ("middle", 200.0), ("new", 300.0)]:
        store.put(name, Counter(1, 0.0), expires_at)
    assert len(store) == 3
    assert store.get("soon", now=0.0) is None
    assert [store.get(k, now=0.0) is not None for k in ("late", "middle", "new")] == [True] * 3


def test_memory_store_stays_bounded_when_the_same_keys_are_rewritten() -> None:
    store = InMemoryCounterStore(max_entries=10)
    for n in range(10_000):
        store.put(f"k{n % 5}", Counter(n, 0.0), expires_at=float(n))
    assert len(store) == 5
    assert len(store._expiries) <= 2 * 5 + 16


def test_memory_store_refuses_a_useless_bound() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        InMemoryCounterStore(max_entries=0)


# Known devices (identity/device_cookies.py, issue 28): an attack elsewhere cannot lock them out.


def test_a_known_device_gets_past_the_account_delay_and_the_address_limit() -> None:
    clock = FixedClock()
    gate = throttle(clock, address_limit=5)
    for n in range(12):  # an attacker behind the hospital's NAT address, at the clinician's and others'
        gate.check_attempt("lise" if n % 2 else f"user-{n}", ADDRESS)
    assert isinstance(gate.check_attempt("lise", ADDRESS), Refused)  # a browser the node does not know
    assert isinstance(gate.check_attempt("karen", ADDRESS), Refused)  # the address is full
    assert isinstance(gate.check_attempt("lise", ADDRESS, device="ward-pc"), TrustedDevice)
    gate.record_success("lise", ADDRESS, device="ward-pc")


def test_a_known_device_that_keeps_failing_is_judged_as_any_other() -> None:
    clock = FixedClock()
    gate = throttle(clock, device_failures=3)
    decisions = [gate.check_attempt("lise", ADDRESS, device="stolen-laptop") for _ in range(3)]
    assert all(isinstance(d, TrustedDevice) for d in decisions)
    fourth = gate.check_attempt("lise", ADDRESS, device="stolen-laptop")
    assert isinstance(fourth, Allowed)  # no longer trusted: the account's own count goes on
    for _ in range(3):
        gate.check_attempt("lise", ADDRESS, device="stolen-laptop")
    assert isinstance(gate.check_attempt("lise", ADDRESS, device="stolen-laptop"), Refused)


def test_success_on_a_known_device_resets_it_and_gives_the_address_slot_back() -> None:
    clock, store = FixedClock(), DictStore()
    gate = throttle(clock, store, device_failures=3, address_limit=2)
    for _ in range(2):
        assert isinstance(gate.check_attempt("lise", ADDRESS, device="ward-pc"), TrustedDevice)
        gate.record_success("lise", ADDRESS, device="ward-pc")
    assert not [k for k in store.entries if k.startswith("device:")]
    assert isinstance(gate.check_attempt("karen", ADDRESS), Allowed)  # the address's slots came back
