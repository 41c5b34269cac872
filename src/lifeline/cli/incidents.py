"""`lifeline incidents open|update|resolve|list|affected`: the operators' side of the status page
(issue 23).

Incidents are this node's own (status/incidents.py): run the command on the node whose /status
should tell of it. Every change is an operator action through the core's audited entry
(`as_operator(...).exchange`), so who opened, updated or resolved what is on the audit trail;
bad input is one line and exit status 1, with nothing written. `affected` counts, from the audit
trail, who could not log in or was refused during an incident (status/affected.py): numbers only.
"""

from __future__ import annotations

from collections.abc import Callable

import typer
from rich.table import Table

from lifeline.cli.common import DB_OPTION, as_operator, clear_errors, close_service, console, open_service, settings
from lifeline.errors import NotFound
from lifeline.fhir.acting import Exchanged
from lifeline.fhir.service import FhirService
from lifeline.identity.sites import list_sites
from lifeline.status import affected as counting
from lifeline.status import incidents
from lifeline.status.components import check_components, components

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


@incidents_app.command("affected")
@clear_errors
def incidents_affected(
    incident_id: str = typer.Argument(..., help="The incident's id (see `lifeline incidents list`)"),
    limit: int = typer.Option(counting.LIMIT, "--limit", min=1, help="Failed audit records read, at most"),
    db: str = DB_OPTION,
) -> None:
    """Who the incident affects: failed logins and refused requests by hospital, department, role
    and node over its window (counts only, from the audit trail), and the components' states."""
    service = open_service(settings(db=db))
    try:
        operator = as_operator(service)

        def exchange() -> Exchanged:
            found = incidents.get_incident(service.repo, incident_id)
            if found is None:
                raise NotFound(f"no incident {incident_id!r}")
            sites = [s.site_id for s in list_sites(service.repo) if s.active]
            with service.repo.reading() as session:
                current = incidents.open_incidents(session)
            node = {"node": service.settings.node_id, "role": service.settings.role}
            parts = components(node, current, sites)
            counted = counting.affected(service.repo, found, node=node, components=parts, limit=limit)
            return Exchanged((found, counted), query=f"incident {found.id}: who is affected (counts)")

        incident, counted = operator.exchange("incident-affected", exchange)
    finally:
        close_service(service)
    typer.echo(_affected_text(incident, counted))


def _affected_text(incident: incidents.Incident, counted: counting.Affected) -> str:
    until = counted.until or "now"
    lines = [
        f"incident {incident.id}: {incident.title} ({incident.status}, {incident.impact}), {counted.since} to {until}"
    ]
    for what, tally in (
        ("could not log in", counted.logins),
        ("were refused or failed by the record", counted.requests),
    ):
        at_least = "at least " if tally.lower_bound else ""
        lines.append(f"{at_least}{tally.staff} staff {what} ({at_least}{_attempts(tally.attempts)})")
        if tally.unknown:
            lines.append(f"  and {_attempts(tally.unknown)} under a name no staff login has")
        if tally.patient_attempts:
            lines.append(f"  and {tally.patients} patients ({_attempts(tally.patient_attempts)})")
    if not counted.indexed:
        lines.append("the audit index could not catch up: the counts are lower bounds")
    if counted.continuity:
        lines.append(f"working on their own (continuity): {', '.join(counted.continuity)}")
    down = [f"{c.key} {c.status}" for c in counted.components if c.status != "operational"]
    lines.append("components: " + ("; ".join(down) if down else "all operational"))
    named = (("Failed logins", counted.logins), ("Refused or failed requests", counted.requests))
    tables = [_render(_groups(title, tally)) for title, tally in named if tally.groups]
    return "\n".join([*lines, *tables])


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def _groups(title: str, tally: counting.Tally) -> Table:
    table = Table(title=title)
    for column in ("hospital", "department", "role", "node", "staff", "attempts"):
        table.add_column(column, justify="right" if column in ("staff", "attempts") else "left")
    for group in tally.groups:
        table.add_row(
            group.hospital or "not known", group.department or "not known", group.role or "not known", group.node,
            str(group.staff), str(group.attempts),
        )  # fmt: skip
    return table
