"""TOTP and recovery codes: lifeline.identity.totp."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from lifeline.identity.totp import (
    RecoveryCodes,
    consume_recovery_code,
    generate_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    verify_totp,
)

# RFC 6238 appendix B: the SHA-1 seed "12345678901234567890"; the expected values are the last 6 of its 8 digits.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")]

NOW = 1_700_000_000.0
STEP = int(NOW) // 30


def code_at(secret: str, moment: float) -> str:
    return pyotp.TOTP(secret).at(moment)


def test_new_secret_is_160_bits_of_base32() -> None:
    secret = new_totp_secret()
    assert len(base64.b32decode(secret)) == 20
    assert new_totp_secret() != secret


def test_provisioning_uri_names_lifeline_and_the_user() -> None:
    secret = new_totp_secret()
    uri = provisioning_uri(secret, "dr.jensen@rh.example")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parts.path == "/Lifeline:dr.jensen%40rh.example"
    assert parse_qs(parts.query) == {"secret": [secret], "issuer": ["Lifeline"]}
    parsed = pyotp.parse_uri(uri)
    assert parsed.issuer == "Lifeline" and parsed.name == "dr.jensen@rh.example"


@pytest.mark.parametrize(("moment", "code"), RFC_VECTORS)
def test_rfc_6238_test_vectors(moment: int, code: str) -> None:
    assert verify_totp(RFC_SECRET, code, last_accepted_step=None, clock=lambda: moment) == moment // 30


def test_current_code_is_accepted_and_returns_its_step() -> None:
    secret = new_totp_secret()
    assert verify_totp(secret, code_at(secret, NOW), last_accepted_step=None, clock=lambda: NOW) == STEP


@pytest.mark.parametrize("steps_away", [-1, 1])
def test_one_step_of_clock_drift_either_way_is_accepted(steps_away: int) -> None:
    secret = new_totp_secret()
    code = code_at(secret, NOW + 30 * steps_away)
    assert verify_totp(secret, code, last_accepted_step=None, clock=lambda: NOW) == STEP + steps_away


@pytest.mark.parametrize("steps_away", [-3, -2, 2, 3])
def test_codes_outside_the_window_are_refused(steps_away: int) -> None:
    secret = new_totp_secret()
    code = code_at(secret, NOW + 30 * steps_away)
    assert verify_totp(secret, code, last_accepted_step=None, clock=lambda: NOW) is None


def test_a_code_cannot_be_replayed() -> None:
    secret = new_totp_secret()
    code = code_at(secret, NOW)
    step = verify_totp(secret, code, last_accepted_step=None, clock=lambda: NOW)
    assert step == STEP
    assert verify_totp(secret, code, last_accepted_step=step, clock=lambda: NOW) is None
    assert verify_totp(secret, code, last_accepted_step=step, clock=lambda: NOW + 20) is None


def test_an_older_code_is_refused_once_a_newer_one_was_accepted() -> None:
    secret = new_totp_secret()
    newer = verify_totp(secret, code_at(secret, NOW + 30), last_accepted_step=None, clock=lambda: NOW)
    assert newer == STEP + 1
    assert verify_totp(secret, code_at(secret, NOW), last_accepted_step=newer, clock=lambda: NOW) is None


def test_the_next_code_is_accepted_after_the_last_one() -> None:
    secret = new_totp_secret()
    later = NOW + 30
    assert verify_totp(secret, code_at(secret, later), last_accepted_step=STEP, clock=lambda: later) == STEP + 1


def test_wrong_or_malformed_codes_are_refused() -> None:
    secret = new_totp_secret()
    right = code_at(secret, NOW)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for code in (wrong, "", "12345", "1234567", "abcdef", "١٢٣٤٥٦", right + "0"):
        assert verify_totp(secret, code, last_accepted_step=None, clock=lambda: NOW) is None, code


def test_spaces_between_digit_groups_are_ignored() -> None:
    secret = new_totp_secret()
    right = code_at(secret, NOW)
    spaced = f" {right[:3]} {right[3:]} "
    assert verify_totp(secret, spaced, last_accepted_step=None, clock=lambda: NOW) == STEP


def test_the_default_clock_is_the_system_time() -> None:
    secret = new_totp_secret()
    assert verify_totp(secret, pyotp.TOTP(secret).now(), last_accepted_step=None) is not None


def test_recovery_codes_are_distinct_and_only_their_verifiers_are_stored() -> None:
    generated = generate_recovery_codes(10)
    assert isinstance(generated, RecoveryCodes)
    assert len(generated.codes) == len(set(generated.codes)) == 10
    assert len(generated.verifiers) == len(set(generated.verifiers)) == 10
    for code in generated.codes:
        assert re.fullmatch(r"([0-9a-hjkmnp-tv-z]{6}-){3}[0-9a-hjkmnp-tv-z]{6}", code), code
        assert all(code.replace("-", "") not in verifier for verifier in generated.verifiers)
    salts = {verifier.split("$")[1] for verifier in generated.verifiers}
    assert len(salts) == 10


def test_a_recovery_code_is_consumed_once() -> None:
    generated = generate_recovery_codes(5)
    used = generated.codes[2]
    remaining = consume_recovery_code(used, generated.verifiers)
    assert remaining == generated.verifiers[:2] + generated.verifiers[3:]
    assert consume_recovery_code(used, remaining) is None
    assert consume_recovery_code(generated.codes[0], remaining) == generated.verifiers[1:2] + generated.verifiers[3:]


def test_recovery_codes_forgive_case_spacing_and_look_alikes() -> None:
    generated = generate_recovery_codes(20)
    # A 24-symbol code holds a 0 or a 1 four times in five; among 20 codes one surely does.
    code = next(code for code in generated.codes if "0" in code or "1" in code)
    typed = " " + code.replace("-", " ").upper().replace("0", "O").replace("1", "l") + " "
    assert consume_recovery_code(typed, generated.verifiers) is not None


def test_wrong_recovery_codes_are_refused() -> None:
    generated = generate_recovery_codes(3)
    other = generate_recovery_codes(1).codes[0]
    for code in (other, "", "abc", generated.codes[0] + "x", generated.codes[0].replace("-", "u")):
        assert consume_recovery_code(code, generated.verifiers) is None, code
    assert consume_recovery_code(generated.codes[0], ()) is None


def test_recovery_code_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate_recovery_codes(0)
    code = generate_recovery_codes(1).codes[0]
    with pytest.raises(ValueError, match="sha256\\$<salt>\\$<digest>"):
        consume_recovery_code(code, ["md5$00$00"])
