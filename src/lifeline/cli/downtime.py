"""`lifeline downtime export|key|decrypt|pending`: the paper copies a hospital reads when it loses the
record (downtime/, docs/security.md "Downtime reports"). `export` reads as the operator at this
terminal, so the run is on the audit trail under their name; `decrypt` is the command the
downtime PC runs to read one file; `pending` lists the downtime identifiers still to re-enter
(downtime/reentry.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn

from lifeline.cli.common import DB_OPTION, as_operator, clear_errors, close_service, console, open_service, settings
from lifeline.clock import COPENHAGEN
from lifeline.downtime import export as reports
from lifeline.downtime import reentry, vault

downtime_app = typer.Typer(help="Downtime reports on paper: census, medication, clinics.", no_args_is_help=True)


@downtime_app.command("export")
@clear_errors
def downtime_export(
    ward: list[str] = typer.Option([], "--ward", help="A ward's Location id (repeat for more)"),
    clinic: list[str] = typer.Option([], "--clinic", help="A clinic's Location id (repeat for more)"),
    everything: bool = typer.Option(False, "--all", help="Every ward, clinic and theatre in the record"),
    out: Path = typer.Option(None, "--dir", help="Folder [env LIFELINE_DOWNTIME_DIR, default var/downtime]"),
    db: str = DB_OPTION,
    theatre: list[str] = typer.Option([], "--theatre", help="An operating theatre's Location id (repeat for more)"),
) -> None:
    """Make the reports now, encrypted into the downtime folder, with the label sheet and the index."""
    config = settings(db=db, downtime_dir=str(out) if out else None)
    vault.key_of(config.downtime_key)  # no key: say so before reading anything
    service = open_service(config)
    try:
        operator = as_operator(service)
        chosen = reports.plan(operator, ward, clinic, everything, theatre)
        with Progress(TextColumn("{task.description}"), BarColumn(), console=console) as progress:
            task = progress.add_task("downtime reports", total=len(chosen) + 1)

            def made(report: reports.Made) -> None:
                progress.update(task, advance=1, description=f"{report.title}: {report.count}")

            written = reports.run(operator, config, chosen, service.clock(), made)
    finally:
        close_service(service)
    console.print(f"{len(written)} downtime reports written to {config.downtime_dir} (index.html lists them)")


@downtime_app.command("key")
def downtime_key() -> None:
    """Print a new key for LIFELINE_DOWNTIME_KEY (base64, 32 bytes); keep it on the downtime PC too."""
    print(vault.new_key())


@downtime_app.command("decrypt")
@clear_errors
def downtime_decrypt(
    file: Path = typer.Argument(..., help="A report, e.g. var/downtime/current/ward-X.pdf.enc"),
    out: Path = typer.Option(..., "--out", help="Where to write the PDF"),
) -> None:
    """Decrypt one report to a PDF with the key in LIFELINE_DOWNTIME_KEY."""
    key = vault.key_of(settings().downtime_key)
    out.write_bytes(vault.decrypt(key, file.read_bytes()))
    console.print(f"wrote {out}")


@downtime_app.command("pending")
@clear_errors
def downtime_pending(db: str = DB_OPTION) -> None:
    """List the downtime identifiers issued here in the last 30 days, what is still to re-enter
    first: linked with nothing entered yet, then not linked, then those entered against."""
    service = open_service(settings(db=db))
    try:
        found = reentry.pending_first(reentry.issued(service.repo, service.clock()))
    finally:
        close_service(service)
    if not found:
        console.print("no downtime identifiers issued here in the last 30 days")
        return
    words = {"to-enter": "linked, nothing entered", "to-link": "not linked", "entered": "entered"}
    for label in found:
        entered = ", ".join(f"{e.kind} {_local(e.care_time)}" for e in label.entries)
        patient = f"Patient/{label.patient_id}" if label.patient_id else ""
        print(
            "\t".join([label.identifier, f"sheet {_local(label.sheet)}", words[label.state], patient, entered]).rstrip()
        )
    counts = {state: sum(1 for label in found if label.state == state) for state in words}
    print(", ".join(f"{n} {words[state]}" for state, n in counts.items()))


def _local(instant: str) -> str:
    """A stored instant in Danish time, to the minute, as the paper and the wards write it."""
    return datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(COPENHAGEN).strftime("%d.%m.%Y %H:%M")
