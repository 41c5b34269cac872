"""Password verifiers and policy: lifeline.identity.passwords."""

from __future__ import annotations

from typing import Any

import argon2
import pytest

from lifeline.identity import passwords
from lifeline.identity.passwords import (
    OWASP_ARGON2ID,
    Argon2Parameters,
    CorruptVerifier,
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
    verify_unknown_account,
)

# Cheap parameters so that the tests stay fast; only the tests of the defaults pay the real cost.
FAST = Argon2Parameters(memory_cost_kib=8, time_cost=1, parallelism=1)


def test_default_parameters_are_the_owasp_argon2id_minimum() -> None:
    assert (OWASP_ARGON2ID.memory_cost_kib, OWASP_ARGON2ID.time_cost, OWASP_ARGON2ID.parallelism) == (19456, 2, 1)
    verifier = hash_password("correct horse battery staple")
    stored = argon2.extract_parameters(verifier)
    assert stored.type is argon2.Type.ID
    assert (stored.memory_cost, stored.time_cost, stored.parallelism) == (19456, 2, 1)
    assert verify_password(verifier, "correct horse battery staple")
    assert not needs_rehash(verifier)


def test_hash_then_verify() -> None:
    verifier = hash_password("correct horse battery staple", FAST)
    assert verifier.startswith("$argon2id$")
    assert "correct horse" not in verifier
    assert verify_password(verifier, "correct horse battery staple") is True


def test_wrong_password_is_false_not_an_exception() -> None:
    verifier = hash_password("correct horse battery staple", FAST)
    assert verify_password(verifier, "correct horse battery stapler") is False
    assert verify_password(verifier, "") is False


def test_each_verifier_has_its_own_salt() -> None:
    assert hash_password("same password here", FAST) != hash_password("same password here", FAST)


def test_the_same_password_typed_in_another_unicode_form_verifies() -> None:
    composed, decomposed = "Fjällräven-Kånken", "Fja\u0308llra\u0308ven-Ka\u030anken"
    assert composed != decomposed
    assert verify_password(hash_password(composed, FAST), decomposed)


@pytest.mark.parametrize(
    "stored", ["", "not a verifier", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"]
)
def test_a_corrupt_stored_verifier_is_a_clear_error(stored: str) -> None:
    with pytest.raises(CorruptVerifier, match="not a valid argon2 hash"):
        verify_password(stored, "whatever password")


def test_needs_rehash_when_parameters_change() -> None:
    cheap = hash_password("correct horse battery staple", FAST)
    assert needs_rehash(cheap) is True
    assert needs_rehash(cheap, FAST) is False
    with pytest.raises(CorruptVerifier):
        needs_rehash("not a verifier")


class VerifySpy:
    """Records every verifier argon2 is asked to check, then lets the real verification run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.verifiers: list[str] = []
        self.mismatches = 0
        real_verify = argon2.PasswordHasher.verify

        def spy(hasher: argon2.PasswordHasher, hash: str, password: Any) -> bool:
            self.verifiers.append(hash)
            try:
                return real_verify(hasher, hash, password)
            except argon2.exceptions.VerifyMismatchError:
                self.mismatches += 1
                raise

        monkeypatch.setattr(argon2.PasswordHasher, "verify", spy)


def test_unknown_account_runs_a_real_argon2_verification_with_the_same_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = VerifySpy(monkeypatch)
    known = hash_password("correct horse battery staple", FAST)

    assert verify_password(known, "a wrong guess for alice") is False
    assert verify_unknown_account("a guess for nobody", FAST) is False

    assert len(spy.verifiers) == 2 and spy.mismatches == 2
    known_parameters, dummy_parameters = (argon2.extract_parameters(v) for v in spy.verifiers)
    assert dummy_parameters == known_parameters


def test_unknown_account_uses_the_owasp_parameters_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = VerifySpy(monkeypatch)
    assert verify_unknown_account("correct horse battery staple") is False
    (dummy,) = spy.verifiers
    assert argon2.extract_parameters(dummy) == argon2.extract_parameters(hash_password("any password at all"))
    assert spy.mismatches == 1


def test_the_dummy_verifier_is_fixed_and_matches_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = VerifySpy(monkeypatch)
    for guess in ("", "password", "correct horse battery staple"):
        assert verify_unknown_account(guess, FAST) is False
    assert len(set(spy.verifiers)) == 1
    assert spy.verifiers[0] == passwords._dummy_verifier(FAST)


def test_policy_accepts_a_long_passphrase_without_composition_rules() -> None:
    assert check_password_policy("correct horse battery staple", user_name="alice") is None
    assert check_password_policy("a" * 12, user_name="alice") is None
    assert check_password_policy("ωμέγα ωμέγα ωμέγα", user_name="alice") is None


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short pass1", "at least 12 characters"),
        ("x" * 257, "at most 256 characters"),
        (" " * 12, "not be only spaces"),
        ("\t \n" * 5, "not be only spaces"),
    ],
)
def test_policy_refuses_with_a_clear_message(password: str, message: str) -> None:
    refusal = check_password_policy(password, user_name="alice")
    assert refusal is not None and message in refusal


def test_policy_length_limits_are_inclusive() -> None:
    assert check_password_policy("x" * 12, user_name="alice") is None
    assert check_password_policy("x" * 256, user_name="alice") is None
    assert check_password_policy("x" * 11, user_name="alice") is not None


def test_policy_refuses_the_user_name_in_any_case() -> None:
    refusal = check_password_policy("Dr.Jensen.Cardiology", user_name="dr.jensen.cardiology")
    assert refusal == "The password must not be the user name."
    assert check_password_policy("dr.jensen.cardiology!", user_name="dr.jensen.cardiology") is None


def test_policy_refuses_blocklisted_passwords() -> None:
    blocklist = {"password1234", "qwertyuiop123"}
    refusal = check_password_policy("Password1234", user_name="alice", blocklist=blocklist)
    assert refusal is not None and "too common" in refusal
    assert check_password_policy("correct horse battery staple", user_name="alice", blocklist=blocklist) is None
