"""What the login tests share: cheap argon2 parameters for their own users, one password, and a
clock they can move."""

from __future__ import annotations

import time

from lifeline.identity.passwords import Argon2Parameters

# Only the tests' own users are hashed this cheaply; the product always uses OWASP_ARGON2ID.
CHEAP = Argon2Parameters(memory_cost_kib=8, time_cost=1)
PASSWORD = "correct horse battery"


class Clock:
    """Epoch seconds, standing still until a test moves `now`."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now
