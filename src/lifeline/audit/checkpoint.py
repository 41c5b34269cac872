"""Signed checkpoints: the node vouches for its chain's head (seq and hash) with its signing key.

A hash chain alone shows that records were changed, removed or put in between, but not that the
newest ones were cut off together with the head: the chain that is left is whole. A checkpoint is
a JWS (compact serialization, Ed25519, the node's own key: identity/keys.py) over
{"node", "seq", "hash", "signed_at"}; a checkpoint beyond the last record, or one whose hash is
not that of the record at its seq, shows the cut. Checkpoints are meant to be copied off the
node (replication, the SIEM export), where whoever cut the chain cannot reach them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError

from lifeline import jsontext
from lifeline.audit.store import instant
from lifeline.identity import records
from lifeline.identity.keys import ALGORITHM, KeyRing, KeyRingError, NodeKey, SigningKey
from lifeline.identity.node import NodeIdentity
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession

TYPE = "lifeline-audit-checkpoint+jws"


@dataclass(frozen=True)
class Checkpoint:
    node_id: str
    seq: int
    hash: str
    signed_at: str
    signature: str  # the JWS, compact serialization

    def claims(self) -> dict[str, object]:
        return {"node": self.node_id, "seq": self.seq, "hash": self.hash, "signed_at": self.signed_at}


def sign(key: SigningKey, node_id: str, seq: int, hash_: str, signed_at: str) -> Checkpoint:
    unsigned = Checkpoint(node_id, seq, hash_, signed_at, "")
    payload = jsontext.dumps(unsigned.claims(), option=orjson.OPT_SORT_KEYS)
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": TYPE}
    signature = jws.serialize_compact(header, payload, key.private, algorithms=[ALGORITHM])
    return Checkpoint(node_id, seq, hash_, signed_at, signature)


def checkpoint(repo: Repository, identity: NodeIdentity) -> Checkpoint | None:
    """Sign this node's chain head now and store the checkpoint; None while the chain is empty."""
    node_id = identity.node_id
    key = identity.signing_key()
    signed_at = instant(datetime.fromtimestamp(identity.clock(), UTC))

    def work(session: WriteSession) -> Checkpoint | None:
        head = session.lock_audit_head(node_id)  # the head cannot move while it is signed
        if head is None or head[0] == 0:
            return None
        signed = sign(key, node_id, head[0], head[1], signed_at)
        session.add_audit_checkpoint(node_id, signed.seq, signed.hash, signed.signed_at, signed.signature)
        return signed

    signed, _ = repo.write(work)
    return signed


def audit_key_ring(repo: Repository) -> KeyRing:
    """Every node key ever published, retired and expired ones too: a key that has stopped
    signing tokens still vouches for the checkpoints it signed before."""
    keys: list[NodeKey] = []
    for jwk in records.node_keys(repo):
        try:
            keys.append(NodeKey.from_jwk(jwk))
        except KeyRingError:
            continue  # a damaged key verifies nothing: its checkpoints are reported
    return KeyRing(tuple(keys))


def problem_with(signed: Checkpoint, ring: KeyRing) -> str | None:
    """Why the checkpoint cannot be trusted, or None when its signature and values hold."""
    try:
        header = jws.extract_compact(signed.signature.encode()).headers()
    except (JoseError, ValueError):
        return "is not a JWS"
    kid = header.get("kid")
    key = ring.get(kid) if isinstance(kid, str) else None
    if key is None:
        return f"is signed with an unknown key {kid!r}"
    if key.node_id != signed.node_id:
        return f"is signed with node {key.node_id}'s key, not node {signed.node_id}'s"
    if header.get("alg") != ALGORITHM or header.get("typ") != TYPE:
        return "is not an audit checkpoint signature"
    try:
        verified = jws.deserialize_compact(signed.signature, ring.verification_key(key.kid), algorithms=[ALGORITHM])
    except BadSignatureError:
        return "signature does not match"
    except (JoseError, ValueError):
        return "is not a valid JWS"
    try:
        claims = orjson.loads(verified.payload)
    except orjson.JSONDecodeError:
        return "signs something that is not JSON"
    if claims != signed.claims():
        return "signs other values than the stored ones"
    return None
