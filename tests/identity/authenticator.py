"""A software authenticator for the passkey tests: what a browser plus security key do (WebAuthn Level 2
sections 6.1, 6.3.2, 6.3.3 and 6.5) with an EC P-256 key, authenticatorData, clientDataJSON, a "none"
attestation and ECDSA signatures, so that verification really checks signatures, hashes, flags and counters.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import encode_cbor

from lifeline.identity.webauthn_factor import RelyingParty

RP = RelyingParty(id="ehr.region.example", name="Lifeline", origin="https://ehr.region.example")

FLAG_USER_PRESENT = 0x01
FLAG_USER_VERIFIED = 0x04
FLAG_ATTESTED_DATA = 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftwareAuthenticator:
    """One passkey held in software, answering create() and get() like a browser would."""

    def __init__(self, *, rp_id: str = RP.id, origin: str = RP.origin, keeps_counter: bool = True) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.rp_id = rp_id
        self.origin = origin
        self.keeps_counter = keeps_counter
        self.sign_count = 0
        self.user_verified = True

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        # RFC 9052 / WebAuthn 6.5.1.1: kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
        return encode_cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _authenticator_data(self, *, attested: bool) -> bytes:
        flags = FLAG_USER_PRESENT | (FLAG_USER_VERIFIED if self.user_verified else 0)
        if attested:
            flags |= FLAG_ATTESTED_DATA
        data = hashlib.sha256(self.rp_id.encode()).digest() + bytes([flags]) + self.sign_count.to_bytes(4, "big")
        if attested:
            aaguid = bytes(16)
            data += aaguid + len(self.credential_id).to_bytes(2, "big") + self.credential_id + self.cose_public_key()
        return data

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        client_data = self._client_data("webauthn.create", options["challenge"])
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": self._authenticator_data(attested=True)})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation)},
            "type": "public-key",
            "clientExtensionResults": {},
        }

    def get(self, options: dict[str, Any], *, key: ec.EllipticCurvePrivateKey | None = None) -> dict[str, Any]:
        if self.keeps_counter:
            self.sign_count += 1
        client_data = self._client_data("webauthn.get", options["challenge"])
        authenticator_data = self._authenticator_data(attested=False)
        signed = authenticator_data + hashlib.sha256(client_data).digest()
        signature = (key or self.key).sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(authenticator_data),
                "signature": b64url(signature),
            },
            "type": "public-key",
            "clientExtensionResults": {},
        }
