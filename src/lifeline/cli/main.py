"""The `lifeline` command line: serve, db, import, export, demo-data, generate, users, clients, token, keys,
audit, sites."""

from __future__ import annotations

import gc
import os
import socket
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from lifeline.bulk.sources import Source
from lifeline.cli import backup as backup_commands
from lifeline.cli.audit import audit_app
from lifeline.cli.common import DB_OPTION, as_operator, clear_errors, close_service, console, open_service, settings
from lifeline.cli.demo import demo_app
from lifeline.cli.diagnose import diagnose
from lifeline.cli.downtime import downtime_app
from lifeline.cli.generate import generate
from lifeline.cli.identity import clients_app, keys_app, token_app, users_app
from lifeline.cli.images import images_app
from lifeline.cli.incidents import incidents_app
from lifeline.cli.probe import probe_app
from lifeline.cli.sites import sites_app
from lifeline.config import SettingError, to_environment
from lifeline.fhir.acting import Exchanged

app = typer.Typer(
    help="Lifeline: the regional health record with a FHIR R4 API.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
backup_commands.add_to(db_app)  # `lifeline db backup` and `lifeline db restore` (issue 28)
app.add_typer(users_app, name="users")
app.add_typer(clients_app, name="clients")
app.add_typer(token_app, name="token")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(sites_app, name="sites")
app.add_typer(downtime_app, name="downtime")
app.add_typer(incidents_app, name="incidents")
app.add_typer(probe_app, name="probe")
app.add_typer(images_app, name="images")
app.add_typer(demo_app, name="demo")  # the demo region's patient login (issue 25)
app.command("generate")(generate)
app.command("diagnose")(diagnose)


@app.command()
@clear_errors
def serve(
    db: str = DB_OPTION,
    host: str = typer.Option(None, help="Address to listen on [env LIFELINE_HOST, default 127.0.0.1]"),
    port: int = typer.Option(None, help="Port [env LIFELINE_PORT, default 8080]"),
    node_id: str = typer.Option(None, "--node-id", help="This node's id [env LIFELINE_NODE_ID, default central]"),
    workers: int = typer.Option(None, help="Server processes [env LIFELINE_WORKERS, default 1]"),
    role: str = typer.Option(None, "--role", help="central or site [env LIFELINE_ROLE, default central]"),
    site_id: str = typer.Option(None, "--site-id", help="A site node's id (its node id) [env LIFELINE_NODE_ID]"),
    central: str = typer.Option(None, "--central", help="A site's central node URL [env LIFELINE_CENTRAL]"),
) -> None:
    """Serve the FHIR API (and apply pending schema migrations first)."""
    from lifeline.web.asgi import run

    config = settings(
        db=db, host=host, port=port, node_id=site_id or node_id, workers=workers, role=role, central=central
    )
    if config.role == "site" and config.workers != 1:
        raise SettingError("a site node runs one server process (its replication loop is one); drop --workers")
    _check_listen(config.host, config.port)
    service = open_service(config, migrate=True)
    service.repo.analyze()
    service.repo.close()
    # Worker processes rebuild the app from the environment: hand them every resolved setting, so
    # that --host and --port reach the issuer and the links as surely as --db does.
    os.environ.update(to_environment(config))
    console.print(
        f"Lifeline {config.node_id} ({config.role}) serving http://{config.host}:{config.port}/fhir on {config.db}"
    )
    run(
        "lifeline.web.asgi:app_from_environment",
        host=config.host,
        port=config.port,
        workers=config.workers,
        keep_alive_seconds=config.keep_alive_seconds,
        shutdown_seconds=config.shutdown_seconds,
    )


@db_app.command("upgrade")
@clear_errors
def db_upgrade(db: str = DB_OPTION) -> None:
    """Create the schema or bring it up to date (never drops data); also a migration that builds
    tables again, which a serving process's start leaves to this command (stop them first)."""
    from lifeline.storage import open_repository

    config = settings(db=db)
    repo = open_repository(config.db, node_id=config.node_id, statement_timeout_ms=0)  # migrations: no limit
    try:
        applied = repo.migrate()
    finally:
        repo.close()
    console.print(f"schema up to date; applied {applied}" if applied else "schema already up to date")


@db_app.command("reindex")
@clear_errors
def db_reindex(
    db: str = DB_OPTION,
    resource_type: str = typer.Option(None, "--type", help="Only resources of this type"),
    batch_size: int = typer.Option(500, min=1, help="Resources per transaction"),
) -> None:
    """Rebuild the search indexes of stored resources (after a definition change); no version is written."""
    from lifeline.search.reindex import count_to_reindex, reindex

    service = open_service(settings(db=db))
    try:
        if resource_type is not None:
            service.check_type(resource_type)
        total = count_to_reindex(service.repo, resource_type)
        with _progress() as progress:
            task = progress.add_task("reindex", total=total)
            started = time.monotonic()

            def advance(n: int) -> None:
                progress.advance(task, n)
                done = progress.tasks[0].completed
                rate = done / max(time.monotonic() - started, 1e-6)
                progress.update(task, description=f"reindex: {rate:,.0f} resources/s")

            stats = reindex(
                service.repo, service.registry, res_type=resource_type, batch_size=batch_size, on_progress=advance
            )
    finally:
        service.repo.close()
    console.print(f"re-indexed {stats.resources} resources ({stats.rows} index rows)")


@db_app.command("repack")
@clear_errors
def db_repack(
    db: str = DB_OPTION,
    batch_size: int = typer.Option(500, min=1, help="Resources per transaction"),
) -> None:
    """Turn packing on and pack the JSON an earlier version stored as it is (storage/packing.py).

    Run it once every process of the database runs this version (older ones cannot read packed
    JSON); safe while they serve."""
    from lifeline.storage.repository import PACK_JSON_CHECK_SECONDS

    repo = open_service(settings(db=db)).repo
    try:
        if repo.start_packing():
            # Every process reads the switch again within that time; then none writes unpacked.
            console.print(f"packing turned on; waiting {PACK_JSON_CHECK_SECONDS:g} s for every process to follow")
            time.sleep(PACK_JSON_CHECK_SECONDS + 1)
        with repo.reading() as session:
            total = session.count_stored()
        after: tuple[str, str] | None = None
        packed = 0
        with _progress() as progress:
            task = progress.add_task("repack", total=total)

            def next_batch(start: tuple[str, str] | None) -> tuple[int, int, tuple[str, str] | None]:
                return repo.write(lambda session: session.repack(start, batch_size))[0]

            while True:
                read, rows, last = next_batch(after)
                if last is None:
                    break
                after, packed = last, packed + rows
                progress.advance(task, read)
    finally:
        repo.close()
    console.print(f"packed {packed} stored versions of {total} resources")


@app.command("import")
@clear_errors
def import_files(
    files: list[Path] = typer.Argument(..., help="NDJSON (.ndjson) or Bundle JSON (.json) files, optionally .gz"),
    db: str = DB_OPTION,
    batch_size: int = typer.Option(500, min=1, help="Resources per transaction"),
) -> None:
    """Import resources; each batch is one transaction, and re-running writes nothing twice."""
    from lifeline.bulk.importer import ImportStats, first_load, import_items

    sources = [Source(path) for path in files]
    service = open_service(settings(db=db))
    service.validator.resource_types  # noqa: B018 - the definitions, built before they are frozen
    service.registry  # noqa: B018
    gc.freeze()  # what lives as long as the import, out of the cycle collector's way (web/asgi.py)
    total = ImportStats()
    try:
        with _progress() as progress:
            rebuilding: list[TaskID] = []

            def on_index(name: str) -> None:
                if not rebuilding:
                    rebuilding.append(progress.add_task("search indexes", total=dropped))
                else:
                    progress.advance(rebuilding[0])

            # Every batch's transaction carries the record of what it wrote (fhir/acting.py).
            with (
                as_operator(service).writing("import"),
                first_load(service.repo, sum(s.size or 0 for s in sources), on_index) as dropped,
            ):
                for source in sources:
                    task = progress.add_task(source.path.name, total=source.size or None)
                    counter = _Counter(progress, task, source)
                    stats = import_items(service, source.items(), batch_size=batch_size, on_progress=counter)
                    progress.update(task, completed=source.size)
                    source.close()
                    total.merge(stats)
            if rebuilding:
                progress.update(rebuilding[0], completed=dropped)
    finally:
        service.repo.close()
    table = Table(title="Imported")
    table.add_column("resource type")
    table.add_column("written", justify="right")
    for res_type, n in sorted(total.by_type.items()):
        table.add_row(res_type, str(n))
    console.print(table)
    console.print(f"{total.written} written, {total.unchanged} unchanged, {total.transactions} transaction bundles")


@app.command("export")
@clear_errors
def export(
    out: Path = typer.Option(..., "--out", help="Folder for one NDJSON file per resource type"),
    db: str = DB_OPTION,
) -> None:
    """Export the current version of every resource as NDJSON, one file per type."""
    from lifeline.bulk.exporter import export_all

    service = open_service(settings(db=db))
    try:
        with service.repo.reading() as session:
            total = session.count_current()
        # On the trail before anything leaves: a record that cannot be written stops the export.
        operator = as_operator(service)
        operator.exchange("export", lambda: Exchanged(None, query=f"all current resources ({total}) to {out}"))
        with _progress() as progress:
            task = progress.add_task("export", total=total)
            counts = export_all(service.repo, out, on_progress=lambda n: progress.advance(task, n))
        summary = ", ".join(f"{res_type} {n}" for res_type, n in sorted(counts.items()))
        operator.exchange("export", lambda: Exchanged(None, query=f"exported to {out}: {summary}"))
    finally:
        close_service(service)
    console.print(f"exported {sum(counts.values())} resources of {len(counts)} types to {out}")


@app.command("demo-data")
@clear_errors
def demo_data(db: str = DB_OPTION) -> None:
    """Load the demo region (safe to re-run)."""
    from lifeline.bulk.importer import import_items
    from lifeline.bulk.sources import SourceItem
    from lifeline.demo import demo_resources

    service = open_service(settings(db=db), migrate=True)
    try:
        with as_operator(service).writing("import"):
            stats = import_items(service, (SourceItem("demo", r) for r in demo_resources()))
    finally:
        service.repo.close()
    console.print(f"demo data: {stats.written} written, {stats.unchanged} already there")


def _check_listen(host: str, port: int) -> None:
    """Fail with one line, before anything starts, when the address cannot be listened on."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise SettingError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


class _Counter:
    """Follows an import: the bar tracks bytes read; the text, resources and resources per second."""

    def __init__(self, progress: Progress, task: TaskID, source: Source) -> None:
        self.progress, self.task, self.source = progress, task, source
        self.count = 0
        self.started = time.monotonic()

    def __call__(self, n: int) -> None:
        self.count += n
        rate = self.count / max(time.monotonic() - self.started, 1e-6)
        self.progress.update(
            self.task,
            completed=self.source.position,
            description=f"{self.source.path.name}: {self.count} resources, {rate:,.0f}/s",
        )


def main() -> None:
    app()
