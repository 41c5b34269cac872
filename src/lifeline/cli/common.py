"""What every command shares: options, opening the database, and one clear line on failure."""

from __future__ import annotations

import functools
import getpass
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import typer
from rich.console import Console

from lifeline.config import SettingError, Settings, from_environment
from lifeline.errors import FhirError
from lifeline.fhir.acting import Acting
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.storage import open_repository

F = TypeVar("F", bound=Callable[..., Any])

console = Console(stderr=True)

DB_OPTION = typer.Option(None, "--db", help="Database URL (sqlite:///PATH or postgresql://...); env LIFELINE_DB")


def clear_errors(command: F) -> F:
    """Turn any expected failure into one line on stderr and exit status 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (FhirError, SettingError, OSError) as error:
            message = error.message if isinstance(error, FhirError) else str(error)
            print(f"lifeline: error: {message}", file=sys.stderr)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            print("lifeline: interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def settings(**overrides: Any) -> Settings:
    return from_environment(**overrides)


def open_service(config: Settings, *, migrate: bool = False) -> FhirService:
    # An operator's command (a prune, a verify, an analyze) may take what it takes: the limit is
    # for what the node serves (FhirService.open), and Ctrl+C stops a command.
    repo = open_repository(config.db, node_id=config.node_id, statement_timeout_ms=0)
    if migrate:
        try:  # a migration that rebuilds record tables waits for `lifeline db upgrade`
            repo.migrate(rewrites=False)
        except SettingError:
            repo.close()
            raise
    else:
        pending = repo.pending_migrations()
        if pending:
            repo.close()
            raise SettingError(f"the database schema is not up to date; run `lifeline db upgrade --db {config.db}`")
    return FhirService(repo, config)


def as_operator(service: FhirService, purpose: str = "HOPERAT") -> Acting:
    """The core acting as the operator at this terminal (fhir/acting.py): what a command reads,
    writes or sends out is on the audit trail under their login name, like any person's."""
    principal = replace(OPERATOR, subject=f"operator:{getpass.getuser()}")
    # What the server would log with its traceback ends a command as one line (clear_errors).
    logging.getLogger("lifeline").setLevel(logging.CRITICAL)
    return service.as_user(principal, None, purpose)


def close_service(service: FhirService) -> None:
    """Close a command's core: the audit records it submitted are written first."""
    recorder = service.__dict__.get("auditor")  # only one the command started
    if recorder is not None:
        recorder.close()
    service.repo.close()
