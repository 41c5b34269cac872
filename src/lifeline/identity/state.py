"""What a node keeps to itself (the `node_state` table): never versioned, never replicated.

Its sealed private signing key, web sessions, login counters (throttle.CounterStore), one-time
authorisation codes, refresh tokens and the assertion ids already used. Values are JSON; each may
expire. Every write is its own small transaction.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from lifeline import jsontext
from lifeline.identity.throttle import Counter
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession


class NodeState:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def get(self, name: str, now: float) -> Any:
        with self.repo.reading() as session:
            value = session.state(name, int(now))
        return None if value is None else orjson.loads(value)

    def put(self, name: str, value: Any, expires_at: float | None = None) -> None:
        text = jsontext.dumps(value).decode()
        until = None if expires_at is None else math.ceil(expires_at)
        self.repo.write(lambda session: session.put_state(name, text, until))

    def add(self, name: str, value: Any, expires_at: float | None, now: float) -> bool:
        """Store unless already there: False means `name` was used before (a replayed jti)."""
        text = jsontext.dumps(value).decode()
        until = None if expires_at is None else math.ceil(expires_at)
        stored, _ = self.repo.write(lambda session: session.add_state(name, text, until, int(now)))
        return stored

    def take(self, name: str, now: float) -> Any:
        """Remove and return a one-time value (an authorisation code): a second take gets None."""
        value, _ = self.repo.write(lambda session: session.take_state(name, int(now)))
        return None if value is None else orjson.loads(value)

    def delete(self, name: str) -> None:
        self.repo.write(lambda session: session.take_state(name, 0))

    def purge(self, now: float) -> None:
        def work(session: WriteSession) -> None:
            session.purge_state(int(now))

        self.repo.write(work)


class StateCounterStore:
    """The login throttle's counters in `node_state`, so that every server process of a node
    shares them (identity/throttle.py, CounterStore)."""

    def __init__(self, state: NodeState) -> None:
        self.state = state

    def get(self, key: str, now: float) -> Counter | None:
        value = self.state.get(f"throttle:{key}", now)
        return None if value is None else Counter(int(value[0]), float(value[1]))

    def put(self, key: str, counter: Counter, expires_at: float) -> None:
        self.state.put(f"throttle:{key}", [counter.count, counter.at], expires_at)

    def delete(self, key: str) -> None:
        self.state.delete(f"throttle:{key}")
