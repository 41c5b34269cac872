"""Node signing keys: every node signs its own tokens, every node trusts the public keys of all.

Why Ed25519 (EdDSA, RFC 8037) rather than ES256: signatures are deterministic, so a node with a
poor random source after a restore cannot leak its key through a repeated nonce (the classic
ECDSA failure); keys are 32 bytes, signing and verifying are fast, and there is exactly one
encoding, so there is no malleability or DER/raw confusion to get wrong. The JOSE name is
``Ed25519`` (RFC 9864 fully-specified algorithms); joserfc warns on the older polymorphic
``EdDSA`` name, and only Lifeline's own nodes have to verify these tokens.

Rotation never logs anybody out: a new key becomes the node's active signing key, and the
previous one is retired with a ``not_after`` far enough away that every token it signed has
expired by then. Active keys have no ``not_after``: a key that still signs must keep verifying.

Private keys are sealed at rest with AES-256-GCM under a key-encryption key (KEK) that lives
outside the database (a setting or a file), the kid and node bound in as associated data, so
a database dump alone does not let anybody mint tokens. Nothing here touches a database: the
records are plain JSON-ready dicts and the caller stores them.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

ALGORITHM: Final = "Ed25519"
CURVE: Final = "Ed25519"
KEK_BYTES = 32
SEAL_ALGORITHM = "A256GCM"
# Longer than any access token lives plus clock leeway, so retiring a key never cuts a session short.
DEFAULT_RETIREMENT_GRACE = 24 * 3600

KeyStatus = Literal["active", "retired"]
KEY_STATUSES: tuple[KeyStatus, ...] = ("active", "retired")


class KeyRingError(ValueError):
    """A key record, key set or KEK cannot be used; the message says which and why."""


class InvalidKek(KeyRingError):
    """The configured key-encryption key is not 32 bytes of base64url."""


class UnsealError(KeyRingError):
    """A sealed private key cannot be opened: wrong KEK, or the record was altered."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class NodeKey:
    """One node's public verification key, as every node of the region knows it."""

    kid: str
    node_id: str
    x: str  # the Ed25519 public key, base64url (RFC 8037)
    created_at: int
    status: KeyStatus = "active"
    not_after: int | None = None

    def usable_at(self, now: float) -> bool:
        """Whether tokens signed with this key may still be accepted at ``now``."""
        return self.not_after is None or now < self.not_after

    def to_jwk(self) -> dict[str, Any]:
        """A public JWK; the extra members (RFC 7517 §4: ignored by others) carry the metadata."""
        jwk: dict[str, Any] = {
            "kty": "OKP",
            "crv": CURVE,
            "x": self.x,
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
            "node": self.node_id,
            "created": self.created_at,
            "status": self.status,
        }
        if self.not_after is not None:
            jwk["not_after"] = self.not_after
        return jwk

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> NodeKey:
        """Read a key replicated from another node, refusing anything that is not what we issue."""
        kid = jwk.get("kid")
        if jwk.get("kty") != "OKP" or jwk.get("crv") != CURVE or jwk.get("alg") != ALGORITHM:
            raise KeyRingError(f"key {kid!r} is not an {ALGORITHM} signing key")
        if "d" in jwk:
            raise KeyRingError(f"key {kid!r} contains private material; a key set holds public keys only")
        status = jwk.get("status")
        not_after = jwk.get("not_after")
        if status not in KEY_STATUSES:
            raise KeyRingError(f"key {kid!r} has unknown status {status!r}")
        if not isinstance(jwk.get("created"), int) or not (not_after is None or isinstance(not_after, int)):
            raise KeyRingError(f"key {kid!r} needs integer 'created' and 'not_after' timestamps")
        if not isinstance(jwk.get("node"), str) or not jwk["node"]:
            raise KeyRingError(f"key {kid!r} does not name its node")
        key = cls(kid=str(kid), node_id=jwk["node"], x=str(jwk.get("x")), created_at=jwk["created"])
        if _thumbprint(key.x) != kid:
            raise KeyRingError(f"key id {kid!r} is not the RFC 7638 thumbprint of its public key")
        return replace(key, status=status, not_after=not_after)

    def verification_key(self) -> OKPKey:
        return OKPKey.import_key({"kty": "OKP", "crv": CURVE, "x": self.x, "kid": self.kid, "alg": ALGORITHM})


def _thumbprint(x: str) -> str:
    try:
        return OKPKey.import_key({"kty": "OKP", "crv": CURVE, "x": x}).thumbprint()
    except (JoseError, ValueError, TypeError) as error:
        raise KeyRingError("public key 'x' is not a valid Ed25519 key") from error


@dataclass(frozen=True)
class SigningKey:
    """The private half of a node's key. Held in memory only; stored sealed (see ``seal``)."""

    kid: str
    node_id: str
    private: OKPKey = field(repr=False)


def new_signing_key(node_id: str, now: int) -> tuple[SigningKey, NodeKey]:
    """A fresh key pair whose kid is its RFC 7638 thumbprint, unique without coordination."""
    generated = OKPKey.generate_key(CURVE, parameters={"alg": ALGORITHM, "use": "sig"}, private=True)
    kid = generated.thumbprint()
    private = OKPKey.import_key({**generated.as_dict(private=True), "kid": kid})
    public = NodeKey(kid=kid, node_id=node_id, x=str(private.dict_value["x"]), created_at=now)
    return SigningKey(kid=kid, node_id=node_id, private=private), public


@dataclass(frozen=True)
class KeyRing:
    """The public keys of every node, the set that every node trusts and replicates."""

    keys: tuple[NodeKey, ...] = ()

    def __post_init__(self) -> None:
        kids = [key.kid for key in self.keys]
        if len(kids) != len(set(kids)):
            raise KeyRingError("a key set cannot hold the same key id twice")

    @cached_property
    def _by_kid(self) -> dict[str, NodeKey]:
        return {key.kid: key for key in self.keys}

    @cached_property
    def _verification_keys(self) -> dict[str, OKPKey]:
        return {key.kid: key.verification_key() for key in self.keys}

    def get(self, kid: str) -> NodeKey | None:
        return self._by_kid.get(kid)

    def verification_key(self, kid: str) -> OKPKey:
        """The parsed public key, built once per ring so verification does not re-import it."""
        return self._verification_keys[kid]

    def active_key(self, node_id: str) -> NodeKey | None:
        """The key the node signs with now; the newest wins if replication ever brings two."""
        active = [key for key in self.keys if key.node_id == node_id and key.status == "active"]
        return max(active, key=lambda key: key.created_at, default=None)

    def with_key(self, key: NodeKey) -> KeyRing:
        """Add a key, or replace the one with the same kid in place so the JWKS order stays stable."""
        if key.kid not in self._by_kid:
            return KeyRing(self.keys + (key,))
        return KeyRing(tuple(key if existing.kid == key.kid else existing for existing in self.keys))

    def retire(self, kid: str, not_after: int) -> KeyRing:
        """Stop signing with a key; it keeps verifying until ``not_after``."""
        key = self.get(kid)
        if key is None:
            raise KeyRingError(f"unknown key id {kid!r}")
        return self.with_key(replace(key, status="retired", not_after=_earliest(key.not_after, not_after)))

    def without_expired(self, now: float) -> KeyRing:
        """Drop keys past their ``not_after``; nothing they signed can still be valid."""
        return KeyRing(tuple(key for key in self.keys if key.usable_at(now)))

    def merge(self, other: KeyRing) -> KeyRing:
        """Combine with a replica's set. Retirement and earlier ``not_after`` win, so merging is
        order-independent and every node converges on the same set whatever arrives first."""
        merged = dict(self._by_kid)
        for key in other.keys:
            mine = merged.get(key.kid)
            if mine is None:
                merged[key.kid] = key
                continue
            if (mine.x, mine.node_id) != (key.x, key.node_id):
                raise KeyRingError(f"key id {key.kid!r} arrived with different key material or node")
            status: KeyStatus = "retired" if "retired" in (mine.status, key.status) else "active"
            merged[key.kid] = replace(mine, status=status, not_after=_earliest(mine.not_after, key.not_after))
        return KeyRing(tuple(sorted(merged.values(), key=lambda key: (key.node_id, key.created_at, key.kid))))

    def to_jwks(self) -> dict[str, Any]:
        """A JWKS (RFC 7517 §5), for replication and for ``/.well-known/jwks.json``."""
        return {"keys": [key.to_jwk() for key in self.keys]}

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> KeyRing:
        keys = jwks.get("keys")
        if not isinstance(keys, list):
            raise KeyRingError("a JWKS needs a 'keys' list")
        return cls(tuple(NodeKey.from_jwk(key) for key in keys))


def _earliest(first: int | None, second: int | None) -> int | None:
    candidates = [value for value in (first, second) if value is not None]
    return min(candidates) if candidates else None


def rotate(ring: KeyRing, node_id: str, now: int, grace: int = DEFAULT_RETIREMENT_GRACE) -> tuple[KeyRing, SigningKey]:
    """Give the node a new active key and retire its previous ones ``grace`` seconds from now."""
    signing, public = new_signing_key(node_id, now)
    for key in ring.keys:
        if key.node_id == node_id and key.status == "active":
            ring = ring.retire(key.kid, now + grace)
    return ring.with_key(public), signing


def new_kek() -> str:
    """A fresh key-encryption key, as the base64url text to put in a setting or a file."""
    return _b64encode(AESGCM.generate_key(bit_length=KEK_BYTES * 8))


def load_kek(value: str) -> bytes:
    """Read a KEK from configuration. Never echoes the value: it is a secret."""
    text = value.strip()
    try:
        kek = _b64decode(text)
    except (binascii.Error, ValueError) as error:
        raise InvalidKek("the key-encryption key is not valid base64url; generate one with new_kek()") from error
    if len(kek) != KEK_BYTES or _b64encode(kek) != text.rstrip("="):
        raise InvalidKek(
            f"the key-encryption key must be {KEK_BYTES} bytes of base64url (got {len(kek)} bytes); "
            "generate one with new_kek()"
        )
    return kek


def _associated_data(kid: str, node_id: str) -> bytes:
    return json.dumps({"kid": kid, "node": node_id}, sort_keys=True).encode()


def seal(key: SigningKey, kek: bytes) -> dict[str, str]:
    """Encrypt a private key for storage; the record is safe to keep beside the key set."""
    nonce = os.urandom(12)
    plaintext = json.dumps(key.private.as_dict(private=True)).encode()
    ciphertext = AESGCM(kek).encrypt(nonce, plaintext, _associated_data(key.kid, key.node_id))
    return {
        "kid": key.kid,
        "node": key.node_id,
        "alg": SEAL_ALGORITHM,
        "nonce": _b64encode(nonce),
        "ciphertext": _b64encode(ciphertext),
    }


def unseal(record: Mapping[str, Any], kek: bytes) -> SigningKey:
    kid, node_id = record.get("kid"), record.get("node")
    if not isinstance(kid, str) or not isinstance(node_id, str) or record.get("alg") != SEAL_ALGORITHM:
        raise UnsealError(f"sealed key record for {kid!r} is incomplete or not {SEAL_ALGORITHM}")
    try:
        nonce, ciphertext = _b64decode(record["nonce"]), _b64decode(record["ciphertext"])
        plaintext = AESGCM(kek).decrypt(nonce, ciphertext, _associated_data(kid, node_id))
    except InvalidTag as error:
        raise UnsealError(
            f"cannot unseal private key {kid!r}: wrong key-encryption key, or the record was altered"
        ) from error
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise UnsealError(f"sealed key record for {kid!r} is malformed") from error
    private = OKPKey.import_key(json.loads(plaintext))
    if private.thumbprint() != kid or not private.is_private:
        raise UnsealError(f"sealed key {kid!r} does not contain the private key it names")
    return SigningKey(kid=kid, node_id=node_id, private=private)


def seal_secret(secret: str, kek: bytes, context: str) -> dict[str, str]:
    """Encrypt another secret at rest (a user's TOTP secret); `context` (the user name) is bound
    to it, so a sealed value copied onto another record does not open."""
    nonce = os.urandom(12)
    ciphertext = AESGCM(kek).encrypt(nonce, secret.encode(), context.encode())
    return {"alg": SEAL_ALGORITHM, "nonce": _b64encode(nonce), "ciphertext": _b64encode(ciphertext)}


def unseal_secret(record: Mapping[str, Any], kek: bytes, context: str) -> str:
    try:
        nonce, ciphertext = _b64decode(record["nonce"]), _b64decode(record["ciphertext"])
        return AESGCM(kek).decrypt(nonce, ciphertext, context.encode()).decode()
    except InvalidTag as error:
        raise UnsealError("cannot unseal a secret: wrong key-encryption key, or the record was altered") from error
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise UnsealError("a sealed secret is malformed") from error
