"""The portal's routes about the patient's own data (web/routes.py declares them PATIENT_ONLY): who
has looked at their record (access_log.py) and the download of the whole record as a FHIR Bundle
or a PDF (download.py, record_pdf.py). None takes a patient id: the patient is the session's, so
a changed address or form field can name nobody else."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifeline import jsontext
from lifeline.errors import BadRequest
from lifeline.web.layout import NO_STORE
from lifeline.web.login import WebLogin
from lifeline.web.pages import acting, answered, page
from lifeline.web.pages.chart.page import language
from lifeline.web.pages.portal import access_log, download, people, record_pdf

PATHS = (access_log.PATH, "/portal/download", "/portal/download/record.json", "/portal/download/record.pdf")


def routes(web: WebLogin) -> list[Route]:
    service = web.service

    def log_data(request: Request) -> tuple[int, dict[str, Any]]:
        query = request.query_params
        from_text, to_text = query.get("from", ""), query.get("to", "")
        start, end, problems = access_log.period(from_text, to_text)
        typed = {"from": from_text[:40], "to": to_text[:40]}
        if not problems:
            core = acting(service, request)
            people.shown_id(web, request, people.ACCESS_LOG)  # a patient's own, or the page refuses
            try:
                shown = access_log.access_log(core, start, end, query.get("after") or None, language())
                return 200, {**shown, "typed": typed}
            except BadRequest:
                problems = {"page": "stale-page"}  # a paging cursor changed by hand, or of another search
        empty: dict[str, Any] = {"accesses": [], "next": None, "searchedFar": False, "from": "", "to": ""}
        return 400, {**empty, "problems": problems, "typed": typed}

    async def log_page(request: Request) -> Response:
        status, values = await run_in_threadpool(log_data, request)
        return await run_in_threadpool(answered, request, "portal/access_log.html", status, values)

    def downloaded(request: Request, extension: str) -> Response:
        core = acting(service, request)
        made = service.clock()
        bundle = download.whole_record(core, people.shown_id(web, request), made)
        name = download.file_name(made, extension)
        headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
        if extension == "json":
            return Response(jsontext.dumps(bundle), headers=headers, media_type="application/fhir+json")
        drawn = record_pdf.record_pdf(bundle, language(), made)
        return Response(drawn, headers=headers, media_type="application/pdf")

    async def as_json(request: Request) -> Response:
        return await run_in_threadpool(downloaded, request, "json")

    async def as_pdf(request: Request) -> Response:
        return await run_in_threadpool(downloaded, request, "pdf")

    def download_page(request: Request) -> dict[str, Any]:
        people.shown_id(web, request)
        return {"json": PATHS[2], "pdf": PATHS[3]}

    return [
        Route(access_log.PATH, log_page, methods=["GET"]),
        Route(PATHS[1], page("portal/download.html", download_page), methods=["GET"]),
        Route(PATHS[2], as_json, methods=["GET"]),
        Route(PATHS[3], as_pdf, methods=["GET"]),
    ]
