"""TOTP second factor (RFC 6238) and single-use recovery codes.

Replay protection: a code is accepted only for a time step later than the last accepted one
(RFC 6238 section 5.2), so the caller stores the step verify_totp returns, atomically with the login.
Recovery codes are NIST SP 800-63B look-up secrets (https://pages.nist.gov/800-63-4/sp800-63b.html#lookupsecrets):
with 120 bits of entropy each, a salted SHA-256 is an adequate one-way storage form (the guideline asks for a
key-stretched hash only below 112 bits), and it keeps trying all of a user's codes cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import pyotp

from lifeline.clock import EpochClock, epoch_clock

ISSUER = "Lifeline"
STEP_SECONDS = 30
DIGITS = 6
# One step either side absorbs clock drift between the phone and the server (RFC 6238 section 5.2).
WINDOW_STEPS = 1

# Crockford base32: no I, L, O or U, so that a code copied from paper is not misread.
_RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RECOVERY_READS_AS = str.maketrans({"i": "1", "l": "1", "o": "0"})
_RECOVERY_CODE_LENGTH = 24  # 24 symbols x 5 bits = 120 bits
_RECOVERY_GROUP = 6
_RECOVERY_SCHEME = "sha256"


def new_totp_secret() -> str:
    """A fresh base32 secret of 160 bits (the HMAC-SHA1 key size RFC 4226 recommends)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, user_name: str) -> str:
    """The otpauth:// URI an authenticator app reads from a QR code, labelled Lifeline:<user name>."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=user_name, issuer_name=ISSUER)


def verify_totp(
    secret: str,
    code: str,
    *,
    last_accepted_step: int | None,
    clock: EpochClock = epoch_clock,
) -> int | None:
    """The time step the code belongs to if it is valid and not a replay, else None.

    Accepts the current step and one either side, but never a step at or before last_accepted_step:
    a code seen once (by us, or by someone looking over a shoulder after us) cannot log in again.
    Spaces the user typed between digit groups are ignored.
    """
    typed = "".join(code.split())
    if len(typed) != DIGITS or not typed.isascii() or not typed.isdecimal():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(clock()) // STEP_SECONDS
    accepted: int | None = None
    # No early exit: every candidate step costs the same, whichever matches.
    for step in range(current - WINDOW_STEPS, current + WINDOW_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), typed.encode()):
            if last_accepted_step is None or step > last_accepted_step:
                accepted = step
    return accepted


@dataclass(frozen=True)
class RecoveryCodes:
    """Codes to show the user exactly once, and the verifiers to store in their place."""

    codes: tuple[str, ...]
    verifiers: tuple[str, ...]


def _recovery_digest(salt: bytes, code: str) -> bytes:
    return hashlib.sha256(salt + code.encode("ascii")).digest()


def _canonical_recovery_code(code: str) -> str | None:
    canonical = "".join(code.split()).replace("-", "").lower().translate(_RECOVERY_READS_AS)
    if len(canonical) != _RECOVERY_CODE_LENGTH or any(c not in _RECOVERY_ALPHABET for c in canonical):
        return None
    return canonical


def generate_recovery_codes(count: int = 10) -> RecoveryCodes:
    """count new single-use codes, shown as xxxxxx-xxxxxx-xxxxxx-xxxxxx, each with its salted verifier."""
    if count < 1:
        raise ValueError(f"recovery code count must be at least 1, got {count}")
    codes: list[str] = []
    verifiers: list[str] = []
    for _ in range(count):
        canonical = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_CODE_LENGTH))
        salt = secrets.token_bytes(16)
        codes.append(
            "-".join(canonical[i : i + _RECOVERY_GROUP] for i in range(0, _RECOVERY_CODE_LENGTH, _RECOVERY_GROUP))
        )
        verifiers.append(f"{_RECOVERY_SCHEME}${salt.hex()}${_recovery_digest(salt, canonical).hex()}")
    return RecoveryCodes(tuple(codes), tuple(verifiers))


def consume_recovery_code(code: str, verifiers: Sequence[str]) -> tuple[str, ...] | None:
    """The verifiers left once the code is used up, or None if it matches none of them.

    The caller replaces the stored verifiers with the result in the same transaction as the login,
    so that a code cannot be used twice even by two concurrent requests. Case, spaces, hyphens and
    the look-alikes I, L and O are forgiven.
    """
    canonical = _canonical_recovery_code(code)
    if canonical is None:
        return None
    matched: int | None = None
    for index, verifier in enumerate(verifiers):
        parts = verifier.split("$")
        if len(parts) != 3 or parts[0] != _RECOVERY_SCHEME:
            raise ValueError(f"stored recovery code verifier #{index} is not of the form sha256$<salt>$<digest>")
        _, salt_hex, digest_hex = parts
        # Every stored verifier is compared, so the time does not tell which one matched.
        if hmac.compare_digest(_recovery_digest(bytes.fromhex(salt_hex), canonical), bytes.fromhex(digest_hex)):
            matched = index
    if matched is None:
        return None
    return tuple(verifier for index, verifier in enumerate(verifiers) if index != matched)
