"""The region's registered site nodes, and the credential each uses to reach the centre.

`lifeline sites add herlev --url https://herlev.example` on the centre writes a `_Site` record and
prints the site's credential once (`herlev.<secret>`); only a verifier (SHA-256 of 32 random
bytes: a secret that strong needs no slow hash) is stored. The record replicates like users and
keys, so every node knows the region's members: their URLs are the token issuers every node
trusts (identity/node.py), and revoking a site stops both its feed and its tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import asdict, dataclass, field

from lifeline.clock import Clock, fhir_instant, system_clock
from lifeline.errors import BadRequest, Forbidden, NotFound, Unauthorized
from lifeline.identity import records
from lifeline.storage.repository import Repository

SITE = "_Site"
SCOPES = ("region", "hospital")
_SITE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass
class Site:
    site_id: str
    url: str  # the site's public address: the issuer of the tokens it signs
    verifier: str  # SHA-256 (hex) of the credential's secret
    scope: str = "region"  # region: the whole record; hospital: its organisations' patients
    organizations: list[str] = field(default_factory=list)  # hospital scope: Organization ids
    active: bool = True
    added_at: str = ""


def check_site_id(site_id: str) -> str:
    if not _SITE_ID.match(site_id):
        raise BadRequest(f"A site id is lower-case letters, digits and '-', at most 63 long; not {site_id!r}")
    return site_id


def add_site(
    repo: Repository,
    site_id: str,
    url: str,
    *,
    scope: str = "region",
    organizations: list[str] | None = None,
    clock: Clock = system_clock,
) -> str:
    """Register a site (or issue a new credential for one); returns the credential, shown once."""
    check_site_id(site_id)
    if scope not in SCOPES:
        raise BadRequest(f"A site's scope is region or hospital, not {scope!r}")
    if scope == "hospital" and not organizations:
        raise BadRequest("A hospital-scoped site needs the Organization ids of its hospital (--organization)")
    if not url.startswith(("http://", "https://")):
        raise BadRequest(f"A site's URL must start with http:// or https://, not {url!r}")
    secret = secrets.token_urlsafe(32)
    site = Site(
        site_id,
        url.rstrip("/"),
        _verifier(secret),
        scope,
        list(organizations or []),
        True,
        fhir_instant(clock()),
    )
    records.put_record(repo, SITE, site_id, asdict(site), clock=clock)
    return f"{site_id}.{secret}"


def revoke_site(repo: Repository, site_id: str) -> Site:
    site = require_site(repo, site_id)
    site.active = False
    records.put_record(repo, SITE, site_id, asdict(site))
    return site


def get_site(repo: Repository, site_id: str) -> Site | None:
    content = records.get_record(repo, SITE, site_id)
    return None if content is None else Site(**content)


def require_site(repo: Repository, site_id: str) -> Site:
    site = get_site(repo, site_id)
    if site is None:
        raise NotFound(f"no site {site_id!r}")
    return site


def list_sites(repo: Repository) -> list[Site]:
    return sorted((Site(**c) for c in records.all_records(repo, SITE)), key=lambda s: s.site_id)


def site_issuers(repo: Repository) -> set[str]:
    """The token issuers of the region's active sites."""
    return {site.url for site in list_sites(repo) if site.active}


def revoked_sites(repo: Repository) -> set[str]:
    return {site.site_id for site in list_sites(repo) if not site.active}


def authenticate(repo: Repository, authorization: str | None) -> Site:
    """The site an `Authorization: Bearer <site>.<secret>` header belongs to; user and app tokens
    are never accepted here."""
    scheme, _, credential = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or "." not in credential:
        raise Unauthorized("The replication API needs a site node's credential (lifeline sites add)")
    site_id, _, secret = credential.strip().partition(".")
    site = get_site(repo, site_id) if _SITE_ID.match(site_id) else None
    # Compare even when the site is unknown, so the answer takes as long either way.
    known = hmac.compare_digest(_verifier(secret), site.verifier if site else _verifier(""))
    if site is None or not known:
        raise Unauthorized("Unknown site node credential")
    if not site.active:
        raise Forbidden(f"Site {site_id} has been revoked")
    return site


def _verifier(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
