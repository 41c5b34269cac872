"""A staff user's access tokens die with their login: disabling the user, or "log out everywhere",
refuses every token they hold at every node, not only once it expires (issue 19).

Both raise the user's sessions epoch, and `lifeline users disable` also clears `active`, in the
user record (identity/records.py), which replicates like the record; a staff token carries the
epoch it was issued under (``sessions_epoch``, tokens.py). A token is refused when its user is
disabled or their epoch has moved past the token's. A staff token without the claim counts as
epoch 0, so it dies at the first "log out everywhere". A subject with no login record (a token
made by tooling, not by a login) has nothing to revoke.

The check runs on every request, after the cached signature check. Reading the user costs about
20 µs on SQLite and 230 µs on PostgreSQL, a round trip that would block the event loop, so each
user's state is kept for `STATE_SECONDS` (bounded LRU): a revocation reaches every process within
that second, once the record has replicated to its node.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from lifeline.clock import EpochClock
from lifeline.identity import records
from lifeline.identity.principal import STAFF, kind_of
from lifeline.identity.tokens import AccessToken, InvalidToken
from lifeline.storage.repository import Repository

STATE_SECONDS = 1.0
CACHE_SIZE = 10_000


@dataclass(frozen=True)
class _UserState:
    known: bool  # False: no login record by this name
    active: bool
    sessions_epoch: int
    read_at: float


class StaffRevocation:
    def __init__(self, repo: Repository, clock: EpochClock, *, cache_size: int = CACHE_SIZE) -> None:
        self.repo = repo
        self.clock = clock
        self.cache_size = cache_size
        self._states: OrderedDict[str, _UserState] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, token: AccessToken) -> None:
        """Raise InvalidToken if the token's staff user is disabled or has logged out everywhere since."""
        if kind_of(token) != STAFF:
            return  # patients log in at the citizen provider; apps are revoked with their client
        state = self._state(token.subject)
        if not state.known:
            return
        if not state.active:
            raise InvalidToken("user disabled")
        if state.sessions_epoch > (token.sessions_epoch or 0):
            raise InvalidToken("user's sessions ended")

    def _state(self, username: str) -> _UserState:
        now = self.clock()
        with self._lock:
            state = self._states.get(username)
        if state is not None and 0 <= now - state.read_at < STATE_SECONDS:
            return state
        user = records.get_user(self.repo, username)
        if user is None:
            state = _UserState(False, True, 0, now)
        else:
            state = _UserState(True, user.active, user.sessions_epoch, now)
        with self._lock:
            self._states[username] = state
            self._states.move_to_end(username)
            if len(self._states) > self.cache_size:
                self._states.popitem(last=False)
        return state
