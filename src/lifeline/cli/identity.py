"""`lifeline users|clients|token|keys`: the administrator's side of identity and access.

The command line holds the database, so it has full trust: it adds and disables staff logins,
registers apps, prints short-lived access tokens for scripts, and rotates this node's signing key.
Secrets it makes (a temporary password, a client secret) are printed once and stored only as
argon2id verifiers."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import orjson
import typer
from rich.table import Table

from lifeline.audit import events as audit_events
from lifeline.cli.common import DB_OPTION, clear_errors, console, open_service, settings
from lifeline.config import SettingError
from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.passwords import hash_password
from lifeline.identity.principal import OPERATOR
from lifeline.identity.records import CLIENT_KINDS, Client, User
from lifeline.identity.scopes import MalformedScope, ScopeSet, grant_scopes

users_app = typer.Typer(help="Staff logins.", no_args_is_help=True)
clients_app = typer.Typer(help="Apps registered to use the API (SMART on FHIR).", no_args_is_help=True)
token_app = typer.Typer(help="Access tokens for scripts and operations.", no_args_is_help=True)
keys_app = typer.Typer(help="This node's token signing key.", no_args_is_help=True)
# operator: the incidents page (issue 23); lead: a head of department who reduces to acute care (issue 24)
EXTRA_ROLES = ("privacy-officer", "administrator", "operator", "lead")


def _say(text: str) -> None:
    print(text, file=sys.stdout)


def _audit(service: FhirService, action: str) -> None:
    """An administrative action on the audit trail, by the operator at the command line."""
    audit_events.record(
        service.repo, "administration", user=OPERATOR.subject, client_id=OPERATOR.client_id, text=action,
        node_id=service.settings.node_id,
    )  # fmt: skip


def _temporary_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits: changed at first login


@users_app.command("add")
@clear_errors
def users_add(
    username: str = typer.Argument(..., help="Login name (the generator's staff carry theirs as an identifier)"),
    practitioner: str = typer.Option(..., "--practitioner", help="Id of the user's Practitioner resource"),
    role: list[str] = typer.Option([], "--role", help="Extra role: privacy-officer, administrator, operator or lead"),
    db: str = DB_OPTION,
) -> None:
    """Add a staff login; prints a temporary password to change at the first login."""
    for extra in role:
        if extra not in EXTRA_ROLES:
            raise SettingError(f"--role must be one of {', '.join(EXTRA_ROLES)}, not {extra!r}")
    service = open_service(settings(db=db))
    try:
        if service.repo.read("Practitioner", practitioner) is None:
            raise SettingError(f"there is no Practitioner/{practitioner}")
        password = _temporary_password()
        user = User(username, practitioner, hash_password(password), extra_roles=list(role), must_change_password=True)
        records.put_user(service.repo, user, create=True)
        _audit(service, f"users add {username}")
    finally:
        service.repo.close()
    _say(f"added {username}; temporary password (shown once, changed at first login): {password}")


@users_app.command("disable")
@clear_errors
def users_disable(username: str = typer.Argument(...), db: str = DB_OPTION) -> None:
    """Disable a login at once: its sessions and refresh tokens stop working."""
    service = open_service(settings(db=db))
    try:
        user = records.require_user(service.repo, username)
        user.active = False
        user.sessions_epoch += 1
        records.put_user(service.repo, user)
        _audit(service, f"users disable {username}")
    finally:
        service.repo.close()
    _say(f"disabled {username}")


@users_app.command("reset")
@clear_errors
def users_reset(
    username: str = typer.Argument(...),
    second_factor: bool = typer.Option(False, "--second-factor", help="Also remove the TOTP and passkeys"),
    db: str = DB_OPTION,
) -> None:
    """A new temporary password (and, asked, a new second-factor enrolment); logs the user out everywhere."""
    service = open_service(settings(db=db))
    try:
        user = records.require_user(service.repo, username)
        password = _temporary_password()
        user.password = hash_password(password)
        user.must_change_password = True
        user.active = True
        user.sessions_epoch += 1
        if second_factor:
            user.totp_secret, user.totp_step, user.passkeys, user.recovery_codes = None, None, [], []
        records.put_user(service.repo, user)
        _audit(service, f"users reset {username}" + (" --second-factor" if second_factor else ""))
    finally:
        service.repo.close()
    _say(f"reset {username}; temporary password (shown once): {password}")


@users_app.command("list")
@clear_errors
def users_list(db: str = DB_OPTION) -> None:
    """Every staff login, with its state."""
    service = open_service(settings(db=db))
    try:
        found = sorted(records.users(service.repo), key=lambda u: u.username)
    finally:
        service.repo.close()
    table = Table(title=f"{len(found)} users")
    for column in ("user", "practitioner", "active", "second factor", "extra roles"):
        table.add_column(column)
    for user in found:
        factor = "TOTP" if user.totp_secret else "not enrolled"
        if user.passkeys:
            factor += f" + {len(user.passkeys)} passkey(s)"
        table.add_row(
            user.username, user.practitioner, "yes" if user.active else "no", factor, ", ".join(user.extra_roles)
        )
    console.print(table)


@clients_app.command("add")
@clear_errors
def clients_add(
    client_id: str = typer.Argument(..., help="The app's client id"),
    kind: str = typer.Option(..., "--kind", help="public (PKCE), confidential (secret) or backend (private_key_jwt)"),
    scope: str = typer.Option(..., "--scope", help="The most it may be granted, e.g. 'user/*.rs launch/patient'"),
    redirect_uri: list[str] = typer.Option([], "--redirect-uri", help="Where logins may return (user-facing apps)"),
    jwks: Path = typer.Option(
        None, "--jwks", help="JSON file with a backend service's public keys (JWKS), for client credentials"
    ),
    name: str = typer.Option("", "--name", help="A name people recognise on the consent screen"),
    db: str = DB_OPTION,
) -> None:
    """Register an app; a confidential app's secret is printed once."""
    if kind not in CLIENT_KINDS:
        raise SettingError(f"--kind must be one of {', '.join(CLIENT_KINDS)}, not {kind!r}")
    try:
        ScopeSet.parse(scope)
    except MalformedScope as error:
        raise SettingError(f"--scope: {error}") from None
    if kind in ("public", "confidential") and not redirect_uri:
        raise SettingError(f"a {kind} app needs at least one --redirect-uri")
    keys = None
    if kind == "backend" and jwks is not None:
        try:
            keys = orjson.loads(jwks.read_bytes())
        except orjson.JSONDecodeError as error:
            raise SettingError(f"--jwks {jwks}: not valid JSON: {error}") from None
        if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list) or not keys["keys"]:
            raise SettingError(f"--jwks {jwks}: expected a JWKS, an object with a non-empty 'keys' list")
    if kind != "backend" and jwks is not None:
        raise SettingError("--jwks is for backend apps (private_key_jwt)")
    secret = secrets.token_urlsafe(32) if kind == "confidential" else None
    client = Client(
        client_id,
        kind,
        scope,
        redirect_uris=list(redirect_uri),
        secret=hash_password(secret) if secret else None,
        jwks=keys,
        name=name or client_id,
    )
    config = settings(db=db)
    if config.threat_level == "high":
        raise SettingError("the threat level is high: no new app registrations until it is lowered")
    service = open_service(config)
    try:
        records.put_client(service.repo, client, create=True)
        _audit(service, f"clients add {client_id} ({kind}, {scope})")
    finally:
        service.repo.close()
    note = f"; client secret (shown once): {secret}" if secret else ""
    if kind == "backend" and keys is None:
        note = "; no JWKS: it gets tokens only from `lifeline token issue`"
    _say(f"registered {client_id} ({kind}){note}")


@clients_app.command("list")
@clear_errors
def clients_list(db: str = DB_OPTION) -> None:
    """Every registered app."""
    service = open_service(settings(db=db))
    try:
        found = sorted(records.clients(service.repo), key=lambda c: c.client_id)
    finally:
        service.repo.close()
    table = Table(title=f"{len(found)} apps")
    for column in ("client id", "kind", "active", "scopes", "redirect URIs"):
        table.add_column(column)
    for client in found:
        table.add_row(
            client.client_id,
            client.kind,
            "yes" if client.active else "no",
            client.scopes,
            " ".join(client.redirect_uris),
        )
    console.print(table)


@clients_app.command("revoke")
@clear_errors
def clients_revoke(client_id: str = typer.Argument(...), db: str = DB_OPTION) -> None:
    """Revoke an app: no new tokens; its refresh tokens stop working."""
    service = open_service(settings(db=db))
    try:
        client = records.require_client(service.repo, client_id)
        client.active = False
        records.put_client(service.repo, client)
        _audit(service, f"clients revoke {client_id}")
    finally:
        service.repo.close()
    _say(f"revoked {client_id}")


@token_app.command("issue")
@clear_errors
def token_issue(
    client: str = typer.Option(..., "--client", help="A registered app's client id"),
    scope: str = typer.Option(..., "--scope", help="Scopes wanted, cut down to what the app is registered for"),
    minutes: int = typer.Option(None, "--minutes", help="Lifetime [default: LIFELINE_TOKEN_MINUTES, 15]"),
    patient: str = typer.Option(None, "--patient", help="Launch context: the patient the token is about"),
    db: str = DB_OPTION,
) -> None:
    """Print a short-lived access token: curl -H "Authorization: Bearer $(lifeline token issue ...)"."""
    if minutes is not None and not 1 <= minutes <= 24 * 60:
        raise SettingError("--minutes must be between 1 and 1440")
    service = open_service(settings(db=db))
    try:
        registered = records.require_client(service.repo, client)
        if not registered.active:
            raise SettingError(f"client {client} is revoked")
        try:
            granted = grant_scopes(scope, registered.scopes)
        except MalformedScope as error:
            raise SettingError(f"--scope: {error}") from None
        if not granted.resources:
            raise SettingError(f"client {client} is registered for {registered.scopes!r}; none of {scope!r} is granted")
        token = service.identity.issue(
            subject=client,
            client_id=client,
            scopes=str(granted),
            patient=patient,
            lifetime=None if minutes is None else minutes * 60,
        )
        audit_events.record(service.repo, "token", user=OPERATOR.subject, client_id=client, patient=patient,
                            text=f"lifeline token issue: {granted}", node_id=service.settings.node_id)  # fmt: skip
    finally:
        service.repo.close()
    _say(token)


@keys_app.command("rotate")
@clear_errors
def keys_rotate(db: str = DB_OPTION) -> None:
    """Give this node a new signing key; tokens signed with the old one stay valid for a day."""
    service = open_service(settings(db=db))
    try:
        key = service.identity.rotate()
        _audit(service, f"keys rotate: new signing key {key.kid}")
    finally:
        service.repo.close()
    _say(f"new signing key {key.kid}")
