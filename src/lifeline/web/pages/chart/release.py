"""Results held back from the patient, on the chart's results page, and the clinician's release of
one at once (issue 25; the rule itself is access/held_results.py).

Each report (or group of results in no report) still held back says when the patient will see it,
with a "Release to the patient now" button: a POST with the session's CSRF token naming the
results, which writes the release label into each one's `meta.security` through the core as the
clinician: an ordinary update, authorised by the care rule, audited, versioned, replicated.
Releasing a DiagnosticReport releases the results it lists. The form's results are written in one
transaction, each on the version read (If-Match), so all are released or none. Sent twice, it
writes once: a result already released is left as it is. A result named that is not this patient's (a form changed by
hand) is refused and nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.access.errors import Withheld
from lifeline.access.held_results import is_released, released
from lifeline.clock import today
from lifeline.errors import FhirError, StorageUnavailable
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.web.layout import NO_STORE, render
from lifeline.web.login import WebLogin, csrf_refused, threaded
from lifeline.web.pages import acting
from lifeline.web.pages.chart import results
from lifeline.web.pages.chart.page import Reader, built_parts, language, part_path, refusing

PATH = part_path("results/release")
TEMPLATE = "chart/results.html"
MOST_RESULTS = 100  # a form names the results of one report, or of one morning's tests
_RESULT = re.compile(r"(DiagnosticReport|Observation)/([A-Za-z0-9\-.]{1,64})")


def release(core: Acting, patient_id: str, named: list[str]) -> int:
    """Release the `named` results (Type/id) of `patient_id` to the patient as the person `core`
    acts as, in one transaction; how many were written (one already released is left as it is).
    The patient is read first, so outside care this is `Withheld` and nothing is written; a result
    of another patient, or one changed since it was read (412), refuses the whole form."""
    read = Reader(core, patient_id)
    read.read_patient()
    found: list[dict[str, Any]] = []
    for reference in dict.fromkeys(named):
        res_type, res_id = reference.split("/", 1)
        answer = core.handle(FhirRequest("read", res_type, res_id))
        resource = orjson.loads(answer.raw) if answer.raw is not None else answer.resource or {}
        if (resource.get("subject") or {}).get("reference") != f"Patient/{patient_id}":
            raise NotThisPatient(reference)
        found.append(resource)
    entries = [
        {
            "resource": released(resource),
            "request": {
                "method": "PUT",
                "url": f"{resource['resourceType']}/{resource['id']}",
                "ifMatch": f'W/"{(resource.get("meta") or {}).get("versionId")}"',
            },
        }
        for resource in found
        if not is_released(resource)
    ]
    if entries:  # one transaction: all of the form's results released, or none
        core.handle(
            FhirRequest("transaction", body={"resourceType": "Bundle", "type": "transaction", "entry": entries})
        )
    return len(entries)


class NotThisPatient(Exception):
    """A result named in the form that is not the patient's: the form was changed by hand."""


def routes(web: WebLogin, paths: Callable[[], set[str]]) -> list[Route]:
    """The release's POST; it answers with the results page (POST-redirect-GET)."""

    def refused_page(request: Request, status: int, problem: str, refusal: str = "") -> Response:
        core = acting(web.service, request)
        patient_id = request.path_params["id"]
        shown = results.results(core, patient_id, today(web.service.clock), language(), built_parts(paths()))
        return render(TEMPLATE, status, NO_STORE, **shown, releaseProblem=problem, releaseRefusal=refusal)

    def released_now(request: Request, form: FormData | None) -> Response:
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        named = [value for value in form.getlist("result") if isinstance(value, str)]
        if not named or len(named) > MOST_RESULTS or not all(_RESULT.fullmatch(n) for n in named):
            Reader(acting(web.service, request), request.path_params["id"]).read_patient()  # outside care: refused
            return refused_page(request, 400, "none")
        patient_id = request.path_params["id"]
        try:
            release(acting(web.service, request), patient_id, named)
        except (StorageUnavailable, Withheld):
            raise  # the error page, or the refusal: nothing of anyone's is shown
        except NotThisPatient:
            return refused_page(request, 400, "other")
        except FhirError as error:
            return refused_page(request, error.status, "refused", str(error))
        return RedirectResponse(f"/patients/{patient_id}/results#reports", 303)

    return [Route(PATH, refusing(web.service, threaded(released_now)), methods=["POST"])]
