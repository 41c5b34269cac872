"""Passkeys (WebAuthn Level 2) for staff login: the two ceremonies, without HTTP.

Registration: https://www.w3.org/TR/webauthn-2/#sctn-registering-a-new-credential
Authentication: https://www.w3.org/TR/webauthn-2/#sctn-verifying-assertion

Each ceremony is two calls: *_options gives the options for the browser and a challenge the caller keeps
server-side (single use, bound to the login session); verify_* checks the browser's answer against it.
Attestation is "none": we trust the user's authenticator to hold the key, not a vendor certificate chain.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import options_to_json_dict, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from lifeline.errors import FhirError

# Errors the webauthn package lets escape on malformed input, besides its own.
_MALFORMED = (WebAuthnException, ValueError, TypeError, KeyError)


class PasskeyRejected(FhirError):
    """The browser's answer does not prove possession of the passkey; the login must fail."""

    status = 401
    code = "security"


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys are bound to: rp id is a registrable domain, origin the exact page origin."""

    id: str
    name: str
    origin: str
    # Required by default: a passkey then is a second factor in itself (possession plus PIN or biometric).
    require_user_verification: bool = True


@dataclass(frozen=True)
class PasskeyCredential:
    """What the caller stores per passkey: its id, its COSE public key and the last signature counter."""

    credential_id: bytes
    public_key: bytes
    sign_count: int


@dataclass(frozen=True)
class CeremonyOptions:
    """Options to send to navigator.credentials (JSON-ready) and the challenge to keep for verification."""

    options: dict[str, Any]
    challenge: bytes


def new_user_handle() -> bytes:
    """A random, opaque WebAuthn user handle: never the user name, which authenticators may expose."""
    return secrets.token_bytes(32)


def _user_verification(rp: RelyingParty) -> UserVerificationRequirement:
    return (
        UserVerificationRequirement.REQUIRED if rp.require_user_verification else UserVerificationRequirement.PREFERRED
    )


def _descriptors(credentials: Sequence[PasskeyCredential]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=credential.credential_id) for credential in credentials]


def registration_options(
    rp: RelyingParty,
    *,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    existing: Sequence[PasskeyCredential] = (),
) -> CeremonyOptions:
    """Options for navigator.credentials.create(); existing passkeys are excluded so none is registered twice."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=_user_verification(rp),
        ),
        exclude_credentials=_descriptors(existing),
    )
    return CeremonyOptions(options=options_to_json_dict(options), challenge=options.challenge)


def verify_registration(rp: RelyingParty, *, response: str | dict[str, Any], challenge: bytes) -> PasskeyCredential:
    """Check the answer of navigator.credentials.create() and return the passkey to store."""
    try:
        verified = verify_registration_response(
            credential=response,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=rp.require_user_verification,
        )
    except _MALFORMED as error:
        raise PasskeyRejected(f"passkey registration refused: {error}") from error
    return PasskeyCredential(
        credential_id=verified.credential_id, public_key=verified.credential_public_key, sign_count=verified.sign_count
    )


def authentication_options(rp: RelyingParty, *, credentials: Sequence[PasskeyCredential]) -> CeremonyOptions:
    """Options for navigator.credentials.get(), allowing the passkeys registered for the user."""
    options = generate_authentication_options(
        rp_id=rp.id,
        allow_credentials=_descriptors(credentials),
        user_verification=_user_verification(rp),
    )
    return CeremonyOptions(options=options_to_json_dict(options), challenge=options.challenge)


def verify_authentication(
    rp: RelyingParty,
    *,
    response: str | dict[str, Any],
    challenge: bytes,
    credential: PasskeyCredential,
) -> PasskeyCredential:
    """Check the answer of navigator.credentials.get() against the stored passkey; returns it with its new counter.

    A signature counter that does not go up is refused, since it suggests a cloned authenticator
    (https://www.w3.org/TR/webauthn-2/#sctn-sign-counter); authenticators that keep no counter report 0
    every time, which stays accepted.
    """
    try:
        parsed = parse_authentication_credential_json(response)
    except _MALFORMED as error:
        raise PasskeyRejected(f"passkey sign-in refused: malformed response ({error})") from error
    if not secrets.compare_digest(parsed.raw_id, credential.credential_id):
        raise PasskeyRejected("passkey sign-in refused: the response is for another passkey")
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=credential.public_key,
            credential_current_sign_count=credential.sign_count,
            require_user_verification=rp.require_user_verification,
        )
    except _MALFORMED as error:
        raise PasskeyRejected(f"passkey sign-in refused: {error}") from error
    return replace(credential, sign_count=verified.new_sign_count)
