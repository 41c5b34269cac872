"""`lifeline probe account|run`: the node's health probes by hand (issue 23, status/probes.py).

`account` makes (or renews) the synthetic probe's staff login on this node; set
LIFELINE_PROBE_USER to its name and the running node logs in with it every LIFELINE_PROBE_SECONDS.
`run` runs the probes once and prints what each found — the database, failed logins, the clock,
and (with a probe account) a real login, read and search at the node's front door — without
opening an incident: for an operator asking whether it is the node or the probe.
"""

from __future__ import annotations

import typer
from rich.table import Table

from lifeline.cli.common import DB_OPTION, as_operator, clear_errors, close_service, open_service, settings
from lifeline.cli.incidents import _render
from lifeline.clock import epoch_clock
from lifeline.fhir.acting import Exchanged
from lifeline.status import probes, synthetic
from lifeline.web.watching import front_door

probe_app = typer.Typer(help="The node's health probes and its synthetic probe account.", no_args_is_help=True)


@probe_app.command("account")
@clear_errors
def probe_account(
    username: str = typer.Option("", "--user", help="The probe's login name (default: probe-<node id>)"),
    db: str = DB_OPTION,
) -> None:
    """Make or renew the synthetic probe's staff login on this node (no patient in its care)."""
    service = open_service(settings(db=db))
    try:
        name = username or synthetic.default_user(service.settings.node_id)
        operator = as_operator(service)

        def exchange() -> Exchanged:
            made = synthetic.make_account(operator, service.repo, service.identity.kek, name)
            return Exchanged(made, resources=[f"Practitioner/{made}"], query=f"probe account {name}")

        operator.exchange("probe-account", exchange)
    finally:
        close_service(service)
    typer.echo(f"probe account {name} ready; set LIFELINE_PROBE_USER={name} on this node")


@probe_app.command("run")
@clear_errors
def probe_run(
    url: str = typer.Option("", "--url", help="The node's front door for the synthetic probe (default: its own)"),
    db: str = DB_OPTION,
) -> None:
    """Run the probes once and print what each found; exit status 1 if any failed."""
    config = settings(db=db)
    service = open_service(config)
    try:
        checks = [
            probes.database(service.repo),
            probes.login_failures(service.repo, config.node_id, config.login_failures_alarm, service.clock),
            probes.clock(service.identity.skew, config.clock_skew_seconds),
        ]
        if config.probe_user:
            user, kek = config.probe_user, service.identity.kek

            def account() -> synthetic.Credentials | None:
                return synthetic.credentials(service.repo, kek, user, epoch_clock())

            checks.append(synthetic.SyntheticProbe(url or front_door(config), account))
        found = [finding for check in checks for finding in check()]
    finally:
        close_service(service)
    table = Table(title=f"Health probes of {config.node_id}")
    for column in ("probe", "result", "found"):
        table.add_column(column)
    for finding in found:
        table.add_row(finding.key, "ok" if finding.ok else "FAILED", finding.detail)
    typer.echo(_render(table))
    if not all(finding.ok for finding in found):
        raise typer.Exit(1)
