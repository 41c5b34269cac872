"""The centre's change feed: what a site node reads to keep its replica (issue 7).

A page is every version numbered after the site's position, in change-number order, with the
centre's current head, so the site knows how far behind it is. The global change sequence is
gap-free in commit order (storage/sequencing.py): a site that asks "after N" never misses a change
that committed late. Users, apps, node keys, sites and grants travel in the same feed, so a site
logs its staff in with no call to the centre; node-local state never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from lifeline import jsontext
from lifeline.errors import Forbidden
from lifeline.fhir.acting import Exchanged
from lifeline.identity.sites import Site
from lifeline.replication import scope
from lifeline.storage.records import StoredVersion

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

MAX_PAGE = 5000


def feed_page(service: FhirService, site: Site, after: int, limit: int, *, lean: bool = False) -> bytes:
    """One page of the feed as JSON: {"after", "last", "head", "changes": [...]}. `last` is the
    last change number the page covers: a hospital-scoped site gets only its patients' changes,
    and moves its position to `last` all the same. `lean`: the site's own changes come without
    their content (`"lean": true`): it holds them already, stamped as the centre stamped them
    (replication/replay.py), and asks again without `lean` in the rare case it does not."""
    return feed_exchange(service, site, after, limit, lean=lean).answer  # type: ignore[no-any-return]


def feed_exchange(service: FhirService, site: Site, after: int, limit: int, *, lean: bool = False) -> Exchanged:
    """`feed_page`, with what it sends for its audit record (fhir/acting.py): the versions, and
    the page's position; an empty page sends nobody's data and asks for no record."""
    repo = service.repo
    versions = repo.changes_after(after, max(0, min(limit, MAX_PAGE))) if limit > 0 else []
    with repo.reading() as session:
        head = session.last_change_seq()
    last = after
    if versions:
        last = versions[-1].change_seq or after
        head = max(head, last)
        if site.scope == "hospital":
            versions = scope.filter_page(service, versions, site.organizations)
    own = site.site_id if lean else None
    page = {"after": after, "last": last, "head": head, "changes": [_change(v, own) for v in versions]}
    return Exchanged(
        jsontext.dumps(page),
        resources=[f"{v.res_type}/{v.res_id}/_history/{v.version_id}" for v in versions if not _internal(v)],
        query=f"site={site.site_id}&after={after}&last={last}",
        quiet=not versions,
    )


def compartment_page(service: FhirService, site: Site, patient: str) -> Exchanged:
    """A patient's whole compartment as it is now: a site's back-fill (replication/scope.py).
    A hospital-scoped site gets only its own hospital's patients."""
    if site.scope == "hospital":
        with service.repo.reading() as session:
            organisations = scope.hospital_organisations(session, site.organizations)
            allowed = scope.patients_in_scope(session, [patient], organisations)
        if not allowed:
            raise Forbidden(f"Patient/{patient} has no care at the hospital of site {site.site_id}")
    versions = scope.compartment_changes(service, patient)
    return Exchanged(
        jsontext.dumps({"changes": [_change(v) for v in versions]}),
        resources=[f"{v.res_type}/{v.res_id}/_history/{v.version_id}" for v in versions if not _internal(v)],
        patients=[patient],
        query=f"site={site.site_id}&patient={patient}",
    )


def _internal(version: StoredVersion) -> bool:
    """Users, apps, keys, grants: Lifeline's own records, no one's clinical data."""
    return version.res_type.startswith("_")


def _change(version: StoredVersion, own: str | None = None) -> dict[str, Any]:
    change: dict[str, Any] = {
        "seq": version.change_seq,
        "type": version.res_type,
        "id": version.res_id,
        "version": version.version_id,
        "lastUpdated": version.last_updated,
        "deleted": version.deleted,
        "method": version.method,
        "node": version.node_id,
    }
    # Internal records go whole: the centre may have merged them (replay.py stamps none of them).
    if own is not None and version.node_id == own and not version.res_type.startswith("_"):
        change["lean"] = True
    else:
        # The stored JSON text goes out as it is: no parse and dump per change.
        change["content"] = None if version.content is None else orjson.Fragment(version.content)
    return change
