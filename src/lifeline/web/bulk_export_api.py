"""The HTTP adapter of FHIR Bulk Data `$export` (https://hl7.org/fhir/uv/bulkdata/export.html).

    GET    /fhir/$export, /fhir/Patient/$export, /fhir/Group/{id}/$export   kick-off: 202 + Content-Location
    GET    /fhir/$export-status/{job}       202 + X-Progress while running; 200 + the manifest when done
    DELETE /fhir/$export-status/{job}       cancel: the job and its files removed (202)
    GET    /fhir/$export-file/{job}/{n}     one NDJSON file (application/fhir+ndjson), streamed

Each request is one exchange through the core's audited entry (fhir/acting.py), with the same
bearer token as the rest of the API; bulk/export_jobs.py decides, bulk/export_walk.py works.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from lifeline import jsontext
from lifeline.bulk import export_jobs, export_walk
from lifeline.bulk.export_jobs import ExportJob
from lifeline.errors import BadRequest, FhirError, Issue, MethodNotAllowed
from lifeline.fhir.acting import Exchanged
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import Principal
from lifeline.outcome import operation_outcome
from lifeline.web.errors import FHIR_JSON, error_answer
from lifeline.web.fhir_api import bearer_principal

PREFIX = "/fhir"
NDJSON = "application/fhir+ndjson"
RETRY_SECONDS = 2
_KICKOFF = re.compile(r"/fhir/(?:(Patient)/|(Group)/([A-Za-z0-9\-.]{1,64})/)?\$export")
_STATUS = re.compile(r"/fhir/\$export-status/([A-Za-z0-9_\-]{1,64})")
_FILE = re.compile(r"/fhir/\$export-file/([A-Za-z0-9_\-]{1,64})/([0-9]{1,9})")

Headers = list[tuple[bytes, bytes]]


def handles(path: str) -> bool:
    """Whether `path` is one of the export's addresses (the rest of /fhir is the FHIR API's)."""
    return any(pattern.fullmatch(path) for pattern in (_KICKOFF, _STATUS, _FILE))


class BulkExportApi:
    def __init__(self, service: FhirService) -> None:
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        client = scope.get("client")
        address = client[0] if client else None
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        try:
            try:
                principal = self._principal(headers.get("authorization"))
            except Exception as error:
                status = error.status if isinstance(error, FhirError) else 500
                await self.service.as_user(None, address).refused_before_asking(error, status)
                raise
            await self._answer(scope, headers, principal, address, send)
        except Exception as error:  # noqa: BLE001 - every failure is answered as an OperationOutcome
            status, body, extra = error_answer(error)
            await _send(send, status, [*extra, (b"content-type", FHIR_JSON.encode())], body)

    async def _answer(
        self,
        scope: dict[str, Any],
        headers: dict[str, str],
        principal: Principal | None,
        address: str | None,
        send: Any,
    ) -> None:
        service, path, method = self.service, scope["path"], scope["method"]
        acting = service.as_user(principal, address)
        base = (
            service.settings.base_url or f"{scope.get('scheme', 'http')}://{headers.get('host', 'localhost')}{PREFIX}"
        )
        kickoff, status, file = _KICKOFF.fullmatch(path), _STATUS.fullmatch(path), _FILE.fullmatch(path)
        if kickoff is not None:
            query = scope.get("query_string", b"").decode("latin-1")
            params = parse_qsl(query, keep_blank_values=True)
            level = "patient" if kickoff.group(1) else "group" if kickoff.group(2) else "system"
            request = f"{base}{path[len(PREFIX) :]}" + (f"?{query}" if query else "")
            strict = "handling=strict" in headers.get("prefer", "").replace(" ", "")

            def begin() -> Exchanged:
                if method != "GET":
                    raise MethodNotAllowed("Start an export with GET (the POST form is not offered)")
                _check_kickoff_headers(headers)
                ask = export_jobs.plan(
                    service, principal, level, kickoff.group(3), params, strict=strict, request=request, base=base
                )
                assert principal is not None  # plan refuses a request without one
                job_id = export_jobs.start(service, principal, ask)
                return Exchanged(export_jobs.owned(service, principal, job_id), query=f"export {job_id}: {request}")

            job: ExportJob = await acting.exchange_async(export_jobs.KICKOFF, begin)
            job_id = job.id
            export_walk.start_in_background(service, job)
            outcome = operation_outcome([Issue("information", "informational", f"Export {job_id} accepted")])
            location = f"{base}/$export-status/{job_id}".encode()
            await _send(send, 202, [(b"content-location", location), _json_type()], jsontext.dumps(outcome))
        elif status is not None:
            await self._status(acting, principal, status.group(1), method, send)
        elif file is not None:
            await self._file(acting, principal, file.group(1), int(file.group(2)), send)

    async def _status(self, acting: Any, principal: Principal | None, job_id: str, method: str, send: Any) -> None:
        service = self.service
        if method == "DELETE":

            def cancel() -> Exchanged:
                export_jobs.cancel(service, principal, job_id)
                return Exchanged(None, query=f"export {job_id}: cancelled")

            await acting.exchange_async(export_jobs.CANCEL, cancel)
            outcome = operation_outcome([Issue("information", "informational", f"Export {job_id} cancelled")])
            await _send(send, 202, [_json_type()], jsontext.dumps(outcome))
            return
        if method != "GET":
            raise MethodNotAllowed("Poll an export's status with GET, or cancel it with DELETE")

        def poll() -> Exchanged:
            export_jobs.sweep(service)
            return Exchanged(export_jobs.owned(service, principal, job_id), query=f"export {job_id}: status")

        job: ExportJob = await acting.exchange_async(export_jobs.STATUS, poll)
        if job.status in ("accepted", "running"):
            export_walk.start_in_background(service, job)  # its runner may have stopped with its process
            progress = (job.progress or job.status).encode()
            headers = [(b"x-progress", progress), (b"retry-after", str(RETRY_SECONDS).encode()), _json_type()]
            await _send(send, 202, headers, b"")
        elif job.status == "failed":
            outcome = operation_outcome([Issue("error", "exception", job.error or "The export failed")])
            await _send(send, 500, [_json_type()], jsontext.dumps(outcome))
        else:
            manifest = await asyncio.to_thread(export_jobs.manifest, service, job)
            expires = format_datetime(datetime.fromisoformat(job.expires), usegmt=True).encode()
            headers = [(b"content-type", b"application/json"), (b"expires", expires)]
            await _send(send, 200, headers, jsontext.dumps(manifest))

    async def _file(self, acting: Any, principal: Principal | None, job_id: str, file_no: int, send: Any) -> None:
        service = self.service

        def opened() -> Exchanged:
            job = export_jobs.owned(service, principal, job_id)
            res_type, lines = export_jobs.file_of(service, job, file_no)
            return Exchanged((res_type, lines), query=f"export {job_id}: file {file_no} ({lines} {res_type})")

        await acting.exchange_async(export_jobs.FILE, opened)
        # The record is durable: the file's parts are sent a few at a time.
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", NDJSON.encode())]})
        after = 0
        while True:
            parts = await asyncio.to_thread(export_jobs.file_parts, service, job_id, file_no, after)
            for number, text in parts:
                await send({"type": "http.response.body", "body": text.encode(), "more_body": True})
                after = number
            if not parts:
                break
        await send({"type": "http.response.body", "body": b""})

    def _principal(self, authorization: str | None) -> Principal | None:
        return bearer_principal(self.service, authorization)


def _check_kickoff_headers(headers: dict[str, str]) -> None:
    prefer = headers.get("prefer", "").replace(" ", "").lower()
    if "respond-async" not in prefer.split(","):
        raise BadRequest("A bulk export runs asynchronously: send the header Prefer: respond-async")
    accept = headers.get("accept", "")
    if accept and not any(t in accept for t in ("json", "*/*", "application/*")):
        raise BadRequest(f"Cannot answer in {accept}; the kick-off answers in application/fhir+json")


def _json_type() -> tuple[bytes, bytes]:
    return (b"content-type", FHIR_JSON.encode())


async def _send(send: Any, status: int, headers: Headers, body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
