"""`lifeline diagnose`: an archive made through the real command, on the audit trail as the
operator's action; a bad window is one line and exit status 2, with nothing written."""

from __future__ import annotations

import base64
import tarfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from lifeline.audit.store import events_after
from lifeline.cli.main import app
from lifeline.identity.keys import new_kek
from lifeline.identity.sites import add_site
from lifeline.storage import open_repository
from tests.conftest import BACKENDS, database_url, dispose
from tests.replication.nodes import free_port

KEK = new_kek()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = database_url(request.param, tmp_path)
    repo = open_repository(url)
    repo.migrate()
    add_site(repo, "herlev", f"http://127.0.0.1:{free_port()}")  # registered, not running
    yield url
    dispose(repo)


def run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {"LIFELINE_KEK": KEK, "LIFELINE_LOG_DIR": str(tmp_path / "log"), "LIFELINE_PORT": str(free_port())}
    result = CliRunner().invoke(app, ["diagnose", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "window",
    [
        ["--since", "last tuesday"],
        ["--since", "2026-12-06T08:00", "--until", "noon"],
        ["--since", "2026-12-06T10:00", "--until", "2026-12-06T08:00"],
    ],
)
def test_a_bad_window_is_one_line_and_exit_2(tmp_path: Path, window: list[str]) -> None:
    code, out, err = run(tmp_path, *window, "--out", str(tmp_path / "d.tar.gz"))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("lifeline: error: --")
    assert not (tmp_path / "d.tar.gz").exists()


def test_a_bad_node_url_is_one_line_and_exit_2(tmp_path: Path, db: str) -> None:
    code, _, err = run(tmp_path, "--since", "2026-12-06", "--node", "herlev.example", "--db", db)
    assert code == 2 and err == "lifeline: error: --node 'herlev.example' is not a URL (http://... or https://...)\n"


def test_the_command_makes_the_archive(tmp_path: Path, db: str) -> None:
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "lifeline.jsonl").write_text('{"time":"2030-01-01T00:00:00.000Z","message":"later"}\n')
    gone = f"http://127.0.0.1:{free_port()}"
    target = tmp_path / "diagnosis.tar.gz"
    code, out, err = run(tmp_path, "--since", "2026-01-01", "--node", gone, "--out", str(target), "--db", db)
    assert code == 0, err
    assert out.strip() == str(target)
    assert "0 log lines" in err and "0 of 3 nodes reached" in err and f"not reached: {gone}" in err
    with tarfile.open(target, "r:gz") as archive:
        names = {member.name.split("/", 1)[1]: member for member in archive.getmembers()}
        manifest = orjson.loads(archive.extractfile(names["manifest.json"]).read())  # type: ignore[union-attr]
    assert {"this-node/status.json", "this-node/metrics.txt", "this-node/incidents.json"} <= set(names)
    assert [node["name"] for node in manifest["nodes"]] == ["127.0.0.1_" + gone.rsplit(":", 1)[1], "self", "herlev"]
    assert not any(node["reached"] for node in manifest["nodes"])
    repo = open_repository(db)
    try:
        trail = [row.content for row in events_after(repo, "central", 0, 1_000_000)]
    finally:
        repo.close()
    records = [orjson.loads(content) for content in trail]
    (record,) = [r for r in records if r["subtype"][0]["code"] == "diagnose"]
    assert record["agent"][0]["altId"].startswith("operator:")
    assert b"diagnosis.tar.gz: 2026-01-01T00:00:00.000Z to " in base64.b64decode(record["entity"][0]["query"])


def test_at_a_site_the_centre_is_asked_and_the_mode_left_to_the_server(tmp_path: Path, db: str) -> None:
    centre = f"http://127.0.0.1:{free_port()}"
    target = tmp_path / "site.tar.gz"
    env = {
        "LIFELINE_KEK": KEK, "LIFELINE_LOG_DIR": str(tmp_path / "none"), "LIFELINE_PORT": str(free_port()),
        "LIFELINE_ROLE": "site", "LIFELINE_NODE_ID": "herlev", "LIFELINE_CENTRAL": centre,
        "LIFELINE_SITE_CREDENTIAL": "herlev.x",
    }  # fmt: skip
    result = CliRunner().invoke(app, ["diagnose", "--since", "2026-01-01", "--out", str(target), "--db", db], env=env)
    assert result.exit_code == 0, result.stderr
    with tarfile.open(target, "r:gz") as archive:
        names = {member.name.split("/", 1)[1]: member for member in archive.getmembers()}
        manifest = orjson.loads(archive.extractfile(names["manifest.json"]).read())  # type: ignore[union-attr]
        status = orjson.loads(archive.extractfile(names["this-node/status.json"]).read())  # type: ignore[union-attr]
    assert [(node["name"], node["url"]) for node in manifest["nodes"]][1] == ("central", centre)
    assert manifest["unreachable"][1] == centre and "does not exist" in manifest["log"]["note"]
    assert status["role"] == "site" and status["mode"] == "unknown" and status["pendingLocalChanges"] == 0
