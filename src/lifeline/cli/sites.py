"""`lifeline sites add|list|revoke`, run on the central node: the hospitals' site nodes that may
read the region's change feed (identity/sites.py)."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from lifeline.audit import events as audit_events
from lifeline.cli.common import DB_OPTION, clear_errors, console, open_service, settings
from lifeline.fhir.service import FhirService
from lifeline.identity import sites
from lifeline.identity.principal import OPERATOR

sites_app = typer.Typer(help="Hospital site nodes (run on the central node).", no_args_is_help=True)


def _audit(service: FhirService, action: str) -> None:
    audit_events.record(
        service.repo, "administration", user=OPERATOR.subject, client_id=OPERATOR.client_id, text=action,
        node_id=service.settings.node_id,
    )  # fmt: skip


@sites_app.command("add")
@clear_errors
def sites_add(
    site_id: str = typer.Argument(..., help="The site's id, e.g. herlev (its --site-id)"),
    url: str = typer.Option(..., "--url", help="The site's public address, e.g. https://herlev.example"),
    scope: str = typer.Option("region", "--scope", help="region (the whole record) or hospital"),
    organization: list[str] = typer.Option([], "--organization", help="Hospital scope: Organization id(s)"),
    db: str = DB_OPTION,
) -> None:
    """Register a site node (or give it a new credential); prints its credential once."""
    service = open_service(settings(db=db))
    try:
        credential = sites.add_site(service.repo, site_id, url, scope=scope, organizations=organization)
        _audit(service, f"sites add {site_id}")
    finally:
        service.repo.close()
    print(f"site {site_id} registered; its credential (shown once, give it to the site as LIFELINE_SITE_CREDENTIAL):")
    print(credential, file=sys.stdout)


@sites_app.command("list")
@clear_errors
def sites_list(db: str = DB_OPTION) -> None:
    """The registered site nodes."""
    service = open_service(settings(db=db))
    try:
        found = sites.list_sites(service.repo)
    finally:
        service.repo.close()
    table = Table(title="Site nodes")
    for column in ("site", "url", "scope", "active", "added"):
        table.add_column(column)
    for site in found:
        scope = site.scope + (f" ({', '.join(site.organizations)})" if site.organizations else "")
        table.add_row(site.site_id, site.url, scope, "yes" if site.active else "revoked", site.added_at)
    console.print(table)


@sites_app.command("revoke")
@clear_errors
def sites_revoke(site_id: str = typer.Argument(...), db: str = DB_OPTION) -> None:
    """Revoke a site: its credential and the tokens it signed stop working everywhere."""
    service = open_service(settings(db=db))
    try:
        sites.revoke_site(service.repo, site_id)
        _audit(service, f"sites revoke {site_id}")
    finally:
        service.repo.close()
    print(f"site {site_id} revoked")
