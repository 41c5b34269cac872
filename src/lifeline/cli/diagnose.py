"""`lifeline diagnose --since T --until T`: gather this node's log, status, metrics and incidents,
and every reachable node's status and metrics, into one archive (status/diagnose.py, issue 23).

Run it on a node, as its operator: the gathering is on the audit trail like any operator action.
A bad --since or --until is one line and exit status 2, with nothing written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lifeline.cli.common import DB_OPTION, as_operator, clear_errors, close_service, console, open_service, settings
from lifeline.clock import system_clock
from lifeline.config import Settings
from lifeline.fhir.acting import Exchanged
from lifeline.fhir.service import FhirService
from lifeline.identity.sites import list_sites
from lifeline.replication.status import metrics_text, node_status
from lifeline.status import diagnose as logic

TIME_HELP = "ISO 8601 date-time (UTC without a zone), a date, or now"


def nodes_to_ask(service: FhirService, named: list[str]) -> list[logic.Node]:
    """The nodes named, this node's own server, a site's centre and the centre's active sites."""
    config = service.settings
    found: list[logic.Node] = []
    for url in named:
        if not url.startswith(("http://", "https://")):
            raise logic.BadWindow(f"--node {url!r} is not a URL (http://... or https://...)")
        found.append(logic.Node(logic.node_name(url), url.rstrip("/"), "named on the command line"))
    found.append(logic.Node("self", _own_url(config), "this node's own server"))
    if config.role == "site" and config.central:
        found.append(logic.Node("central", config.central.rstrip("/"), "this site's centre"))
    if config.role == "central":
        for site in list_sites(service.repo):
            if site.active and site.url:
                found.append(logic.Node(logic.node_name(site.site_id), site.url, "a site registered here"))
    unique: dict[str, logic.Node] = {}
    for node in found:
        unique.setdefault(node.url, node)
    return list(unique.values())


def this_node_status(service: FhirService) -> dict[str, Any]:
    """This node's status as the command can know it from the database. A site's mode, position
    and lag live in its server process (replication/site.py), so they are left unknown here: its
    own server's answer (nodes/self) holds them."""
    status = node_status(service, None)
    if service.settings.role == "site":
        with service.repo.reading() as session:
            pending = session.outbox_size()
        status.update(
            mode="unknown", position=None, lagSeconds=None, pendingLocalChanges=pending,
            centralLastReached=None, centralUnreachableSince=None,
        )  # fmt: skip
    return status


def _own_url(config: Settings) -> str:
    if config.base_url:
        return config.base_url.rstrip("/").removesuffix("/fhir")
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    return f"http://{host}:{config.port}"


@clear_errors
def diagnose(
    since: str = typer.Option(..., "--since", help=f"Start of the window: {TIME_HELP}"),
    until: str = typer.Option("now", "--until", help=f"End of the window: {TIME_HELP}"),
    out: Path = typer.Option(None, "--out", help="The archive to write (default: lifeline-diagnose-NODE-TIME.tar.gz)"),
    node: list[str] = typer.Option([], "--node", help="Another node's base URL to ask (repeat for more)"),
    db: str = DB_OPTION,
) -> None:
    """Gather logs, metrics, status and incidents of every reachable node into one .tar.gz."""
    config = settings(db=db)
    now = system_clock()
    try:
        window = logic.window_of(since, until, now)
    except logic.BadWindow as error:
        print(f"lifeline: error: {error.message}", file=sys.stderr)
        raise typer.Exit(2) from None
    service = open_service(config)
    try:
        try:
            nodes = nodes_to_ask(service, node)
        except logic.BadWindow as error:
            print(f"lifeline: error: {error.message}", file=sys.stderr)
            raise typer.Exit(2) from None
        target = out or Path(f"lifeline-diagnose-{logic.node_name(config.node_id)}-{now:%Y%m%dT%H%M%SZ}.tar.gz")
        status = this_node_status(service)
        metrics = metrics_text(status)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("gathering", total=4 + len(nodes))
            started = False

            def step(what: str) -> None:
                nonlocal started
                if started:
                    progress.advance(task)
                started = True
                progress.update(task, description=f"gathering {what}")

            def exchange() -> Exchanged:
                done = logic.gather(
                    out=target, window=window, node_id=config.node_id, role=config.role, status=status,
                    metrics=metrics, repo=service.repo, log_dir=config.log_dir, nodes=nodes, now=now, step=step,
                )  # fmt: skip
                since_, until_ = window.bounds()
                return Exchanged(done, query=f"diagnosis archive {target.name}: {since_} to {until_}")

            done: logic.Diagnosis = as_operator(service).exchange("diagnose", exchange)
            progress.advance(task)
    finally:
        close_service(service)
    manifest = done.manifest
    console.print(
        f"{manifest['log']['lines_in_window']} log lines, {len(manifest['incidents'])} incidents,"
        f" {len(manifest['nodes']) - len(manifest['unreachable'])} of {len(manifest['nodes'])} nodes reached"
    )
    for unreachable in manifest["unreachable"]:
        console.print(f"[yellow]not reached:[/yellow] {unreachable}")
    if manifest["log"]["note"]:
        console.print(f"[yellow]log:[/yellow] {manifest['log']['note']}")
    print(done.path)
