"""Passkey ceremonies: lifeline.identity.webauthn_factor, run against the software authenticator of
tests/identity/authenticator.py, which really signs, so verification checks signatures, flags and counters."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from lifeline.identity.webauthn_factor import (
    CeremonyOptions,
    PasskeyCredential,
    PasskeyRejected,
    RelyingParty,
    authentication_options,
    new_user_handle,
    registration_options,
    verify_authentication,
    verify_registration,
)
from tests.identity.authenticator import RP, SoftwareAuthenticator, b64url, unb64url


def register(authenticator: SoftwareAuthenticator) -> PasskeyCredential:
    ceremony = registration_options(RP, user_handle=new_user_handle(), user_name="dr.jensen", display_name="Dr Jensen")
    return verify_registration(RP, response=authenticator.create(ceremony.options), challenge=ceremony.challenge)


def sign_in(authenticator: SoftwareAuthenticator, credential: PasskeyCredential, **get: Any) -> PasskeyCredential:
    ceremony = authentication_options(RP, credentials=[credential])
    response = authenticator.get(ceremony.options, **get)
    return verify_authentication(RP, response=response, challenge=ceremony.challenge, credential=credential)


def test_registration_options_carry_challenge_rp_user_and_exclusions() -> None:
    handle = new_user_handle()
    existing = [PasskeyCredential(credential_id=b"\x01" * 16, public_key=b"k", sign_count=3)]
    ceremony = registration_options(
        RP, user_handle=handle, user_name="dr.jensen", display_name="Dr Jensen", existing=existing
    )
    assert isinstance(ceremony, CeremonyOptions)
    options = ceremony.options
    assert len(ceremony.challenge) >= 16 and unb64url(options["challenge"]) == ceremony.challenge
    assert options["rp"] == {"id": "ehr.region.example", "name": "Lifeline"}
    assert options["user"] == {"id": b64url(handle), "name": "dr.jensen", "displayName": "Dr Jensen"}
    assert options["excludeCredentials"] == [{"id": b64url(b"\x01" * 16), "type": "public-key"}]
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    json.dumps(options)  # ready to send as it is


def test_every_ceremony_gets_a_fresh_challenge() -> None:
    first = registration_options(RP, user_handle=b"u", user_name="a", display_name="A")
    second = registration_options(RP, user_handle=b"u", user_name="a", display_name="A")
    assert first.challenge != second.challenge
    assert authentication_options(RP, credentials=[]).challenge != authentication_options(RP, credentials=[]).challenge


def test_user_handles_are_random_and_opaque() -> None:
    assert len(new_user_handle()) == 32 and new_user_handle() != new_user_handle()


def test_authentication_options_allow_the_users_passkeys() -> None:
    credentials = [PasskeyCredential(bytes([n]) * 16, b"k", 0) for n in (1, 2)]
    ceremony = authentication_options(RP, credentials=credentials)
    options = ceremony.options
    assert options["rpId"] == "ehr.region.example"
    assert unb64url(options["challenge"]) == ceremony.challenge
    assert [unb64url(c["id"]) for c in options["allowCredentials"]] == [c.credential_id for c in credentials]
    assert options["userVerification"] == "required"


def test_registration_returns_what_to_store() -> None:
    authenticator = SoftwareAuthenticator()
    credential = register(authenticator)
    assert credential == PasskeyCredential(authenticator.credential_id, authenticator.cose_public_key(), 0)


def test_sign_in_verifies_the_signature_and_advances_the_counter() -> None:
    authenticator = SoftwareAuthenticator()
    credential = register(authenticator)
    credential = sign_in(authenticator, credential)
    assert credential.sign_count == 1
    credential = sign_in(authenticator, credential)
    assert credential.sign_count == 2


def test_a_counter_that_goes_back_is_refused() -> None:
    authenticator = SoftwareAuthenticator()
    credential = sign_in(authenticator, register(authenticator))
    cloned_elsewhere = replace(credential, sign_count=5)
    with pytest.raises(PasskeyRejected, match="sign count of 2 was not greater than current count of 5"):
        sign_in(authenticator, cloned_elsewhere)


def test_a_counter_that_stays_put_is_refused() -> None:
    authenticator = SoftwareAuthenticator()
    credential = sign_in(authenticator, register(authenticator))
    authenticator.sign_count -= 1  # the next get() signs with the same counter value again
    with pytest.raises(PasskeyRejected, match="not greater"):
        sign_in(authenticator, credential)


def test_an_authenticator_without_a_counter_stays_usable() -> None:
    authenticator = SoftwareAuthenticator(keeps_counter=False)
    credential = register(authenticator)
    assert sign_in(authenticator, sign_in(authenticator, credential)).sign_count == 0


def test_a_signature_by_another_key_is_refused() -> None:
    authenticator = SoftwareAuthenticator()
    credential = register(authenticator)
    with pytest.raises(PasskeyRejected, match="Could not verify authentication signature"):
        sign_in(authenticator, credential, key=ec.generate_private_key(ec.SECP256R1()))


def test_a_response_for_another_passkey_is_refused() -> None:
    authenticator, other = SoftwareAuthenticator(), SoftwareAuthenticator()
    register(other)
    with pytest.raises(PasskeyRejected, match="another passkey"):
        sign_in(other, register(authenticator))


def test_the_challenge_must_be_the_one_issued() -> None:
    authenticator = SoftwareAuthenticator()
    credential = register(authenticator)
    stale = authentication_options(RP, credentials=[credential])
    fresh = authentication_options(RP, credentials=[credential])
    response = authenticator.get(stale.options)
    with pytest.raises(PasskeyRejected, match="challenge"):
        verify_authentication(RP, response=response, challenge=fresh.challenge, credential=credential)

    ceremony = registration_options(RP, user_handle=b"u", user_name="a", display_name="A")
    with pytest.raises(PasskeyRejected, match="challenge"):
        verify_registration(RP, response=SoftwareAuthenticator().create(stale.options), challenge=ceremony.challenge)


def test_a_phishing_origin_is_refused() -> None:
    genuine = SoftwareAuthenticator()
    credential = register(genuine)
    phished = SoftwareAuthenticator(origin="https://ehr-region.example.net")
    phished.key, phished.credential_id = genuine.key, genuine.credential_id
    with pytest.raises(PasskeyRejected, match="origin"):
        sign_in(phished, credential)
    with pytest.raises(PasskeyRejected, match="origin"):
        register(SoftwareAuthenticator(origin="https://ehr-region.example.net"))


def test_a_passkey_for_another_relying_party_is_refused() -> None:
    with pytest.raises(PasskeyRejected, match="RP ID"):
        register(SoftwareAuthenticator(rp_id="other.example"))


def test_user_verification_is_required_by_default() -> None:
    authenticator = SoftwareAuthenticator()
    credential = register(authenticator)
    authenticator.user_verified = False
    with pytest.raises(PasskeyRejected, match="User verification is required"):
        sign_in(authenticator, credential)
    with pytest.raises(PasskeyRejected, match="User verification is required"):
        register(authenticator)


@pytest.mark.parametrize("response", ["not json", "[]", {"id": "x"}, {"id": "AA", "rawId": "AA", "response": {}}])
def test_malformed_responses_are_refused_not_crashes(response: Any) -> None:
    credential = PasskeyCredential(b"\x00", b"k", 0)
    with pytest.raises(PasskeyRejected):
        verify_authentication(RP, response=response, challenge=b"c", credential=credential)
    with pytest.raises(PasskeyRejected):
        verify_registration(RP, response=response, challenge=b"c")


# An assertion made by Chrome with a real authenticator, from the webauthn package's own tests
# (duo-labs/py_webauthn tests/test_verify_authentication_response.py): checks interoperability with a
# browser, which the software authenticator above cannot prove on its own.
BROWSER_RP = RelyingParty(
    id="localhost", name="Lifeline", origin="http://localhost:5000", require_user_verification=False
)
BROWSER_CREDENTIAL_ID = "EDx9FfAbp4obx6oll2oC4-CZuDidRVV4gZhxC529ytlnqHyqCStDUwfNdm1SNHAe3X5KvueWQdAX3x9R1a2b9Q"
BROWSER_RESPONSE = {
    "id": BROWSER_CREDENTIAL_ID,
    "rawId": BROWSER_CREDENTIAL_ID,
    "response": {
        "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MBAAAATg",
        "clientDataJSON": (
            "eyJjaGFsbGVuZ2UiOiJ4aTMwR1BHQUZZUnhWRHBZMXNNMTBEYUx6VlFHNjZudi1fN1JVYXpIMHZJMll2RzhMWWdERW52TjVmWlpOVnV2"
            "RUR1TWk5dGUzVkxxYjQyTjBma0xHQSIsImNsaWVudEV4dGVuc2lvbnMiOnt9LCJoYXNoQWxnb3JpdGhtIjoiU0hBLTI1NiIsIm9yaWdp"
            "biI6Imh0dHA6Ly9sb2NhbGhvc3Q6NTAwMCIsInR5cGUiOiJ3ZWJhdXRobi5nZXQifQ"
        ),
        "signature": "MEUCIGisVZOBapCWbnJJvjelIzwpixxIwkjCCb5aCHafQu68AiEA88v-2pJNNApPFwAKFiNuf82-2hBxYW5kGwVweeoxCwo",
    },
    "type": "public-key",
    "clientExtensionResults": {},
}
BROWSER_CHALLENGE = unb64url("xi30GPGAFYRxVDpY1sM10DaLzVQG66nv-_7RUazH0vI2YvG8LYgDEnvN5fZZNVuvEDuMi9te3VLqb42N0fkLGA")
BROWSER_PASSKEY = PasskeyCredential(
    credential_id=unb64url(BROWSER_CREDENTIAL_ID),
    public_key=unb64url(
        "pQECAyYgASFYIIeDTe-gN8A-zQclHoRnGFWN8ehM1b7yAsa8I8KIvmplIlgg4nFGT5px8o6gpPZZhO01wdy9crDSA_Ngtkx0vGpvPHI"
    ),
    sign_count=77,
)


def test_a_browser_made_assertion_verifies() -> None:
    verified = verify_authentication(
        BROWSER_RP, response=BROWSER_RESPONSE, challenge=BROWSER_CHALLENGE, credential=BROWSER_PASSKEY
    )
    assert verified == replace(BROWSER_PASSKEY, sign_count=78)
    with pytest.raises(PasskeyRejected, match="not greater"):
        verify_authentication(BROWSER_RP, response=BROWSER_RESPONSE, challenge=BROWSER_CHALLENGE, credential=verified)
    with pytest.raises(PasskeyRejected, match="User verification is required"):
        verify_authentication(
            replace(BROWSER_RP, require_user_verification=True),
            response=BROWSER_RESPONSE,
            challenge=BROWSER_CHALLENGE,
            credential=BROWSER_PASSKEY,
        )
