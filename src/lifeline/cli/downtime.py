"""`lifeline downtime export|key|decrypt`: the paper copies a hospital reads when it loses the
record (downtime/, docs/security.md "Downtime reports"). `export` reads as the operator at this
terminal, so the run is on the audit trail under their name; `decrypt` is the command the
downtime PC runs to read one file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn

from lifeline.cli.common import DB_OPTION, as_operator, clear_errors, close_service, console, open_service, settings
from lifeline.downtime import export as reports
from lifeline.downtime import vault

downtime_app = typer.Typer(help="Downtime reports on paper: census, medication, clinics.", no_args_is_help=True)


@downtime_app.command("export")
@clear_errors
def downtime_export(
    ward: list[str] = typer.Option([], "--ward", help="A ward's Location id (repeat for more)"),
    clinic: list[str] = typer.Option([], "--clinic", help="A clinic's Location id (repeat for more)"),
    everything: bool = typer.Option(False, "--all", help="Every ward and clinic in the record"),
    out: Path = typer.Option(None, "--dir", help="Folder [env LIFELINE_DOWNTIME_DIR, default var/downtime]"),
    db: str = DB_OPTION,
) -> None:
    """Make the reports now, encrypted into the downtime folder, with the label sheet and the index."""
    config = settings(db=db, downtime_dir=str(out) if out else None)
    vault.key_of(config.downtime_key)  # no key: say so before reading anything
    service = open_service(config)
    try:
        operator = as_operator(service)
        chosen = reports.plan(operator, ward, clinic, everything)
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
