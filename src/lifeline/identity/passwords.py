"""Staff password verifiers (argon2id) and the password policy.

Parameters follow the OWASP Password Storage Cheat Sheet
(https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#argon2id):
argon2id with m=19456 KiB (19 MiB), t=2, p=1. OWASP rates it as strong as m=47104 KiB, t=1; we take the
low-memory point because a hospital node may be a small 2-core machine where a shift change means many
concurrent logins: 19 MiB each instead of 46 MiB, and on such a machine it measured ~27 ms per verification
against ~70 ms for m=47104 (about 70 logins per second on 2 cores instead of about 28).

The policy follows NIST SP 800-63B (https://pages.nist.gov/800-63-4/sp800-63b.html#passwordver):
length limits and a blocklist, no composition rules, and NFKC normalisation before hashing so that the
same password typed on two keyboards gives the same verifier.
"""

from __future__ import annotations

import base64
import os
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lifeline.errors import FhirError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256


@dataclass(frozen=True)
class Argon2Parameters:
    """Cost of one argon2id hash; tests pass cheaper ones, production keeps OWASP_ARGON2ID."""

    memory_cost_kib: int = 19456
    time_cost: int = 2
    parallelism: int = 1
    hash_len: int = 32
    salt_len: int = 16


OWASP_ARGON2ID = Argon2Parameters()


class CorruptVerifier(FhirError):
    """A stored verifier is not an argon2 hash: a data problem on the server, never a wrong password."""

    status = 500
    code = "exception"


@cache
def _hasher(parameters: Argon2Parameters) -> PasswordHasher:
    return PasswordHasher(
        time_cost=parameters.time_cost,
        memory_cost=parameters.memory_cost_kib,
        parallelism=parameters.parallelism,
        hash_len=parameters.hash_len,
        salt_len=parameters.salt_len,
        type=Type.ID,
    )


def _normalized(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str, parameters: Argon2Parameters = OWASP_ARGON2ID) -> str:
    """A new verifier (PHC string with its own random salt) to store instead of the password."""
    return _hasher(parameters).hash(_normalized(password))


def verify_password(verifier: str, password: str) -> bool:
    """Whether the password matches; a mismatch is False, never an exception.

    The cost parameters come from the verifier itself, so verifiers made with older parameters still
    verify (and needs_rehash says when to replace them). Raises CorruptVerifier if the stored text is
    not an argon2 verifier at all.
    """
    return _verify(verifier, password)


def _verify(verifier: str, password: str) -> bool:
    # The one place argon2 verification runs, for known and unknown accounts alike.
    try:
        return _hasher(OWASP_ARGON2ID).verify(verifier, _normalized(password))
    except VerifyMismatchError:
        return False
    except (InvalidHashError, VerificationError) as error:
        raise CorruptVerifier(f"stored password verifier is not a valid argon2 hash: {error}") from error


def needs_rehash(verifier: str, parameters: Argon2Parameters = OWASP_ARGON2ID) -> bool:
    """Whether a verifier was made with other parameters; rehash right after a successful login."""
    try:
        return _hasher(parameters).check_needs_rehash(verifier)
    except InvalidHashError as error:
        raise CorruptVerifier(f"stored password verifier is not a valid argon2 hash: {error}") from error


@cache
def _dummy_verifier(parameters: Argon2Parameters) -> str:
    """A fixed verifier no password matches, with the given cost parameters.

    Built from random salt and random output rather than by hashing, so it costs nothing to make yet
    verifying against it runs the full argon2id computation.
    """

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii").rstrip("=")

    return (
        f"$argon2id$v=19$m={parameters.memory_cost_kib},t={parameters.time_cost},p={parameters.parallelism}"
        f"${b64(os.urandom(parameters.salt_len))}${b64(os.urandom(parameters.hash_len))}"
    )


def verify_unknown_account(password: str, parameters: Argon2Parameters = OWASP_ARGON2ID) -> bool:
    """Spend the time of one real verification on a user name that has no account, then return False.

    Without this an unknown user name would answer faster than a wrong password, telling an attacker
    which staff accounts exist.
    """
    _verify(_dummy_verifier(parameters), password)
    return False


def check_password_policy(password: str, *, user_name: str, blocklist: Collection[str] = ()) -> str | None:
    """None if the password may be set, else a message to show the user.

    NIST SP 800-63B: at least 12 characters (counted as Unicode code points after NFKC), at most 256,
    no composition rules, refuse context-specific words (the user name) and a blocklist of common or
    breached passwords supplied by the caller, compared case-insensitively.
    """
    normalized = _normalized(password)
    if len(normalized) < MIN_PASSWORD_LENGTH:
        return f"The password must be at least {MIN_PASSWORD_LENGTH} characters long."
    if len(normalized) > MAX_PASSWORD_LENGTH:
        return f"The password must be at most {MAX_PASSWORD_LENGTH} characters long."
    if not normalized.strip():
        return "The password must not be only spaces."
    folded = normalized.strip().casefold()
    if folded == _normalized(user_name).strip().casefold():
        return "The password must not be the user name."
    if folded in {_normalized(word).strip().casefold() for word in blocklist}:
        return "This password is too common or has appeared in a data breach; choose another."
    return None
