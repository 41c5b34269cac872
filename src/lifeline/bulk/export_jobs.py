"""FHIR Bulk Data `$export`: kick-off, status, files and cancel (https://hl7.org/fhir/uv/bulkdata/export.html).

A backend service (a system principal: client_credentials with a signed assertion) asks for the
current resources of the system, of every patient's compartment, or of a Group's members'. The
kick-off is checked here (who may ask, which types, which parameters) and leaves a job row; the
work is done in the background (bulk/export_walk.py) into NDJSON files held in the database
(storage/export_rows.py), so any process of the node answers a poll or a download and a restart
loses nothing. Only the client that started a job sees it (another gets 404); a job and its files
are gone `export_keep_hours` after the kick-off, swept on each kick-off and poll.

Each step is one exchange through the core's audited entry (fhir/acting.py), named by the
subtypes below; the kick-off's record keeps its parameters, every other step's names the job.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from lifeline import jsontext
from lifeline.clock import fhir_instant
from lifeline.errors import BadRequest, Forbidden, Issue, NotFound, Unauthorized
from lifeline.fhir import paging
from lifeline.identity.principal import SYSTEM, Principal
from lifeline.search.query.export_scope import in_compartments

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

KICKOFF, STATUS, FILE, CANCEL = "bulk-export-kickoff", "bulk-export-status", "bulk-export-file", "bulk-export-cancel"
LEVELS = ("system", "patient", "group")
OUTPUT_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
# Parameters of the IG that Lifeline does not offer: refused under `Prefer: handling=strict`,
# else ignored with a warning in the manifest's `error` files, as the IG asks.
_OWN = frozenset({"_outputFormat", "_type", "_since"})
# Types never exported: Lifeline's own rows and what only describes an answer.
_NOT_EXPORTED = frozenset({"OperationOutcome", "Bundle", "Parameters"})


@dataclass(frozen=True)
class ExportAsk:
    """A checked kick-off: what to export, and what was asked that is ignored."""

    level: str  # system | patient | group
    group_id: str | None
    types: tuple[str, ...]
    since: str | None
    ignored: tuple[str, ...]
    request: str  # the kick-off URL, as the manifest repeats it
    base: str  # the FHIR base the file URLs are made from

    def parameters(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "group": self.group_id,
            "types": list(self.types),
            "since": self.since,
            "ignored": list(self.ignored),
            "base": self.base,
        }


@dataclass(frozen=True)
class ExportJob:
    id: str
    client_id: str
    request: str
    parameters: dict[str, Any]
    status: str  # accepted | running | complete | failed
    transaction_time: str | None
    created: str
    expires: str
    heartbeat: str | None
    progress: str | None
    error: str | None
    manifest: dict[str, Any] | None

    @classmethod
    def of_row(cls, row: Any) -> ExportJob:
        return cls(
            str(row[0]),
            str(row[1]),
            str(row[2]),
            jsontext.loads(row[3]),
            str(row[4]),
            row[5],
            str(row[6]),
            str(row[7]),
            row[8],
            row[9],
            row[10],
            jsontext.loads(row[11]) if row[11] else None,
        )


def check_exporter(principal: Principal | None) -> Principal:
    """Only a backend service may export: 401 without a token, 403 for a person's token."""
    if principal is None:
        raise Unauthorized("A bulk export needs an access token of a backend service (system/ scopes)")
    if principal.kind != SYSTEM:
        raise Forbidden("A bulk export is for backend services with system/ scopes, not a person's token")
    return principal


def plan(
    service: FhirService,
    principal: Principal | None,
    level: str,
    group_id: str | None,
    params: list[tuple[str, str]],
    *,
    strict: bool,
    request: str,
    base: str,
) -> ExportAsk:
    """Check a kick-off: the caller, its scopes against the types asked, the parameters."""
    who = check_exporter(principal)
    values: dict[str, str] = {}
    for name, raw in params:
        # A '+' left unescaped in the query (application/fhir+ndjson, an offset +01:00) reads as a space.
        value = raw.replace(" ", "+") if name in ("_outputFormat", "_since") else raw
        if name in _OWN and name in values and name != "_type":
            raise BadRequest(f"{name} is given more than once")
        values[name] = f"{values[name]},{value}" if name == "_type" and name in values else value
    output = values.get("_outputFormat")
    if output is not None and output not in OUTPUT_FORMATS:
        raise BadRequest(f"_outputFormat {output!r} is not offered; ask for application/fhir+ndjson")
    ignored = tuple(sorted({name for name, _ in params if name not in _OWN}))
    if ignored and strict:
        raise BadRequest(f"Not supported by this server's $export: {', '.join(ignored)}")
    registry = service.registry
    candidates = sorted(t for t in registry.resource_types if t not in _NOT_EXPORTED and not t.startswith("_"))
    if level != "system":
        candidates = [t for t in candidates if in_compartments(registry, t)]
    if "_type" in values:
        asked = sorted({t.strip() for t in values["_type"].split(",") if t.strip()})
        unknown = [t for t in asked if t not in registry.resource_types]
        if unknown:
            raise BadRequest(f"_type names unknown resource types: {', '.join(unknown)}")
        outside = [t for t in asked if t not in candidates]
        if outside:
            raise BadRequest(f"_type names types outside the {level} export: {', '.join(outside)}")
        refused = [t for t in asked if not who.scopes.allows("system", t, "r")]
        if refused:
            raise Forbidden(f"The token's scopes do not allow reading {', '.join(refused)} (system/<Type>.r)")
        types = tuple(asked)
    else:
        types = tuple(t for t in candidates if who.scopes.allows("system", t, "r"))
        if not types:
            raise Forbidden("The token's scopes allow reading no resource type (system/<Type>.r)")
    if level == "group" and not who.scopes.allows("system", "Group", "r"):
        raise Forbidden("A Group export needs the scope to read the Group (system/Group.r)")
    since = paging.instant_param("_since", values["_since"]) if "_since" in values else None
    if level == "group":
        with service.repo.reading() as session:
            group = session.read("Group", group_id or "")
        if group is None or group.deleted:
            raise NotFound(f"Group/{group_id} is not known")
    return ExportAsk(level, group_id, types, since, ignored, request, base)


def start(service: FhirService, principal: Principal, ask: ExportAsk) -> str:
    """Leave the job's row (accepted) for the background walk; returns its id."""
    sweep(service)
    job_id = secrets.token_urlsafe(18)
    now = service.clock()
    expires = now + timedelta(hours=service.settings.export_keep_hours)
    values = (
        job_id,
        principal.client_id,
        ask.request,
        jsontext.dumps(ask.parameters()).decode(),
        "accepted",
        None,
        fhir_instant(now),
        fhir_instant(expires),
        None,
        None,
        None,
        None,
    )
    service.repo.write(lambda session: session.insert_export_job(values))
    return job_id


def owned(service: FhirService, principal: Principal | None, job_id: str) -> ExportJob:
    """The caller's own job: any other client (or an expired job) gets 404."""
    who = check_exporter(principal)
    with service.repo.reading() as session:
        row = session.export_job(job_id)
    job = ExportJob.of_row(row) if row is not None else None
    if job is None or job.client_id != who.client_id or job.expires <= fhir_instant(service.clock()):
        raise NotFound(f"No export {job_id} of this client (it may have expired or been cancelled)")
    return job


def cancel(service: FhirService, principal: Principal | None, job_id: str) -> None:
    """Stop a job and remove its files (a running walk sees its job gone and stops)."""
    owned(service, principal, job_id)
    service.repo.write(lambda session: session.delete_export_job(job_id))


def sweep(service: FhirService) -> int:
    """Remove the jobs (and files) past their time; returns how many."""
    now = fhir_instant(service.clock())
    with service.repo.reading() as session:
        expired = session.expired_export_jobs(now)
    for job_id in expired:
        service.repo.write(lambda session, job_id=job_id: session.delete_export_job(job_id))  # type: ignore[misc]
    return len(expired)


def manifest(service: FhirService, job: ExportJob) -> dict[str, Any]:
    """The completed job's manifest: its files by type, and the warnings' files."""
    base = job.parameters["base"]
    with service.repo.reading() as session:
        files = session.export_files(job.id)
    output: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for file_no, res_type, lines in files:
        entry = {"type": res_type, "url": f"{base}/$export-file/{job.id}/{file_no}", "count": int(lines)}
        (errors if res_type == "OperationOutcome" else output).append(entry)
    return {
        "transactionTime": job.transaction_time,
        "request": job.request,
        "requiresAccessToken": True,
        "output": output,
        "error": errors,
    }


def file_of(service: FhirService, job: ExportJob, file_no: int) -> tuple[str, int]:
    """(type, lines) of one of a completed job's files; 404 for any other."""
    if job.status != "complete":
        raise NotFound(f"Export {job.id} has no files yet")
    with service.repo.reading() as session:
        files = session.export_files(job.id)
    for number, res_type, lines in files:
        if int(number) == file_no:
            return str(res_type), int(lines)
    raise NotFound(f"Export {job.id} has no file {file_no}")


def file_parts(service: FhirService, job_id: str, file_no: int, after_part: int) -> list[tuple[int, str]]:
    """The next parts of a file (a few at a time, so a download holds little in memory)."""
    with service.repo.reading() as session:
        return [(int(n), str(text)) for n, text in session.export_parts(job_id, file_no, after_part, 4)]


def ignored_outcome(names: tuple[str, ...]) -> dict[str, Any]:
    from lifeline.outcome import operation_outcome

    return operation_outcome(
        [Issue("warning", "not-supported", f"The parameter {name} is not supported and was ignored") for name in names]
    )
