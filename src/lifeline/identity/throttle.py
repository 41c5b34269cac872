"""Brute-force protection for staff login, decided before any password hash is computed.

Two limits (OWASP Authentication Cheat Sheet, "Protect against automated attacks"; NIST SP 800-63B
section 3.2.2, rate limiting):

- per account, a progressive delay: the first few failures are free, then each further attempt must wait
  1 s, 2 s, 4 s ... up to 15 minutes after the previous one. A delay, never a lockout, so that an attacker
  cannot lock a clinician out for good; success resets it.
- per client address, at most N failed attempts per fixed window whatever the accounts tried, against
  password spraying. Successful logins give their slot back, so a hospital behind one NAT address is not
  locked out at shift change.

An allowed attempt is counted as a failure at once and refunded by record_success; that way a burst of
parallel requests cannot all pass before the first one has failed.

A browser with a device cookie for the user (identity/device_cookies.py, OWASP's device cookies) is judged
by its own counter instead: neither the account's delay nor the address's limit applies to it, so an
attacker elsewhere cannot lock out a clinician at their usual workstation. After `device_failures` failed
attempts in a row the device is judged like any other browser.

The account key is derived from the user name alone, never from whether the account exists, so refusals
look the same for real and made-up names (no enumeration).
"""

from __future__ import annotations

import hashlib
import heapq
import ipaddress
import math
import threading
import unicodedata
from dataclasses import dataclass
from typing import Literal, Protocol

from lifeline.clock import EpochClock, epoch_clock


@dataclass(frozen=True)
class Counter:
    """A count and the moment it refers to (last attempt for an account, window start for an address)."""

    count: int
    at: float


class CounterStore(Protocol):
    """Where the throttle keeps its counters; a database-backed store implements these three methods.

    Keys are short ASCII strings (at most 80 characters) and carry no user name. Times are epoch seconds
    from the throttle's clock. An entry whose expires_at is at or before `now` must read as absent;
    the store may delete it whenever it likes. Each method must be atomic on its own; the throttle
    serialises its get-then-put within one process, while across processes two concurrent attempts may
    race and under-count by the number of racing requests.
    """

    def get(self, key: str, now: float) -> Counter | None:
        """The live counter under key, or None if absent or expired at now."""
        ...

    def put(self, key: str, counter: Counter, expires_at: float) -> None:
        """Create or replace the counter under key, to be forgotten at expires_at."""
        ...

    def delete(self, key: str) -> None:
        """Forget the counter under key; no error if there is none."""
        ...


class InMemoryCounterStore:
    """A CounterStore for one process, bounded to max_entries.

    Expired entries are purged as time passes; when the store is full the entry closest to expiry is
    evicted first, so a flood of made-up names or addresses costs memory only up to the bound.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._max_entries = max_entries
        self._entries: dict[str, tuple[Counter, float]] = {}
        # (expires_at, key), possibly stale: an item is live only while it matches self._entries.
        self._expiries: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now: float) -> Counter | None:
        with self._lock:
            self._purge_expired(now)
            entry = self._entries.get(key)
            if entry is None or entry[1] <= now:
                return None
            return entry[0]

    def put(self, key: str, counter: Counter, expires_at: float) -> None:
        with self._lock:
            if key not in self._entries:
                while len(self._entries) >= self._max_entries:
                    self._evict_soonest()
            self._entries[key] = (counter, expires_at)
            heapq.heappush(self._expiries, (expires_at, key))
            if len(self._expiries) > 2 * len(self._entries) + 16:
                # Rebuild so that stale heap items cannot pile up when the same keys are rewritten.
                self._expiries = [(expires_at, k) for k, (_, expires_at) in self._entries.items()]
                heapq.heapify(self._expiries)

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def _is_live(self, expires_at: float, key: str) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry[1] == expires_at

    def _purge_expired(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            expires_at, key = heapq.heappop(self._expiries)
            if self._is_live(expires_at, key):
                del self._entries[key]

    def _evict_soonest(self) -> None:
        while self._expiries:
            expires_at, key = heapq.heappop(self._expiries)
            if self._is_live(expires_at, key):
                del self._entries[key]
                return


@dataclass(frozen=True)
class ThrottlePolicy:
    """The limits; defaults allow about 100 guesses per account per day, as NIST SP 800-63B asks."""

    free_failures: int = 3
    first_delay_seconds: float = 1.0
    max_delay_seconds: float = 15 * 60.0
    # How long failures are remembered after the last attempt, if no success resets them first.
    failure_memory_seconds: float = 24 * 3600.0
    address_limit: int = 30
    address_window_seconds: float = 5 * 60.0
    device_failures: int = 10  # failed attempts in a row before a known device is judged as any other


@dataclass(frozen=True)
class Allowed:
    """The attempt may go on to check the credentials."""


@dataclass(frozen=True)
class Refused:
    """The attempt is refused before any credential check; tell the client to retry after retry_after seconds.

    scope is for the audit log only; it never depends on whether the account exists.
    """

    retry_after: int
    scope: Literal["account", "address"]


@dataclass(frozen=True)
class TrustedDevice:
    """The attempt comes from a device known for the user: it may go on, counted against the device."""


Decision = Allowed | Refused | TrustedDevice


def account_key(user_name: str) -> str:
    """The store key for a user name: case and Unicode form folded, hashed so no name is stored."""
    folded = unicodedata.normalize("NFKC", user_name).strip().casefold()
    return "account:" + hashlib.sha256(folded.encode("utf-8")).hexdigest()


def device_key(device: str) -> str:
    """The store key for a known device's failures (its random id, hashed to a fixed length)."""
    return "device:" + hashlib.sha256(device.encode("utf-8")).hexdigest()


def address_key(address: str) -> str:
    """The store key for a client address; an IPv6 client is limited by its /64, which one host usually owns."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError as error:
        raise ValueError(f"client address {address!r} is not an IPv4 or IPv6 address") from error
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"address:{ip.ipv4_mapped}"
        return f"address:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"address:{ip}"


class LoginThrottle:
    """Decides whether a login attempt may proceed; call check_attempt before hashing, record_success after."""

    def __init__(
        self,
        store: CounterStore,
        policy: ThrottlePolicy = ThrottlePolicy(),
        clock: EpochClock = epoch_clock,
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()

    def account_delay(self, failures: int) -> float:
        """Seconds to wait after the last attempt once an account has this many failures in a row."""
        policy = self._policy
        if failures < policy.free_failures:
            return 0.0
        doublings = min(failures - policy.free_failures, 62)  # beyond any cap; keeps the float finite
        return min(policy.first_delay_seconds * 2.0**doublings, policy.max_delay_seconds)

    def check_attempt(self, user_name: str, address: str, device: str | None = None) -> Decision:
        """Allowed (and counted as a failure until record_success), or Refused with the wait in seconds;
        TrustedDevice for a `device` known for this user (its id from a valid device cookie) that has not
        failed too often: counted against the device, never refused by the account's or address's limit."""
        policy = self._policy
        account, client = account_key(user_name), address_key(address)
        with self._lock:
            now = self._clock()
            if device is not None:
                known = self._store.get(device_key(device), now) or Counter(0, now)
                if known.count < policy.device_failures:
                    # Counted against the device, and on the address's window like any attempt (so that
                    # record_success gives back what it took), but never refused by either limit.
                    self._store.put(
                        device_key(device), Counter(known.count + 1, now), now + policy.failure_memory_seconds
                    )
                    window = self._store.get(client, now) or Counter(0, now)
                    ends = window.at + policy.address_window_seconds
                    self._store.put(client, Counter(window.count + 1, window.at), ends)
                    return TrustedDevice()
            failures = self._store.get(account, now) or Counter(0, now)
            window = self._store.get(client, now) or Counter(0, now)

            refusals: list[Refused] = []
            delay = self.account_delay(failures.count)
            account_ready_at = failures.at + delay
            if delay and now < account_ready_at:
                refusals.append(Refused(_whole_seconds(account_ready_at - now), "account"))
            window_ends_at = window.at + policy.address_window_seconds
            if window.count >= policy.address_limit:
                refusals.append(Refused(_whole_seconds(window_ends_at - now), "address"))
            if refusals:
                return max(refusals, key=lambda refusal: refusal.retry_after)

            counted = Counter(failures.count + 1, now)
            remember = max(self.account_delay(counted.count), policy.failure_memory_seconds)
            self._store.put(account, counted, now + remember)
            self._store.put(client, Counter(window.count + 1, window.at), window_ends_at)
            return Allowed()

    def record_success(self, user_name: str, address: str, device: str | None = None) -> None:
        """The credentials were right: reset the account's failures (and the device's), and give back
        the address slot."""
        account, client = account_key(user_name), address_key(address)
        with self._lock:
            now = self._clock()
            self._store.delete(account)
            if device is not None:
                self._store.delete(device_key(device))
            window = self._store.get(client, now)
            if window is not None and window.count > 0:
                ends_at = window.at + self._policy.address_window_seconds
                self._store.put(client, Counter(window.count - 1, window.at), ends_at)


def _whole_seconds(seconds: float) -> int:
    # HTTP Retry-After takes whole seconds; rounding down would invite a retry that is refused again.
    return max(1, math.ceil(seconds))
