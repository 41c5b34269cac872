"""`/break-the-glass`: the dialogue in which a clinician takes access to a record no care
relationship gives them (issue 21): a reason code and, in their own words, why; then the record
opens for `break_glass_hours` and the grant waits on the privacy officers' review list.

Reached from the chart's refusal (`?patient=<id>`) and from the finder when a full CPR number
belongs to a patient outside care (`?cpr=<10 digits>`: the clinician was never told which record,
so the grant is asked by the number, `Patient/$break-the-glass` with the identifier). The page
holds no rules: it asks the core's `$break-the-glass` as the clinician (fhir/acting.py), so the
checks (a clinical role, a reason, a text) and the security event are the API's.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.access.break_glass import REASON_SYSTEM, REASONS
from lifeline.cpr import CPR_SYSTEM, format_cpr, is_valid_cpr
from lifeline.errors import FhirError, StorageUnavailable
from lifeline.fhir.request import FhirRequest
from lifeline.web.layout import NO_STORE, render
from lifeline.web.login import WebLogin, csrf_refused, form_text, threaded
from lifeline.web.pages import acting

PATH = "/break-the-glass"
TEXT_MOST = 2000
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def routes(web: WebLogin) -> list[Route]:
    service = web.service

    def target(values: Any) -> dict[str, str] | None:
        """The record asked for: a patient id, or a CPR number (as digits); None if neither is sound."""
        patient, cpr = str(values.get("patient") or ""), str(values.get("cpr") or "").replace("-", "").strip()
        if patient and _ID.fullmatch(patient):
            return {"patient": patient}
        if cpr and is_valid_cpr(cpr):
            return {"cpr": cpr}
        return None

    def dialogue(request: Request, asked: dict[str, str] | None, status: int = 200, **shown: Any) -> Response:
        context = {
            "asked": asked,
            "shownCpr": format_cpr(asked["cpr"]) if asked and "cpr" in asked else None,
            "hours": service.settings.break_glass_hours,
            "reasons": REASONS,
            "csrf": request.user.csrf,
            "reason": "ETREAT",
            "text": "",
            "problem": None,
            **shown,
        }
        return render("break_glass.html", status, NO_STORE, **context)

    def ask(request: Request, form: FormData | None) -> Response:
        asked = target(request.query_params)
        return dialogue(request, asked, 200 if asked else 400, problem=None if asked else "no-target")

    def take(request: Request, form: FormData | None) -> Response:
        session = web.checked(request, form)
        if session is None or form is None:
            return csrf_refused()
        asked = target(form)
        reason, text = form_text(form, "reason"), form_text(form, "text").strip()
        kept = {"reason": reason if reason in REASONS else "ETREAT", "text": text}
        if asked is None:
            return dialogue(request, None, 400, problem="no-target", **kept)
        if reason not in REASONS:
            return dialogue(request, asked, 400, problem="reason", **kept)
        if not text:
            return dialogue(request, asked, 400, problem="text-empty", **kept)
        if len(text) > TEXT_MOST:
            return dialogue(request, asked, 400, problem="text-long", **kept)
        parameters: list[dict[str, Any]] = [
            {"name": "reason", "valueCoding": {"system": REASON_SYSTEM, "code": reason}},
            {"name": "text", "valueString": text},
        ]
        if "cpr" in asked:
            parameters.append({"name": "identifier", "valueIdentifier": {"system": CPR_SYSTEM, "value": asked["cpr"]}})
        asking = FhirRequest(
            "operation",
            "Patient",
            asked.get("patient"),
            operation="$break-the-glass",
            body={"resourceType": "Parameters", "parameter": parameters},
        )
        try:
            granted = acting(service, request).handle(asking)
        except StorageUnavailable:
            raise  # the error page: nothing was opened
        except FhirError as error:
            return dialogue(request, asked, error.status, problem="refused", refusal=error.message, **kept)
        patient = (granted.location or "").rsplit("/", 1)[-1] or asked.get("patient", "")
        return RedirectResponse(f"/patients/{patient}", 303)

    return [Route(PATH, threaded(ask), methods=["GET"]), Route(PATH, threaded(take), methods=["POST"])]
