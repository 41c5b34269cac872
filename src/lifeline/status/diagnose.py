"""`lifeline diagnose`: one archive for the people finding an outage's cause (issue 23).

It holds, for a window of time: this node's JSON log lines (telemetry.py; the rotated files too),
its status and metrics, its incidents that overlap the window with their timelines, and the public
`/status.json` and `/metrics` of every other node it can reach (the nodes named, the sites
registered at the centre, a site's centre, and this node's own server). A node that does not
answer is written in the manifest, not raised: in an outage that is a finding.

No patient data goes in. The log lines carry no query string, form or body (web/request_id.py);
a CPR-shaped number that an error message may have quoted is masked all the same, and counted in
the manifest. Status, metrics and incidents are what the public status page shows.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import re
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from lifeline import jsontext
from lifeline.errors import BadRequest
from lifeline.status.incidents import Incident, open_incidents, resolved_incidents
from lifeline.storage.repository import Repository

LOG_FILE = "lifeline.jsonl"  # telemetry.LOG_FILE (telemetry sits in a layer of its own)
NODE_TIMEOUT_SECONDS = 3.0
_CPR = re.compile(rb"(?<![0-9A-Za-z])[0-3][0-9][01][0-9]{3}-?[0-9]{4}(?![0-9A-Za-z])")
_TIME_PREFIX = b'{"time":"'
_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class BadWindow(BadRequest):
    """--since or --until is no time, or the window is empty."""


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    def bounds(self) -> tuple[str, str]:
        """The window as log times compare (UTC, ISO 8601, milliseconds, `Z`)."""
        return _log_time(self.since), _log_time(self.until)


def parse_moment(text: str, option: str, now: datetime) -> datetime:
    """A date-time in ISO 8601 (UTC when it names no zone), a date (its midnight, UTC), or `now`."""
    cleaned = text.strip()
    if cleaned.lower() == "now":
        return now
    try:
        moment = datetime.fromisoformat(cleaned.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadWindow(f"{option} {text!r} is not a date-time (e.g. 2026-12-06T14:30, UTC without a zone)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def window_of(since: str, until: str | None, now: datetime) -> Window:
    start = parse_moment(since, "--since", now)
    end = parse_moment(until, "--until", now) if until is not None else now
    if start >= end:
        raise BadWindow(f"--since ({_log_time(start)}) must be before --until ({_log_time(end)})")
    return Window(start, end)


def _log_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- This node's log ------------------------------------------------------------------------


@dataclass
class LogExtract:
    files: list[str] = field(default_factory=list)
    lines: int = 0
    unreadable: int = 0  # lines that were not JSON with a time
    masked: int = 0  # CPR-shaped numbers masked
    note: str | None = None


def log_files(folder: Path) -> list[Path]:
    """The log and its rotated files (`lifeline.jsonl.1`, `lifeline.jsonl.2.gz`, dated ones), oldest first."""
    found = [path for path in folder.glob(LOG_FILE + "*") if path.is_file()]
    return sorted(found, key=lambda path: (path.stat().st_mtime, path.name))


def _lines_of(path: Path) -> Iterator[bytes]:
    opened = gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")
    with opened as stream:
        yield from stream


def _time_of(line: bytes) -> str | None:
    if line.startswith(_TIME_PREFIX):  # telemetry.JsonLines writes the time first
        end = line.find(b'"', len(_TIME_PREFIX))
        return line[len(_TIME_PREFIX) : end].decode("ascii", "replace") if end > 0 else None
    try:
        parsed = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    time = parsed.get("time") if isinstance(parsed, dict) else None
    return time if isinstance(time, str) else None


def log_lines(folder: Path, window: Window, extract: LogExtract) -> bytes:
    """The lines of the log files in `folder` whose time lies within `window`, in time order."""
    since, until = window.bounds()
    kept: list[tuple[str, bytes]] = []
    for path in log_files(folder):
        extract.files.append(path.name)
        for raw in _lines_of(path):
            line = raw.rstrip(b"\r\n")
            if not line:
                continue
            time = _time_of(line)
            if time is None:
                extract.unreadable += 1
            elif since <= time <= until:
                line, masked = _CPR.subn(b"[masked]", line)
                extract.masked += masked
                kept.append((time, line))
    kept.sort(key=lambda pair: pair[0])
    extract.lines = len(kept)
    return b"".join(line + b"\n" for _, line in kept)


# --- Incidents ------------------------------------------------------------------------------


def incidents_within(repo: Repository, window: Window) -> list[Incident]:
    """This node's incidents that were open at some moment of `window`, with their timelines."""
    since, until = (_incident_time(moment) for moment in (window.since, window.until))
    with repo.reading() as session:
        found = open_incidents(session) + resolved_incidents(session, since, 1000)
    return sorted((i for i in found if i.began <= until), key=lambda i: i.began)


def _incident_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # status/incidents.instant


# --- Other nodes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    name: str  # its folder in the archive
    url: str  # base URL, without /fhir
    why: str  # named on the command line, a registered site, the centre, this node's server


@dataclass
class NodeAnswer:
    node: Node
    files: dict[str, bytes] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)  # path -> what went wrong


def node_name(url: str) -> str:
    parts = urlsplit(url)
    return _NAME.sub("_", parts.netloc or url).strip("_") or "node"


def ask_node(node: Node, client: httpx.Client) -> NodeAnswer:
    """A node's public /status.json and /metrics; what fails is noted, never raised."""
    answer = NodeAnswer(node)
    for path, name in (("/status.json", "status.json"), ("/metrics", "metrics.txt")):
        try:
            response = client.get(node.url.rstrip("/") + path)
        except httpx.HTTPError as error:
            answer.unreachable[path] = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            continue
        if response.status_code != 200:
            answer.unreachable[path] = f"answered {response.status_code}"
        else:
            answer.files[name] = response.content
    return answer


# --- The archive ----------------------------------------------------------------------------


@dataclass
class Diagnosis:
    """What went into an archive, and what could not."""

    path: Path
    manifest: dict[str, Any]


def gather(
    *,
    out: Path,
    window: Window,
    node_id: str,
    role: str,
    status: dict[str, Any],
    metrics: bytes,
    repo: Repository,
    log_dir: str,
    nodes: Sequence[Node],
    now: datetime,
    step: Callable[[str], None] = lambda _: None,
    client: httpx.Client | None = None,
) -> Diagnosis:
    """Write the archive to `out` (a .tar.gz). `status` and `metrics` are this node's, as the
    command computed them (replication/status.py); `step` is told each part as it starts."""
    root = f"lifeline-diagnose-{node_name(node_id)}-{now.strftime('%Y%m%dT%H%M%SZ')}"
    files: dict[str, bytes] = {}

    step("this node's log")
    extract = LogExtract()
    if not log_dir:
        extract.note = "no log folder is set on this node (LIFELINE_LOG_DIR is empty)"
    elif not Path(log_dir).is_dir():
        extract.note = f"the log folder {log_dir} does not exist"
    else:
        files["this-node/log.jsonl"] = log_lines(Path(log_dir), window, extract)
        if not extract.files:
            extract.note = f"no {LOG_FILE} in {log_dir}"

    step("this node's status and metrics")
    files["this-node/status.json"] = jsontext.dumps(status, option=orjson.OPT_INDENT_2)
    files["this-node/metrics.txt"] = metrics

    step("this node's incidents")
    found = incidents_within(repo, window)
    files["this-node/incidents.json"] = jsontext.dumps(
        [dataclasses.asdict(incident) for incident in found], option=orjson.OPT_INDENT_2
    )

    answers: list[NodeAnswer] = []
    owned = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(NODE_TIMEOUT_SECONDS), follow_redirects=False)
    try:
        for node in nodes:
            step(f"{node.name} ({node.url})")
            answer = ask_node(node, http)
            answers.append(answer)
            for name, content in answer.files.items():
                files[f"nodes/{node.name}/{name}"] = content
    finally:
        if owned:
            http.close()

    step("the archive")
    manifest = _manifest(window, node_id, role, now, extract, found, answers, files)
    files = {"manifest.json": jsontext.dumps(manifest, option=orjson.OPT_INDENT_2), **files}
    _write_archive(out, root, files, now)
    return Diagnosis(out, manifest)


def _manifest(
    window: Window,
    node_id: str,
    role: str,
    now: datetime,
    extract: LogExtract,
    incidents: list[Incident],
    answers: Iterable[NodeAnswer],
    files: dict[str, bytes],
) -> dict[str, Any]:
    since, until = window.bounds()
    return {
        "made": _log_time(now),
        "node": node_id,
        "role": role,
        "window": {"since": since, "until": until},
        "files": sorted(["manifest.json", *files]),
        "log": {
            "files_read": extract.files,
            "lines_in_window": extract.lines,
            "lines_unreadable": extract.unreadable,
            "cpr_shaped_numbers_masked": extract.masked,
            "note": extract.note,
        },
        "status_note": (
            "this-node/status.json and metrics.txt were computed by the command from this node's database;"
            " its server's own live answers (a site's mode, the process's request counts) are under nodes/ when"
            " it answered"
        ),
        "incidents": [incident.id for incident in incidents],
        "nodes": [
            {
                "name": answer.node.name,
                "url": answer.node.url,
                "why": answer.node.why,
                "reached": not answer.unreachable,
                "files": sorted(answer.files),
                "unreachable": answer.unreachable,
            }
            for answer in answers
        ],
        "unreachable": [answer.node.url for answer in answers if answer.unreachable],
    }


def _write_archive(out: Path, root: str, files: dict[str, bytes], now: datetime) -> None:
    """All or nothing: written beside `out`, readable by its owner only, then moved into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        owner_only = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(owner_only, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
            for name, content in files.items():
                info = tarfile.TarInfo(f"{root}/{name}")
                info.size = len(content)
                info.mtime = int(now.timestamp())
                info.mode = 0o600
                archive.addfile(info, io.BytesIO(content))
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
