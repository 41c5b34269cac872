"""Identity records — users, registered apps, the nodes' public keys — kept in the record store.

They are written through the one write path, as versions with change numbers, so they replicate
to every hospital's site node with the clinical record: a site can log its staff in with no call
to the centre (issue 5, "Login must survive failures"). Their types begin with `_`, which no FHIR
resource type does: the FHIR API never serves them (an unknown type is a 404), and system-wide
history, search and export leave them out (storage/session.py, `FHIR_TYPES_ONLY`).

What must never leave a node — its private signing key, web sessions, login counters, issued
codes and refresh tokens — lives in the node-local `node_state` table instead (identity/state.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from lifeline import jsontext
from lifeline.clock import Clock, fhir_instant, system_clock
from lifeline.errors import Conflict, NotFound
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession

USER = "_User"
CLIENT = "_Client"
NODE_KEY = "_NodeKey"
_IDS = uuid.UUID("0b7c7a52-6a2f-4b0c-9b55-2f6f3d8e1c11")  # record ids derive from their names


def record_id(kind: str, name: str) -> str:
    """The same name always gives the same record, on every node: two nodes that add the same
    user while cut off from each other make two versions of one record, not two users."""
    return str(uuid.uuid5(_IDS, f"{kind}/{name.casefold()}"))


@dataclass
class User:
    """A staff member's login (patients log in through the citizen identity provider)."""

    username: str
    practitioner: str  # the id of their Practitioner; roles come from its PractitionerRoles
    password: str  # argon2id verifier (identity/passwords.py)
    active: bool = True
    extra_roles: list[str] = field(default_factory=list)  # privacy-officer, administrator
    totp_secret: dict[str, Any] | None = None  # sealed with the node's key-encryption key
    totp_step: int | None = None  # the last accepted time step: a code is never accepted twice
    recovery_codes: list[str] = field(default_factory=list)  # verifiers of unused recovery codes
    passkeys: list[dict[str, Any]] = field(default_factory=list)
    must_change_password: bool = False
    sessions_epoch: int = 0  # raised by "log out everywhere": older sessions and refresh tokens die


@dataclass
class Client:
    """An app registered to use the API (SMART on FHIR)."""

    client_id: str
    kind: str  # public (PKCE), confidential (secret), backend (private_key_jwt)
    scopes: str  # the most it may ever be granted, space-separated
    redirect_uris: list[str] = field(default_factory=list)
    secret: str | None = None  # argon2id verifier of a confidential client's secret
    jwks: dict[str, Any] | None = None  # a backend service's public keys
    active: bool = True
    name: str = ""


CLIENT_KINDS = ("public", "confidential", "backend")


def put_user(repo: Repository, user: User, *, create: bool = False, clock: Clock = system_clock) -> None:
    put_record(repo, USER, user.username, asdict(user), create=create, clock=clock)


def get_user(repo: Repository, username: str) -> User | None:
    content = get_record(repo, USER, username)
    return None if content is None else User(**content)


def users(repo: Repository) -> Iterator[User]:
    for content in all_records(repo, USER):
        yield User(**content)


def put_client(repo: Repository, client: Client, *, create: bool = False, clock: Clock = system_clock) -> None:
    put_record(repo, CLIENT, client.client_id, asdict(client), create=create, clock=clock)


def get_client(repo: Repository, client_id: str) -> Client | None:
    content = get_record(repo, CLIENT, client_id)
    return None if content is None else Client(**content)


def clients(repo: Repository) -> Iterator[Client]:
    for content in all_records(repo, CLIENT):
        yield Client(**content)


def put_node_key(repo: Repository, jwk: dict[str, Any], *, clock: Clock = system_clock) -> None:
    put_record(repo, NODE_KEY, str(jwk["kid"]), jwk, create=False, clock=clock)


def node_keys(repo: Repository) -> list[dict[str, Any]]:
    return list(all_records(repo, NODE_KEY))


def put_record(
    repo: Repository,
    kind: str,
    name: str,
    content: dict[str, Any],
    *,
    create: bool = False,
    clock: Clock = system_clock,
) -> None:
    """Write the record's next version (in one transaction, like every write). Records need no
    search index: their id derives from their name."""
    res_id = record_id(kind, name)
    text = jsontext.dumps(content).decode()

    def work(session: WriteSession) -> None:
        current = session.read_for_update(kind, res_id)
        if current is not None and create and not current.deleted:
            raise Conflict(f"{name} already exists")
        session.put_version(kind, res_id, current, fhir_instant(clock()), text)

    repo.write(work)


def get_record(repo: Repository, kind: str, name: str) -> dict[str, Any] | None:
    stored = repo.read(kind, record_id(kind, name))
    if stored is None or stored.deleted or stored.content is None:
        return None
    content: dict[str, Any] = orjson.loads(stored.content)
    return content


def all_records(repo: Repository, kind: str) -> Iterator[dict[str, Any]]:
    for page in repo.pages(kind, 500):
        for stored in page:
            if stored.content is not None:
                yield orjson.loads(stored.content)


def require_user(repo: Repository, username: str) -> User:
    user = get_user(repo, username)
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def require_client(repo: Repository, client_id: str) -> Client:
    client = get_client(repo, client_id)
    if client is None:
        raise NotFound(f"no client {client_id!r}")
    return client
