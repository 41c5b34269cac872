"""A site's calls to the centre carry an X-Request-ID that both logs write: the site's line for the
call and the centre's line for the request join on it (a real centre on loopback, a real site)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lifeline import telemetry
from lifeline.config import Settings
from tests.conftest import BACKENDS
from tests.replication.nodes import CentralNode, SiteNode, wait_until


@pytest.fixture(params=BACKENDS)
def central(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CentralNode]:
    node = CentralNode(str(request.param), tmp_path / "central")
    node.start()
    yield node
    node.close()


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    # One process holds both nodes here: the centre's request lines name it (`node`), the site's
    # calls take the process's node, as they would on the site's own machine.
    # At DEBUG: a poll that goes well is a DEBUG line on both sides (LIFELINE_LOG_LEVEL=debug).
    path = telemetry.configure_logging(Settings(log_dir=str(tmp_path / "log"), node_id="herlev", log_level="debug"))
    assert path is not None
    yield path
    telemetry.stop_logging()


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def joined(path: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(site's call, centre's request) pairs with the same request id."""
    found = lines(path)
    # A poll round's calls share the round's id (replication/site.py): joined by id and path.
    calls = {
        (line["request_id"], line["path"]): line
        for line in found
        if line["logger"] == "lifeline.replication.central" and line["node"] == "herlev"
    }
    return [
        (calls[(line["request_id"], line["path"])], line)
        for line in found
        if line["logger"] == "lifeline.request"
        and line["node"] == "central"
        and (line["request_id"], line["path"]) in calls
    ]


def test_a_site_poll_is_found_in_the_centres_log(central: CentralNode, tmp_path: Path, log_file: Path) -> None:
    site = SiteNode(central, "herlev", "sqlite", tmp_path / "herlev")
    try:
        wait_until(lambda: any(c["path"] == "/replication/changes" for c, _ in joined(log_file)), what="a joined poll")
    finally:
        site.close()
    call, request = next((c, r) for c, r in joined(log_file) if c["path"] == "/replication/changes")
    assert request["path"] == "/replication/changes" and request["route_class"] == "replication"
    assert call["status"] == request["status"] == 200 and call["method"] == request["method"] == "GET"
    assert telemetry.sane_request_id(call["request_id"]) == call["request_id"]
    # One poll round, one id: the round's calls (feed, audit, ...) share it.
    paths_by_id: dict[str, set[str]] = {}
    for each, _ in joined(log_file):
        paths_by_id.setdefault(each["request_id"], set()).add(each["path"])
    assert any(len(paths) > 1 for paths in paths_by_id.values()), paths_by_id
    # The feed position is a query string: neither log writes it.
    assert "after=" not in log_file.read_text("utf-8")


def test_a_call_made_within_a_request_carries_that_requests_id(
    central: CentralNode, tmp_path: Path, log_file: Path
) -> None:
    site = SiteNode(central, "herlev", "sqlite", tmp_path / "herlev", client=False)
    try:
        assert site.node is not None
        with telemetry.correlated("ward-write-1"):
            site.node.client.changes(0, 1)
    finally:
        site.node.client.close()  # no replication loop here to close it
        site.close()
    pairs = [(c, r) for c, r in joined(log_file) if c["request_id"] == "ward-write-1"]
    assert len(pairs) == 1 and pairs[0][1]["path"] == "/replication/changes"
