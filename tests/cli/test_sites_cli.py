"""`lifeline sites add|list|revoke` on the centre, and the settings of `serve --role site`: every
mistake is one clear line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lifeline.cli.main import app
from lifeline.config import SettingError, from_environment
from lifeline.identity import sites
from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository
from tests.conftest import BACKENDS, database_url, dispose

KEK = new_kek()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    url = database_url(request.param, tmp_path)
    repo = open_repository(url)
    repo.migrate()
    yield url
    dispose(repo)


def lifeline(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(app, list(args), env={"LIFELINE_KEK": KEK})
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def test_add_list_and_revoke_a_site(db: str) -> None:
    out = lifeline("sites", "add", "herlev", "--url", "https://herlev.example/", "--db", db)
    credential = out.strip().splitlines()[-1]
    assert credential.startswith("herlev.")
    repo = open_repository(db)
    try:
        assert sites.authenticate(repo, f"Bearer {credential}").site_id == "herlev"
        assert sites.site_issuers(repo) == {"https://herlev.example"}
    finally:
        repo.close()
    lifeline("sites", "add", "holbaek", "--url", "https://holbaek.example", "--scope", "hospital",
             "--organization", "org-holbaek", "--db", db)  # fmt: skip
    listed = lifeline("sites", "list", "--db", db)
    assert "herlev" in listed and "holbaek" in listed and "org-holbaek" in listed
    assert "revoked" in lifeline("sites", "revoke", "herlev", "--db", db)
    repo = open_repository(db)
    try:
        assert "herlev" in sites.revoked_sites(repo)
        assert sites.site_issuers(repo) == {"https://holbaek.example"}
    finally:
        repo.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sites", "add", "Herlev!", "--url", "https://x.example"], "site id"),
        (["sites", "add", "herlev", "--url", "ftp://x.example"], "http"),
        (["sites", "add", "herlev", "--url", "https://x.example", "--scope", "county"], "region or hospital"),
        (["sites", "add", "herlev", "--url", "https://x.example", "--scope", "hospital"], "Organization"),
        (["sites", "revoke", "nowhere"], "no site"),
    ],
)
def test_mistakes_are_one_clear_line(db: str, args: list[str], message: str) -> None:
    out = lifeline(*args, "--db", db, ok=False)
    assert out.startswith("lifeline: error:") and message in out, out
    assert len(out.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"LIFELINE_ROLE": "hub"}, "central or site"),
        ({"LIFELINE_ROLE": "site", "LIFELINE_NODE_ID": "herlev"}, "centre's URL"),
        (
            {"LIFELINE_ROLE": "site", "LIFELINE_NODE_ID": "herlev", "LIFELINE_CENTRAL": "http://c.example"},
            "credential",
        ),
        (
            {
                "LIFELINE_ROLE": "site",
                "LIFELINE_NODE_ID": "herlev",
                "LIFELINE_CENTRAL": "http://c.example",
                "LIFELINE_SITE_CREDENTIAL": "roskilde.secret",
            },
            "issued for",
        ),
        ({"LIFELINE_REPLICATION_POLL_MS": "0"}, "at least 1"),
    ],
)
def test_site_settings_are_checked(environment: dict[str, str], message: str) -> None:
    with pytest.raises(SettingError, match=message):
        from_environment(environment)


def test_a_site_serves_one_process() -> None:
    result = CliRunner().invoke(
        app,
        ["serve", "--role", "site", "--site-id", "herlev", "--central", "http://c.example", "--workers", "2"],
        env={"LIFELINE_SITE_CREDENTIAL": "herlev.secret", "LIFELINE_KEK": KEK},
    )
    assert result.exit_code == 1 and "one server process" in result.output, result.output
