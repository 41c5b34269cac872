"""Every route outside /fhir, and who may ask for it: the one place where a page is declared public
or protected (medplum `routes.ts`). web/middleware.py enforces it; `create_app` refuses to start
with a route missing from the table, so a new page cannot be public by omission.

- PUBLIC: anyone. The login steps are public and check their own pending step; the OAuth, discovery
  and replication endpoints speak JSON with their own credentials (a client's, a site's).
- LOGGED_IN: staff or patient. STAFF_ONLY, PATIENT_ONLY: that kind of person only.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from lifeline.imaging.stores import Stores
from lifeline.replication.site import SiteNode
from lifeline.web import (
    assets,
    citizen_login,
    conflicts_page,
    imaging_proxy,
    login,
    oauth,
    passkeys,
    replication_api,
    status_page,
)
from lifeline.web.pages import (
    bed_board,
    booking,
    break_glass,
    clinic_list,
    finder,
    inbox,
    landing,
    operator,
    reduce_page,
    reentry,
    theatre_board,
    worklist,
)
from lifeline.web.pages.chart import given_form as chart_given
from lifeline.web.pages.chart import imaging as chart_imaging
from lifeline.web.pages.chart import medication as chart_medication
from lifeline.web.pages.chart import notes as chart_notes
from lifeline.web.pages.chart import orders as chart_orders
from lifeline.web.pages.chart import page as chart
from lifeline.web.pages.chart import release as chart_release
from lifeline.web.pages.chart import results as chart_results
from lifeline.web.pages.chart import timeline as chart_timeline
from lifeline.web.pages.chart import viewer as chart_viewer
from lifeline.web.pages.chart import vitals as chart_vitals
from lifeline.web.pages.chart import vitals_form as chart_vitals_form
from lifeline.web.pages.language import language_route
from lifeline.web.pages.portal import appointment_pages as portal_appointments
from lifeline.web.pages.portal import installable as portal_installable
from lifeline.web.pages.portal import message_pages as portal_messages
from lifeline.web.pages.portal import own_data as portal_own_data
from lifeline.web.pages.portal import pages as portal
from lifeline.web.pages.portal import report_pages as portal_reports
from lifeline.web.pages.portal import switch as portal_switch

PUBLIC, LOGGED_IN, STAFF_ONLY, PATIENT_ONLY = "public", "logged-in", "staff", "patient"

ACCESS = {
    "/": PUBLIC,  # the landing page: what to do next, by who is asking
    "/language": PUBLIC,
    "/static/{name:path}": PUBLIC,
    "/login": PUBLIC,
    "/login/second-factor": PUBLIC,
    "/login/second-factor/passkey": PUBLIC,
    "/login/enrol": PUBLIC,
    "/login/password": PUBLIC,  # also the forced change of a pending login
    "/login/citizen": PUBLIC,
    "/login/citizen/callback": PUBLIC,
    "/login/passkeys": PUBLIC,  # JSON for passkeys.js: answers 401 itself without a staff session
    "/logout": LOGGED_IN,
    "/logout/everywhere": LOGGED_IN,
    "/account": LOGGED_IN,
    "/conflicts": STAFF_ONLY,
    "/find": STAFF_ONLY,
    "/patients": STAFF_ONLY,  # my patients: today's worklist (issue 21)
    "/break-the-glass": STAFF_ONLY,  # the dialogue that opens a record outside care (issue 21)
    "/patients/{id}": STAFF_ONLY,  # the chart of one patient (issue 21)
    "/patients/{id}/results": STAFF_ONLY,  # the chart's laboratory results and their trends
    "/patients/{id}/results/chart.svg": STAFF_ONLY,  # a trend chart, shown as an image on that page
    "/patients/{id}/results/release": STAFF_ONLY,  # release held-back results to the patient now (issue 25)
    "/patients/{id}/vitals": STAFF_ONLY,  # the chart's vital signs: a flowsheet and curves
    "/patients/{id}/vitals/chart.svg": STAFF_ONLY,  # a vital sign's curve, shown as an image on that page
    "/patients/{id}/notes": STAFF_ONLY,  # the chart's notes, and the form that writes one
    "/patients/{id}/timeline": STAFF_ONLY,  # the chart's encounters and operations across the years
    "/patients/{id}/timeline/chart.svg": STAFF_ONLY,  # the timeline's overview, shown as an image on that page
    "/patients/{id}/imaging": STAFF_ONLY,  # the chart's imaging studies and their reports
    "/patients/{id}/imaging/{study_id}": STAFF_ONLY,  # the image viewer: one study's images (issue 22)
    "/patients/{id}/medication": STAFF_ONLY,  # the chart's current and past medication, and doses given
    "/patients/{id}/vitals/record": STAFF_ONLY,  # the form that records a set of vital signs
    "/patients/{id}/orders": STAFF_ONLY,  # the patient's orders, and the form that orders a test or a study
    "/patients/{id}/medication/give": STAFF_ONLY,  # the form that records a dose given
    "/oauth/authorize": PUBLIC,  # checks the app's request before asking for a login
    "/oauth/token": PUBLIC,
    "/.well-known/openid-configuration": PUBLIC,
    "/fhir/.well-known/smart-configuration": PUBLIC,
    "/.well-known/jwks.json": PUBLIC,
    "/status": PUBLIC,  # the node's components and incidents, for anyone (issue 23)
    "/operator/incidents": STAFF_ONLY,  # operators' incidents and who they affect; checks its own role (issue 23)
    "/operator/incidents/{id}": STAFF_ONLY,  # an update to one incident, or its resolution (issue 23)
    "/downtime/reentry": STAFF_ONLY,  # the downtime identifiers still to re-enter from paper (issue 23)
    "/downtime/reentry/label": STAFF_ONLY,  # one identifier: link it to its patient, enter what the paper holds
    "/clinics": STAFF_ONLY,  # a clinic's list for a day: time, patient, reason, status, arrived (issue 24)
    "/clinics/arrived": STAFF_ONLY,  # mark a booked patient arrived (issue 24)
    "/clinics/book": STAFF_ONLY,  # free times of a clinic; book, move or book from the waiting list (issue 24)
    "/clinics/cancel": STAFF_ONLY,  # cancel an appointment with a reason; the patient is told (issue 24)
    "/theatres": STAFF_ONLY,  # the theatre board: a day's operations per theatre; move, start, finish (issue 24)
    "/wards": STAFF_ONLY,  # choosing a ward's bed board: the nurse's departments' wards, or a hospital's (issue 24)
    "/wards/{id}": STAFF_ONLY,  # a ward's bed board and census; admit, transfer, discharge, clean, block (issue 24)
    "/logistics/reduce": STAFF_ONLY,  # reduce to acute care: the lead's proposal; checks its own role (issue 24)
    "/logistics/rebook": STAFF_ONLY,  # the rebooking proposal after a reduction, booked by secretaries (issue 24)
    # The DICOMweb calls the image viewer needs, proxied to the PACS as the person (issue 22); a
    # patient reaches their own scans beside a report they may read (imaging/access.py, issue 25).
    "/imaging/studies": STAFF_ONLY,  # STOW-RS through Lifeline: images from outside, checked first
    "/imaging/studies/{study}/series": LOGGED_IN,
    "/imaging/studies/{study}/series/{series}/instances": LOGGED_IN,
    "/imaging/studies/{study}/series/{series}/metadata": LOGGED_IN,
    "/imaging/studies/{study}/series/{series}/instances/{instance}/rendered": LOGGED_IN,
    "/imaging/studies/{study}/series/{series}/instances/{instance}/frames/{frame}/rendered": LOGGED_IN,
    # The patient portal (issue 25): the logged-in patient's own record; no address names a patient.
    "/portal": PATIENT_ONLY,  # contact details, allergies, diagnoses, medication, vaccinations
    "/portal/contact": PATIENT_ONLY,  # contact details, and the form that changes their phone and e-mail
    "/portal/results": PATIENT_ONLY,  # laboratory results in words, and one test's trend
    "/portal/results/chart.svg": PATIENT_ONLY,  # a test's trend chart, shown as an image on that page
    "/portal/notes": PATIENT_ONLY,  # the notes the hospitals have written, once signed
    "/portal/imaging": PATIENT_ONLY,  # scans and other reports (not the laboratory's), once released
    "/portal/imaging/{study_id}": PATIENT_ONLY,  # one scan's images, beside its report
    "/portal/appointments": PATIENT_ONLY,  # upcoming and past appointments, with their place
    "/portal/appointments/{id}": PATIENT_ONLY,  # one of their own appointments: cancel, move, answer an offer
    "/portal/appointments/{id}/cancel": PATIENT_ONLY,  # cancel it with a reason (the form)
    "/portal/appointments/{id}/move": PATIENT_ONLY,  # move it to a free time of the same clinic (the form)
    "/portal/appointments/{id}/answer": PATIENT_ONLY,  # accept or decline a new time offered after a downtime
    "/portal/messages": PATIENT_ONLY,  # conversations with the departments treating them, and notices
    "/portal/messages/{id}": PATIENT_ONLY,  # one thread (their own, else 404), and the reply form
    "/inbox": STAFF_ONLY,  # the messages of the staff member's departments from patients (issue 25)
    "/inbox/{id}": STAFF_ONLY,  # one thread: answer as the department, or close it (issue 25)
    "/portal/access-log": PATIENT_ONLY,  # who has looked at my record: staff accesses from the audit trail
    "/portal/download": PATIENT_ONLY,  # download the whole record: the choice of JSON or PDF
    "/portal/download/record.json": PATIENT_ONLY,  # the whole record as one FHIR Bundle ($everything)
    "/portal/download/record.pdf": PATIENT_ONLY,  # the whole record as a readable PDF
    "/portal/switch": PATIENT_ONLY,  # a parent's switch between their own record and a child's under 15
    # The portal installed as an app (issue 25): fetched without the session, and naming no one.
    "/portal/manifest.webmanifest": PUBLIC,  # the web app manifest: name, scope /portal, icons
    "/portal/worker.js": PUBLIC,  # the service worker: keeps only the offline page and static files
    "/portal/offline": PUBLIC,  # "the portal cannot be reached", shown by the worker
}


def page_routes(
    web: login.WebLogin, site: SiteNode | None, stores: Stores | None = None
) -> tuple[list[BaseRoute], dict[str, str]]:
    """The routes, and the access of each by its path."""
    replication = replication_api.routes(web.service, site)
    routes: list[BaseRoute] = [*login.routes(web), *passkeys.routes(web), *citizen_login.routes(web)]
    routes += [*oauth.routes(web), *conflicts_page.routes(web, site), *assets.routes(), language_route()]
    routes += finder.routes(web)
    routes += break_glass.routes(web)
    routes += worklist.routes(web.service)
    routes += chart_results.routes(web.service, lambda: paths)  # before `paths`: the chart links to it
    routes += chart_release.routes(web, lambda: paths)  # results released to the patient now (issue 25)
    routes += chart_vitals.routes(web.service, lambda: paths)  # before `paths`: the chart links to it
    routes += chart_notes.routes(web, lambda: paths)
    routes += chart_timeline.routes(web.service, lambda: paths)  # before `paths`: the chart links to it
    routes += chart_imaging.routes(web.service, lambda: paths, stores)  # before `paths`: the chart links to it
    routes += chart_viewer.routes(web.service, stores or Stores(None), lambda: paths)  # the images (issue 22)
    routes += chart_medication.routes(web.service, lambda: paths)  # before `paths`: the chart links to it
    routes += chart_vitals_form.routes(web, lambda: paths)  # the forms that record care (issue 21)
    routes += chart_orders.routes(web, lambda: paths)
    routes += chart_given.routes(web, lambda: paths)
    routes += status_page.routes(web.service, site)  # the public status page (issue 23)
    routes += operator.routes(web, site)  # the operators' incidents page (issue 23)
    routes += reentry.routes(web)  # re-entry after a downtime (issue 23)
    routes += clinic_list.routes(web) + booking.routes(web)  # clinic lists and booking (issue 24)
    routes += theatre_board.routes(web)  # the theatre board (issue 24)
    routes += bed_board.routes(web)  # the bed boards (issue 24)
    routes += reduce_page.routes(web)  # down to acute care and back (issue 24)
    routes += imaging_proxy.routes(web, stores or Stores(None))  # the images, through the node (issue 22)
    routes += portal.routes(web)  # the patient portal (issue 25)
    routes += portal_messages.routes(web) + inbox.routes(web)  # messages: the patient's and the department's
    routes += portal_own_data.routes(web)  # the portal's access log and download (issue 25)
    routes += portal_reports.routes(web, stores or Stores(None))  # notes, scans and their images (issue 25)
    routes += portal_appointments.routes(web)  # the patient's changes to their own appointments (issue 25)
    routes += portal_switch.routes(web)  # whose record: a parent's own or a child's under 15 (issue 25)
    routes += portal_installable.routes()  # the portal as an app: manifest, worker, offline page (issue 25)
    paths = {getattr(route, "path", "") for route in [*routes, *replication]}
    routes += chart.routes(web.service, lambda: paths)
    routes.append(Route("/", landing.page(paths, lambda: web.citizen is not None), methods=["GET"]))
    access = ACCESS | {route.path: PUBLIC for route in replication if isinstance(route, Route)}
    missing = sorted({getattr(route, "path", "") for route in routes} - set(access))
    if missing:
        raise RuntimeError(f"routes without a declared access in web/routes.py: {', '.join(missing)}")
    return [*routes, *replication], access
