"""`lifeline db backup` and `lifeline db restore` (storage/backup.py, docs/operations.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from lifeline.cli.common import DB_OPTION, clear_errors, console, settings


def add_to(db_app: typer.Typer) -> None:
    """Add the backup and restore commands to `lifeline db`."""

    @db_app.command("backup")
    @clear_errors
    def db_backup(
        out: Path = typer.Option(..., "--out", help="The new backup file (refused if it exists)"),
        db: str = DB_OPTION,
    ) -> None:
        """Back the whole database up into one file, consistent at one moment, while the node serves."""
        from lifeline.storage.backup import backup

        with console.status("backing up…"):
            taken = backup(settings(db=db).db, out)
        console.print(f"backed up the {taken.backend} database into {taken.path} ({taken.size:,} bytes)")

    @db_app.command("restore")
    @clear_errors
    def db_restore(
        source: Path = typer.Option(..., "--from", help="A backup file made by `lifeline db backup`"),
        db: str = DB_OPTION,
    ) -> None:
        """Restore a backup into an empty database (a new SQLite file, an empty PostgreSQL database)."""
        from lifeline.storage.backup import restore

        target = settings(db=db).db
        with console.status("restoring…"):
            backend = restore(source, target)
        console.print(f"restored {source} into the {backend} database; check it with `lifeline audit verify`")
