"""`lifeline incidents open|update|resolve|list`: the operators' side of the status page (issue 23).

Incidents are this node's own (status/incidents.py): run the command on the node whose /status
should tell of it. Every change is an operator action through the core's audited entry
(`as_operator(...).exchange`), so who opened, updated or resolved what is on the audit trail;
bad input is one line and exit status 1, with nothing written.
"""

from __future__ import annotations

from collections.abc import Callable

import typer
from rich.table import Table

from lifeline.cli.common import DB_OPTION, as_operator, clear_errors, close_service, console, open_service, settings
from lifeline.fhir.acting import Exchanged
from lifeline.fhir.service import FhirService
from lifeline.identity.sites import list_sites
from lifeline.status import incidents
from lifeline.status.components import check_components

incidents_app = typer.Typer(help="Incidents shown on this node's /status page.", no_args_is_help=True)
ETA_HELP = "Expected restoration time, ISO 8601 (e.g. 2026-12-06T14:30+01:00; UTC without a zone), or none"


def _run(db: str | None, name: str, work: Callable[[FhirService, str], incidents.Incident]) -> incidents.Incident:
    service = open_service(settings(db=db))
    try:
        operator = as_operator(service)
        author = operator.principal.subject if operator.principal is not None else "operator"

        def exchange() -> Exchanged:
            done = work(service, author)
            return Exchanged(done, query=f"incident {done.id}: {done.status}, {done.impact}: {done.title}")

        found: incidents.Incident = operator.exchange(name, exchange)
        return found
    finally:
        close_service(service)


@incidents_app.command("open")
@clear_errors
def incidents_open(
    title: str = typer.Option(..., "--title", help="What staff and patients notice, in plain words"),
    impact: str = typer.Option(..., "--impact", help="none, minor, major or critical"),
    component: list[str] = typer.Option(..., "--component", help="An affected component (repeat for more)"),
    text: str = typer.Option("", "--text", help="The first update (default: the title)"),
    eta: str | None = typer.Option(None, "--eta", help=ETA_HELP),
    db: str = DB_OPTION,
) -> None:
    """Open an incident (status: investigating)."""
    incidents.check_impact(impact)
    expected = incidents.parse_eta(eta)

    def work(service: FhirService, author: str) -> incidents.Incident:
        sites = [s.site_id for s in list_sites(service.repo) if s.active]
        named = check_components(component, service.settings.role, sites)
        return incidents.open_incident(
            service.repo, title=title, impact=impact, components=named, text=text, author=author,
            expected_back=expected, clock=service.clock,
        )  # fmt: skip

    found = _run(db, "incident-open", work)
    console.print(f"opened incident {found.id}")
    print(found.id)


@incidents_app.command("update")
@clear_errors
def incidents_update(
    incident_id: str = typer.Argument(..., help="The incident's id (see `lifeline incidents list`)"),
    status: str = typer.Option(..., "--status", help="investigating, identified, monitoring or resolved"),
    text: str = typer.Option(..., "--text", help="What is known now, in plain words"),
    eta: str | None = typer.Option(None, "--eta", help=ETA_HELP),
    db: str = DB_OPTION,
) -> None:
    """Add an update to an open incident's timeline."""
    incidents.check_status(status)
    expected: str | None | bool = False if eta is None else incidents.parse_eta(eta)

    def work(service: FhirService, author: str) -> incidents.Incident:
        return incidents.update_incident(
            service.repo, incident_id, status=status, text=text, author=author, expected_back=expected,
            clock=service.clock,
        )  # fmt: skip

    found = _run(db, "incident-update", work)
    console.print(f"incident {found.id}: {found.status}")


@incidents_app.command("resolve")
@clear_errors
def incidents_resolve(
    incident_id: str = typer.Argument(..., help="The incident's id"),
    text: str = typer.Option(..., "--text", help="What was wrong and that it is over, in plain words"),
    db: str = DB_OPTION,
) -> None:
    """Resolve an incident: it moves to the history, with its duration."""

    def work(service: FhirService, author: str) -> incidents.Incident:
        return incidents.update_incident(
            service.repo, incident_id, status="resolved", text=text, author=author, clock=service.clock
        )

    found = _run(db, "incident-resolve", work)
    console.print(f"incident {found.id} resolved")


@incidents_app.command("list")
@clear_errors
def incidents_list(
    every: bool = typer.Option(False, "--all", help="Resolved incidents too (the latest 1000)"),
    db: str = DB_OPTION,
) -> None:
    """This node's open incidents (and, with --all, the resolved ones)."""
    service = open_service(settings(db=db))
    try:
        with service.repo.reading() as session:
            found = incidents.open_incidents(session)
            if every:
                found += incidents.resolved_incidents(session, "", 1000)
    finally:
        close_service(service)
    table = Table(title="Incidents")
    for column in ("id", "title", "impact", "status", "components", "began", "resolved", "expected back"):
        table.add_column(column)
    for each in found:
        table.add_row(
            each.id, each.title, each.impact, each.status, " ".join(each.components), each.began,
            each.resolved_at or "", each.expected_back or ("" if each.resolved_at else "not known"),
        )  # fmt: skip
    typer.echo(_render(table))


def _render(table: Table) -> str:
    from rich.console import Console

    out = Console(width=200, record=True)
    with out.capture() as captured:
        out.print(table)
    return captured.get()
