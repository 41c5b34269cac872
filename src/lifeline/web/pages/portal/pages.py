"""The portal's routes (web/routes.py declares them PATIENT_ONLY): the record, contact details and
their form, results and a result's chart, appointments. Each is a data function (record.py,
contact.py, results.py, appointments.py) over the core acting as the patient, shown through a
template or as JSON (web/pages/__init__.py). None takes a patient id: the patient is the session's."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.clock import today
from lifeline.web import i18n
from lifeline.web.login import WebLogin, client_host, csrf_refused, threaded
from lifeline.web.pages import acting, answered, page
from lifeline.web.pages.chart import trend
from lifeline.web.pages.chart.page import language
from lifeline.web.pages.portal import appointments, contact, people, record, results

PATHS = ("/portal", "/portal/contact", "/portal/results", "/portal/results/chart.svg", "/portal/appointments")
SAVED = "saved"


def routes(web: WebLogin) -> list[Route]:
    service = web.service

    def overview(request: Request) -> dict[str, Any]:
        core = acting(service, request)
        return record.record(core, people.shown_id(web, request), today(service.clock), language())

    def contact_page(request: Request) -> dict[str, Any]:
        shown = contact.form(acting(service, request), people.shown_id(web, request))
        return {**shown, "saved": request.query_params.get(SAVED) == "1", "csrf": request.user.csrf}

    def contact_change(request: Request, form: FormData | None) -> Response:
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        core = contact.writer(service, request.user, client_host(request))
        typed = [value if isinstance(value := form.get(name), str) else None for name in ("phone", "email")]
        shown = contact.change(core, people.shown_id(web, request, people.CONTACT), *typed)
        if shown["saved"]:
            return RedirectResponse(f"/portal/contact?{SAVED}=1", 303)
        # The form again, each problem beside its field.
        return answered(request, "portal/contact.html", 400, {**shown, "csrf": request.user.csrf})

    def results_page(request: Request) -> dict[str, Any]:
        core, chosen = acting(service, request), request.query_params.get("code")
        return results.results(core, people.shown_id(web, request), language(), chosen)

    def chart_image(request: Request, form: FormData | None) -> Response:
        code = results.chosen_code(request.query_params.getlist("code"))
        read, _ = record.reader(acting(service, request), people.shown_id(web, request))
        reader_language = language()
        gettext = i18n.translations(reader_language).gettext
        labels = {
            "range": gettext("Normal range"),
            "left": gettext("left axis"),
            "right": gettext("right axis"),
            "none": gettext("No results for this test"),
        }
        drawn = results.series(read, code, reader_language)
        small = request.query_params.get("size") == "small"
        image = trend.svg([drawn], reader_language, labels, small)
        return Response(image, headers=trend.SVG_HEADERS, media_type="image/svg+xml")

    def appointments_page(request: Request) -> dict[str, Any]:
        core = acting(service, request)
        return appointments.appointments(core, people.shown_id(web, request), today(service.clock), language())

    return [
        Route("/portal", page("portal/record.html", overview), methods=["GET"]),
        Route("/portal/contact", page("portal/contact.html", contact_page), methods=["GET"]),
        Route("/portal/contact", threaded(contact_change), methods=["POST"]),
        Route("/portal/results", page("portal/results.html", results_page), methods=["GET"]),
        Route("/portal/results/chart.svg", threaded(chart_image), methods=["GET"]),
        Route("/portal/appointments", page("portal/appointments.html", appointments_page), methods=["GET"]),
    ]
