"""This node's part in the region's trust: its own signing key, every node's public keys, and the
check of every bearer token — all without calling anyone at login or request time.

The private key is made on first use, sealed with the key-encryption key (KEK) and kept in
node-local state; its public half is written as a `_NodeKey` record, which replicates, so every
node accepts every node's tokens offline. The KEK is never stored in the database: it comes from
`LIFELINE_KEK` or a file (`LIFELINE_KEK_FILE`, created for a first run; in production keep it
apart from the database and its backups — docs/security.md).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lifeline.clock import EpochClock, epoch_clock
from lifeline.config import SettingError, Settings, issuer_of
from lifeline.identity import keys as keyset
from lifeline.identity import records
from lifeline.identity.clock_skew import ClockSkew
from lifeline.identity.keys import KeyRing, NodeKey, SigningKey
from lifeline.identity.principal import Principal, site_principal
from lifeline.identity.revocation import StaffRevocation
from lifeline.identity.sites import Site, revoked_sites, site_issuers
from lifeline.identity.sites import authenticate as authenticate_site
from lifeline.identity.state import NodeState
from lifeline.identity.tokens import AccessToken, InvalidToken, TokenVerifier, issue_token
from lifeline.storage.repository import Repository

_SIGNING_KEY = "signing-key"
_RING_REFRESH_SECONDS = 5  # at most this often, an unknown key id or issuer re-reads the region
_REGION_REFRESH_SECONDS = 60  # and this often in any case, so that a revoked site's tokens die
_REREAD = frozenset({"unknown key id", "untrusted issuer", "wrong audience"})
log = logging.getLogger("lifeline.identity")


def load_kek(settings: Settings) -> bytes:
    """The key-encryption key from the setting, else from its file (made on a first run)."""
    try:
        if settings.kek:
            return keyset.load_kek(settings.kek)
        path = Path(settings.kek_file)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(keyset.new_kek() + "\n")
        return keyset.load_kek(path.read_text())
    except keyset.InvalidKek as error:
        raise SettingError(f"LIFELINE_KEK / LIFELINE_KEK_FILE: {error}") from None
    except OSError as error:
        raise SettingError(f"cannot read or create the key-encryption key file {settings.kek_file}: {error}") from None


class NodeIdentity:
    def __init__(self, repo: Repository, settings: Settings, *, clock: EpochClock = epoch_clock) -> None:
        self.repo = repo
        self.settings = settings
        self.clock = clock
        self.node_id = settings.node_id
        self.issuer = issuer_of(settings)
        self.audience = f"{self.issuer}/fhir"
        configured = [i.strip().rstrip("/") for i in settings.trusted_issuers.split(",") if i.strip()]
        if settings.central:
            configured.append(_origin(settings.central))
        self.configured_issuers = {self.issuer, *configured}
        self.state = NodeState(repo)
        peers = [self._database_time] if repo.has_server_clock else []
        self.skew = ClockSkew(peers, clock=clock)
        self._kek: bytes | None = None
        self._key: SigningKey | None = None
        self._verifier: TokenVerifier | None = None
        self._ring_read_at = 0.0
        self._lock = threading.Lock()
        self.revocation = StaffRevocation(repo, clock)

    def _database_time(self) -> float:
        moment = self.repo.server_time()
        if moment is None:
            raise RuntimeError("the database has no clock of its own")
        return moment

    @property
    def kek(self) -> bytes:
        if self._kek is None:
            self._kek = load_kek(self.settings)
        return self._kek

    def signing_key(self) -> SigningKey:
        with self._lock:
            if self._key is None:
                self._key = self._load_or_make_key()
            return self._key

    def _load_or_make_key(self) -> SigningKey:
        now = self.clock()
        stored = self.state.get(_SIGNING_KEY, now)
        if stored is None:
            key, public = keyset.new_signing_key(self.node_id, int(now))
            sealed = {"sealed": keyset.seal(key, self.kek), "public": public.to_jwk()}
            if not self.state.add(_SIGNING_KEY, sealed, None, now):  # another process made one first
                stored = self.state.get(_SIGNING_KEY, now)
            else:
                stored = sealed
        key = keyset.unseal(stored["sealed"], self.kek)
        if not any(jwk.get("kid") == key.kid for jwk in records.node_keys(self.repo)):
            records.put_node_key(self.repo, stored["public"])  # published (again, after a crash)
        return key

    def rotate(self) -> SigningKey:
        """A new signing key for this node; tokens signed with the old one stay valid until the
        old key retires a day later (keys.rotate), so nobody is logged out."""
        with self._lock:
            now = int(self.clock())
            ring, key = keyset.rotate(self.key_ring(), self.node_id, now)
            for public in ring.keys:
                if public.node_id == self.node_id:
                    records.put_node_key(self.repo, public.to_jwk())
            self.state.put(_SIGNING_KEY, {"sealed": keyset.seal(key, self.kek), "public": ring.get(key.kid).to_jwk()})  # type: ignore[union-attr]
            self._key = key
            self._verifier = None
            return key

    @property
    def trusted_issuers(self) -> set[str]:
        """This node, the configured issuers (its centre), and every active site of the region
        (identity/sites.py): one region, whose nodes accept each other's tokens."""
        return {*self.configured_issuers, *site_issuers(self.repo)}

    def key_ring(self) -> KeyRing:
        revoked = revoked_sites(self.repo)
        keys: list[NodeKey] = []
        for jwk in records.node_keys(self.repo):
            if jwk.get("node") in revoked:
                continue  # a revoked site's tokens are refused everywhere
            try:
                keys.append(NodeKey.from_jwk(jwk))
            except keyset.KeyRingError:
                continue  # a damaged record must not stop every login; verify refuses its tokens
        return KeyRing(tuple(keys)).without_expired(self.clock())

    def jwks(self) -> dict[str, Any]:
        self.signing_key()
        return self.key_ring().to_jwks()

    def refresh(self) -> None:
        """Read the region's keys and sites again at the next check (every node does so each
        minute anyway: a revoked site's tokens die within it)."""
        self._verifier = None

    def site(self, authorization: str | None) -> tuple[Site, Principal]:
        """The site node an `Authorization` header's credential belongs to (identity/sites.py),
        and the principal it acts as through the core: a system, never a person."""
        found = authenticate_site(self.repo, authorization)
        return found, site_principal(found)

    def verify(self, token: str) -> AccessToken:
        """The token's claims, once it checks out and its staff user still stands (revocation.py);
        the client learns only that it was refused (tokens.TOKEN_REFUSED), this log why."""
        try:
            access = self._verified(token)
            self.revocation.check(access)
        except InvalidToken as error:
            log.info("access token refused: %s", error.reason)
            raise
        return access

    def _verified(self, token: str) -> AccessToken:
        if self.clock() - self._ring_read_at > _REGION_REFRESH_SECONDS:
            self._verifier = None  # pick up revoked sites, new sites and retired keys
        verifier = self._current_verifier()
        try:
            return verifier.verify(token)
        except InvalidToken as error:
            # A key or a site added at another node since the region was read: read it again, once.
            if error.reason not in _REREAD or self.clock() - self._ring_read_at < _RING_REFRESH_SECONDS:
                raise
            self._verifier = None
            return self._current_verifier().verify(token)

    def _current_verifier(self) -> TokenVerifier:
        verifier = self._verifier
        if verifier is None:
            self.signing_key()
            ring = self._read_ring()
            issuers = self.trusted_issuers
            verifier = TokenVerifier(
                ring,
                trusted_issuers=issuers,
                # Every node of the region serves the same record: a token for one is good at all.
                audience={self.audience, *(f"{issuer}/fhir" for issuer in issuers)},
                leeway=self.settings.token_leeway_seconds,
                clock=self.clock,
            )
            self._verifier = verifier
        return verifier

    def _read_ring(self) -> KeyRing:
        self._ring_read_at = self.clock()
        return self.key_ring()

    def issue(
        self,
        *,
        subject: str,
        client_id: str,
        scopes: str,
        fhir_user: str | None = None,
        patient: str | None = None,
        session_id: str | None = None,
        sessions_epoch: int | None = None,
        lifetime: int | None = None,
    ) -> str:
        """An access token signed by this node; a staff user's carries their `sessions_epoch` (revocation.py)."""
        return issue_token(
            self.signing_key(),
            issuer=self.issuer,
            audience=self.audience,
            subject=subject,
            client_id=client_id,
            scopes=scopes,
            lifetime=lifetime or self.settings.token_minutes * 60,
            fhir_user=fhir_user,
            patient=patient,
            session_id=session_id,
            sessions_epoch=sessions_epoch,
            clock=self.clock,
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
