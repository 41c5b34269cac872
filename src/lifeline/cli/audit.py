"""`lifeline audit verify|checkpoint|export|prune`: check the tamper-evident audit trail, sign its
head, ship it to a SIEM, and remove what is older than the retention period.

`verify` reads every node's chain (audit/verify.py) and prints one line per node; when the
trail is broken it exits 1 with one line naming the first bad record. `export` ships what the
SIEM has not had yet (audit/siem.py) and exits 1 with one line when it cannot."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from lifeline.audit import events as audit_events
from lifeline.audit.checkpoint import audit_key_ring, checkpoint
from lifeline.audit.prune import prune
from lifeline.audit.siem import NdjsonSink, SiemError, Sink, SyslogTlsSink, load_cursor, pending, ship
from lifeline.audit.verify import expected_records, verify
from lifeline.cli.common import DB_OPTION, clear_errors, console, open_service, settings
from lifeline.config import SettingError
from lifeline.identity.principal import OPERATOR

audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


class _RecordRate(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} records/s", style="progress.data.speed")


@audit_app.command("verify")
@clear_errors
def audit_verify(db: str = DB_OPTION) -> None:
    """Check every node's hash chain, head and signed checkpoints; name the first bad record."""
    service = open_service(settings(db=db))
    try:
        ring = audit_key_ring(service.repo)
        columns = (TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), _RecordRate(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("verify", total=expected_records(service.repo) or None)
            report = verify(service.repo, ring, on_progress=lambda n: progress.advance(task, n))
    finally:
        service.repo.close()
    for node in report.nodes:
        state = "OK" if node.problem is None else f"BROKEN: {node.problem.line()}"
        print(f"node {node.node_id}: {node.records:,} records checked, {state}", file=sys.stdout)
    problem = report.first_problem
    if problem is not None:
        print(f"lifeline: audit trail broken: {problem.line()}", file=sys.stderr)
        raise typer.Exit(1)
    print(f"audit trail intact: {report.records:,} records on {len(report.nodes)} node(s)", file=sys.stdout)


@audit_app.command("prune")
@clear_errors
def audit_prune(
    before: str = typer.Option(..., "--before", help="Remove records recorded before this date (YYYY-MM-DD)"),
    db: str = DB_OPTION,
) -> None:
    """Remove audit records older than the retention period (LIFELINE_AUDIT_RETENTION_YEARS) and
    anchor each chain where it now begins; never runs on a trail that does not verify."""
    try:
        moment = datetime.fromisoformat(before).replace(tzinfo=UTC)
    except ValueError:
        raise SettingError(f"--before must be a date such as 2014-01-01, not {before!r}") from None
    config = settings(db=db)
    service = open_service(config)
    try:
        removed = prune(service.repo, service.identity, moment, retention_years=config.audit_retention_years)
        audit_events.record(
            service.repo, "administration", user=OPERATOR.subject, client_id=OPERATOR.client_id,
            text=f"audit prune --before {before}", node_id=config.node_id,
        )  # fmt: skip
    finally:
        service.repo.close()
    for node_id, count in removed.items():
        print(f"node {node_id}: {count:,} records before {before} removed", file=sys.stdout)


@audit_app.command("checkpoint")
@clear_errors
def audit_checkpoint(db: str = DB_OPTION) -> None:
    """Sign this node's chain head now (the check that catches a cut-off tail)."""
    service = open_service(settings(db=db))
    try:
        signed = checkpoint(service.repo, service.identity)
    finally:
        service.repo.close()
    if signed is None:
        print(f"nothing to sign: node {service.identity.node_id} has no audit records yet", file=sys.stdout)
        return
    print(f"signed checkpoint of node {signed.node_id} at record {signed.seq} ({signed.hash[:16]}…)", file=sys.stdout)


def _address(text: str) -> tuple[str, int]:
    """HOST:PORT, or [IPv6]:PORT."""
    host, _, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host or not port.isdecimal() or not 0 < int(port) < 65536:
        raise SiemError(f"not a syslog address (HOST:PORT): {text!r}")
    return host, int(port)


@audit_app.command("export")
@clear_errors
def audit_export(
    db: str = DB_OPTION,
    ndjson: Path | None = typer.Option(None, "--ndjson", help="Append records to this NDJSON file"),
    syslog: str | None = typer.Option(None, "--syslog", help="Send to this syslog-over-TLS collector, HOST:PORT"),
    ca: Path | None = typer.Option(None, "--ca", help="CA certificate(s) the collector's certificate must chain to"),
    cert: Path | None = typer.Option(None, "--cert", help="Client certificate (PEM), if the collector asks for one"),
    key: Path | None = typer.Option(None, "--key", help="The client certificate's private key (PEM)"),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for the collector"),
    follow: bool = typer.Option(False, "--follow", help="Keep shipping new records as they come (until Ctrl-C)"),
    every: float = typer.Option(5.0, "--every", help="With --follow: seconds between rounds"),
) -> None:
    """Ship every audit record the SIEM has not had yet, in order, and remember how far it got.
    With --follow it runs as the region's log shipper: a collector that is down is retried each
    round, and nothing is lost or sent twice (the cursor moves only after a delivered batch)."""
    if every <= 0:
        raise SiemError("--every must be a positive number of seconds")
    if (ndjson is None) == (syslog is None):
        raise SiemError("give exactly one of --ndjson FILE or --syslog HOST:PORT")
    sink: Sink
    if syslog is not None:
        host, port = _address(syslog)
        sink = SyslogTlsSink(host, port, ca_file=ca, cert_file=cert, key_file=key, timeout=timeout)
    else:
        assert ndjson is not None
        sink = NdjsonSink(ndjson)
    service = open_service(settings(db=db))
    try:
        columns = (TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), _RecordRate(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("export", total=pending(service.repo, load_cursor(service.repo, sink)) or None)
            shipped = ship(service.repo, sink, on_progress=lambda n: progress.advance(task, n))
        print(f"exported {shipped:,} audit record(s) to {sink.name}", file=sys.stdout)
        while follow:
            time.sleep(every)
            try:
                shipped = ship(service.repo, sink)
            except SiemError as error:
                print(f"lifeline: {sink.name} not reachable, retrying in {every:g} s: {error}", file=sys.stderr)
                continue
            if shipped:
                print(f"exported {shipped:,} more audit record(s) to {sink.name}", file=sys.stdout, flush=True)
    finally:
        sink.close()
        service.repo.close()
