"""status/diagnose.py, a real run: the log lines of the window only (the rotated files too), the
node's status and metrics, the incidents that overlap the window with their timelines, a real
centre's /status.json and /metrics over HTTP, and a node that does not answer noted."""

from __future__ import annotations

import gzip
import logging
import os
import stat
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from lifeline import telemetry
from lifeline.errors import BadRequest
from lifeline.replication.status import metrics_text, node_status
from lifeline.status import diagnose, incidents
from tests.conftest import BACKENDS
from tests.replication.nodes import CentralNode, free_port

SINCE, UNTIL = datetime(2026, 12, 6, 8, 0, tzinfo=UTC), datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def central(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CentralNode]:
    node = CentralNode(str(request.param), tmp_path / "central")
    node.start()
    yield node
    node.close()


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, 6, hour, minute, tzinfo=UTC)


def line(moment: datetime, message: str, request_id: str | None = None) -> str:
    """A log line as the node writes it (telemetry.JsonLines), at `moment`."""
    record = logging.LogRecord("lifeline.request", logging.INFO, __file__, 1, message, (), None)
    record.created = moment.timestamp()
    with telemetry.correlated(request_id):
        return telemetry.JsonLines("central").format(record)


def write_logs(folder: Path) -> None:
    folder.mkdir()
    with gzip.open(folder / "lifeline.jsonl.2.gz", "wt") as old:
        old.write(line(at(7), "before the window, rotated and compressed") + "\n")
        old.write(line(at(8, 5), "in the window, rotated and compressed", "r-1") + "\n")
    (folder / "lifeline.jsonl.1").write_text(
        line(at(6), "long before") + "\n" + line(at(9, 30), "in the window, rotated", "r-3") + "\n"
    )
    (folder / "lifeline.jsonl").write_text(
        "\n".join(
            [
                line(at(8, 45), "in the window, an error quoting 010170-1234", "r-2"),
                "not json at all",
                line(at(10, 30), "after the window"),
                line(at(9, 59), "in the window, last", "r-4"),
            ]
        )
        + "\n"
    )
    # The order the files are read in: oldest first.
    for age, name in enumerate(("lifeline.jsonl", "lifeline.jsonl.1", "lifeline.jsonl.2.gz")):
        stamp = NOW.timestamp() - age * 3600
        os.utime(folder / name, (stamp, stamp))


def open_at(central: CentralNode, began: datetime, title: str, resolved: datetime | None = None) -> str:
    found = incidents.open_incident(
        central.repo, title=title, impact="major", components=["record"], text=title, author="operator:tests",
        clock=lambda: began,
    )  # fmt: skip
    if resolved is not None:
        incidents.update_incident(
            central.repo, found.id, status="resolved", text="over", author="operator:tests", clock=lambda: resolved
        )
    return found.id


def read_archive(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as archive:
        members = archive.getmembers()
        roots = {member.name.split("/", 1)[0] for member in members}
        assert len(roots) == 1
        return {
            member.name.split("/", 1)[1]: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in members
        }


def test_a_real_run(central: CentralNode, tmp_path: Path) -> None:
    write_logs(tmp_path / "log")
    open_at(central, at(6), "over before the window", resolved=at(7))
    during = open_at(central, at(7, 30), "resolved within the window", resolved=at(8, 30))
    still = open_at(central, at(9), "open through the window")
    open_at(central, at(11), "began after the window")
    gone = f"http://127.0.0.1:{free_port()}"
    nodes = [diagnose.Node("centre", central.url, "named"), diagnose.Node("gone", gone, "named")]
    status = node_status(central.service, None)
    steps: list[str] = []

    done = diagnose.gather(
        out=tmp_path / "out" / "diagnosis.tar.gz", window=diagnose.Window(SINCE, UNTIL), node_id="central",
        role="central", status=status, metrics=metrics_text(status), repo=central.repo, log_dir=str(tmp_path / "log"),
        nodes=nodes, now=NOW, step=steps.append,
    )  # fmt: skip

    files = read_archive(done.path)
    manifest: dict[str, Any] = orjson.loads(files["manifest.json"])
    assert manifest == done.manifest
    assert sorted(files) == manifest["files"] == sorted(
        [
            "manifest.json", "this-node/log.jsonl", "this-node/status.json", "this-node/metrics.txt",
            "this-node/incidents.json", "nodes/centre/status.json", "nodes/centre/metrics.txt",
        ]
    )  # fmt: skip
    assert manifest["window"] == {"since": "2026-12-06T08:00:00.000Z", "until": "2026-12-06T10:00:00.000Z"}
    # The log: the window's lines only, from every file, in time order; a CPR-shaped number masked.
    logged = [orjson.loads(each) for each in files["this-node/log.jsonl"].splitlines()]
    assert [each["request_id"] for each in logged] == ["r-1", "r-2", "r-3", "r-4"]
    assert logged[1]["message"] == "in the window, an error quoting [masked]"
    assert b"010170-1234" not in b"".join(files.values())
    assert manifest["log"]["lines_in_window"] == 4 and manifest["log"]["lines_unreadable"] == 1
    assert manifest["log"]["cpr_shaped_numbers_masked"] == 1
    assert manifest["log"]["files_read"] == ["lifeline.jsonl.2.gz", "lifeline.jsonl.1", "lifeline.jsonl"]
    # Status, metrics, incidents with their timelines.
    assert orjson.loads(files["this-node/status.json"])["node"] == "central"
    assert b"lifeline_open_conflicts" in files["this-node/metrics.txt"]
    found = orjson.loads(files["this-node/incidents.json"])
    assert [each["id"] for each in found] == manifest["incidents"] == [during, still]
    assert [update["status"] for update in found[0]["updates"]] == ["investigating", "resolved"]
    assert found[1]["status"] == "investigating" and found[1]["resolved_at"] is None
    # The nodes: the centre answered over HTTP, the other is noted as not reached.
    assert orjson.loads(files["nodes/centre/status.json"])["role"] == "central"
    assert b"lifeline_http_requests_total" in files["nodes/centre/metrics.txt"]
    reached, missing = manifest["nodes"]
    assert reached["reached"] and reached["files"] == ["metrics.txt", "status.json"]
    assert not missing["reached"] and missing["url"] == gone
    assert set(missing["unreachable"]) == {"/status.json", "/metrics"}
    assert manifest["unreachable"] == [gone]
    assert len(steps) == 4 + len(nodes) and steps[-1] == "the archive"
    assert not list((tmp_path / "out").glob("*.partial"))
    assert stat.S_IMODE(done.path.stat().st_mode) == 0o600  # its owner's only


def test_no_log_folder_is_noted_not_fatal(central: CentralNode, tmp_path: Path) -> None:
    status = node_status(central.service, None)
    done = diagnose.gather(
        out=tmp_path / "d.tar.gz", window=diagnose.Window(SINCE, UNTIL), node_id="central", role="central",
        status=status, metrics=b"", repo=central.repo, log_dir="", nodes=[], now=NOW,
    )  # fmt: skip
    assert "no log folder" in done.manifest["log"]["note"]
    assert "this-node/log.jsonl" not in read_archive(done.path)


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("yesterday", None, "--since 'yesterday' is not a date-time"),
        ("2026-12-06T08:00", "soon", "--until 'soon' is not a date-time"),
        ("2026-12-06T10:00", "2026-12-06T08:00", "must be before --until"),
        ("2026-12-06T12:00", None, "must be before --until"),
    ],
)
def test_a_bad_window_is_one_clear_error(since: str, until: str | None, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        diagnose.window_of(since, until, NOW)


def test_window_forms() -> None:
    assert diagnose.window_of("2026-12-06", "now", NOW) == diagnose.Window(at(0), NOW)
    assert diagnose.window_of("2026-12-06T09:00+01:00", None, NOW).since == at(8)
    assert diagnose.window_of("2026-12-06T08:00Z", "2026-12-06T09:00:00.5", NOW).until.microsecond == 500000
