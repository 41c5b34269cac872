"""Retention: audit records are kept for `LIFELINE_AUDIT_RETENTION_YEARS` (default 10) and are
never deleted by normal operation. Only `lifeline audit prune --before DATE`, run by an operator,
removes older records — never any younger than the retention period, and only from a trail that
verifies.

Each pruned chain gets an anchor: the last removed record's seq and hash, signed (JWS, Ed25519)
by the node that pruned, with the date it pruned before. `lifeline audit verify` starts such a
chain at the anchor: a signed anchor vouches for what was there, so removing records without one
(or moving one) is still caught as removal or tampering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError

from lifeline import jsontext
from lifeline.audit.checkpoint import audit_key_ring
from lifeline.audit.store import instant
from lifeline.audit.verify import verify
from lifeline.errors import BadRequest, Conflict
from lifeline.identity.keys import ALGORITHM, KeyRing
from lifeline.identity.node import NodeIdentity
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession

TYPE = "lifeline-audit-prune+jws"


@dataclass(frozen=True)
class Anchor:
    node_id: str
    seq: int
    hash: str
    before: str
    signature: str = ""

    def claims(self) -> dict[str, object]:
        return {"node": self.node_id, "seq": self.seq, "hash": self.hash, "before": self.before}


def prune(repo: Repository, identity: NodeIdentity, before: datetime, *, retention_years: int) -> dict[str, int]:
    """Remove every node's records older than `before`; how many per node."""
    now = datetime.fromtimestamp(identity.clock(), UTC)
    limit = now.replace(year=now.year - retention_years)
    if before > limit:
        raise BadRequest(
            f"audit records are kept {retention_years} years (LIFELINE_AUDIT_RETENTION_YEARS):"
            f" nothing recorded after {limit.date().isoformat()} may be pruned"
        )
    report = verify(repo, audit_key_ring(repo))
    if not report.ok:
        raise Conflict(f"the audit trail does not verify; nothing was pruned: {report.first_problem.line()}")  # type: ignore[union-attr]
    cut = instant(before)
    key = identity.signing_key()
    removed: dict[str, int] = {}
    for node in report.nodes:

        def work(session: WriteSession, node_id: str = node.node_id) -> int:
            last = session.audit_last_before(node_id, cut)
            if last is None:
                return 0
            anchor = Anchor(node_id, int(last[0]), str(last[1]), cut)
            payload = jsontext.dumps(anchor.claims(), option=orjson.OPT_SORT_KEYS)
            header = {"alg": ALGORITHM, "kid": key.kid, "typ": TYPE}
            signature = jws.serialize_compact(header, payload, key.private, algorithms=[ALGORITHM])
            return session.prune_audit(node_id, anchor.seq, anchor.hash, cut, signature)

        removed[node.node_id], _ = repo.write(work)
    return removed


def anchor_problem(anchor: Anchor, ring: KeyRing) -> str | None:
    """Why the anchor cannot be trusted, or None."""
    try:
        header = jws.extract_compact(anchor.signature.encode()).headers()
        kid = header.get("kid")
        key = ring.get(kid) if isinstance(kid, str) else None
        if key is None or header.get("typ") != TYPE:
            return "is not signed by a node of the region"
        verified = jws.deserialize_compact(anchor.signature, ring.verification_key(key.kid), algorithms=[ALGORITHM])
    except BadSignatureError:
        return "signature does not match"
    except (JoseError, ValueError):
        return "is not a valid JWS"
    if orjson.loads(verified.payload) != anchor.claims():
        return "signs other values than the stored ones"
    return None
