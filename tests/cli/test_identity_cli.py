"""`lifeline users|clients|token|keys`: the administrator's commands, their one-line errors, and
tokens that the API accepts."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lifeline.cli.main import app
from lifeline.config import Settings
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.keys import new_kek
from lifeline.identity.passwords import verify_password
from lifeline.identity.principal import OPERATOR, principal_from_token
from lifeline.storage import open_repository
from tests.conftest import BACKENDS, database_url, dispose

KEK = new_kek()


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path):
    url = database_url(request.param, tmp_path)
    repo = open_repository(url)
    repo.migrate()
    FhirService(repo).handle(
        FhirRequest(
            "update", "Practitioner", "pr1", body={"resourceType": "Practitioner", "id": "pr1"}, principal=OPERATOR
        )
    )
    yield url
    dispose(repo)


def lifeline(*args: str, ok: bool = True, **env: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"LIFELINE_KEK": KEK, **env})
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 1, result.output
    return result.output


def service(url: str) -> FhirService:
    return FhirService(open_repository(url), Settings(db=url, kek=KEK))


def test_users_add_list_disable_reset(db):
    out = lifeline("users", "add", "mette.jensen", "--practitioner", "pr1", "--role", "privacy-officer", "--db", db)
    password = out.strip().rsplit(": ", 1)[1]
    s = service(db)
    try:
        user = records.get_user(s.repo, "mette.jensen")
        assert user is not None and user.must_change_password and user.extra_roles == ["privacy-officer"]
        assert verify_password(user.password, password)
        assert "mette.jensen" in lifeline("users", "list", "--db", db)
        assert "already exists" in lifeline(
            "users", "add", "Mette.Jensen", "--practitioner", "pr1", "--db", db, ok=False
        )
        lifeline("users", "disable", "mette.jensen", "--db", db)
        disabled = records.get_user(s.repo, "mette.jensen")
        assert disabled is not None and not disabled.active and disabled.sessions_epoch == 1
        new_password = lifeline("users", "reset", "mette.jensen", "--db", db).strip().rsplit(": ", 1)[1]
        reset = records.get_user(s.repo, "mette.jensen")
        assert reset is not None and reset.active and reset.sessions_epoch == 2
        assert verify_password(reset.password, new_password) and not verify_password(reset.password, password)
    finally:
        s.repo.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "add", "x", "--practitioner", "nobody"], "no Practitioner/nobody"),
        (["users", "add", "x", "--practitioner", "pr1", "--role", "king"], "--role must be one of"),
        (["users", "disable", "nobody"], "no user 'nobody'"),
        (["clients", "add", "app", "--kind", "magic", "--scope", "user/*.rs"], "--kind must be one of"),
        (["clients", "add", "app", "--kind", "public", "--scope", "user/*.rs"], "needs at least one --redirect-uri"),
        (["clients", "add", "app", "--kind", "backend", "--scope", "user/Observation.xyz"], "--scope"),
        (["token", "issue", "--client", "nobody", "--scope", "system/*.rs"], "no client 'nobody'"),
    ],
)
def test_bad_input_is_one_clear_line(db, args, message):
    out = lifeline(*args, "--db", db, ok=False)
    assert out.startswith("lifeline: error:") and message in out and len(out.strip().splitlines()) == 1


def test_clients_and_tokens_never_grant_more_than_registered(db, tmp_path):
    jwks = tmp_path / "keys.json"
    jwks.write_text(json.dumps({"keys": []}))
    assert "non-empty 'keys'" in lifeline(
        "clients", "add", "svc", "--kind", "backend", "--scope", "system/Patient.rs", "--jwks", str(jwks), "--db", db,
        ok=False,
    )  # fmt: skip
    lifeline("clients", "add", "svc", "--kind", "backend", "--scope", "system/Patient.rs", "--db", db)
    out = lifeline("clients", "add", "web", "--kind", "confidential", "--scope", "user/*.rs",
                   "--redirect-uri", "https://app.example/cb", "--db", db)  # fmt: skip
    assert "client secret (shown once)" in out
    assert "svc" in lifeline("clients", "list", "--db", db)
    token = lifeline("token", "issue", "--client", "svc", "--scope", "system/*.cruds", "--db", db).strip()
    s = service(db)
    try:
        principal = principal_from_token(s.identity.verify(token))
        assert str(principal.scopes) == "system/Patient.rs"  # cut down to the registration
        assert "none of" in lifeline("token", "issue", "--client", "svc", "--scope", "system/Observation.rs",
                                     "--db", db, ok=False)  # fmt: skip
        lifeline("clients", "revoke", "svc", "--db", db)
        assert "revoked" in lifeline("token", "issue", "--client", "svc", "--scope", "system/Patient.rs", "--db", db,
                                     ok=False)  # fmt: skip
    finally:
        s.repo.close()


def test_threat_level_high_refuses_new_app_registrations(db):
    out = lifeline("clients", "add", "late", "--kind", "backend", "--scope", "system/*.rs", "--db", db, ok=False,
                   LIFELINE_THREAT_LEVEL="high")  # fmt: skip
    assert "threat level is high" in out


def test_key_rotation_keeps_earlier_tokens_valid(db):
    lifeline("clients", "add", "svc", "--kind", "backend", "--scope", "system/*.rs", "--db", db)
    before = lifeline("token", "issue", "--client", "svc", "--scope", "system/*.rs", "--db", db).strip()
    lifeline("keys", "rotate", "--db", db)
    after = lifeline("token", "issue", "--client", "svc", "--scope", "system/*.rs", "--db", db).strip()
    s = service(db)
    try:
        old, new = s.identity.verify(before), s.identity.verify(after)
        assert old.kid != new.kid
        assert len(s.identity.jwks()["keys"]) == 2
    finally:
        s.repo.close()


def test_administrative_actions_and_printed_tokens_are_on_the_audit_trail(db):
    import orjson

    from lifeline.audit.store import events_after

    lifeline("users", "add", "ole.hansen", "--practitioner", "pr1", "--db", db)
    lifeline("clients", "add", "svc", "--kind", "backend", "--scope", "system/*.rs", "--db", db)
    lifeline("token", "issue", "--client", "svc", "--scope", "system/*.rs", "--db", db)
    s = service(db)
    try:
        events = [orjson.loads(r.content) for r in events_after(s.repo, "central", 0)]
    finally:
        s.repo.close()
    said = [(e["subtype"][0]["code"], e.get("outcomeDesc", "")) for e in events]
    assert ("administration", "users add ole.hansen") in said
    assert ("administration", "clients add svc (backend, system/*.rs)") in said
    assert any(code == "token-issue" and "system/*.rs" in text for code, text in said)
