"""`/patients/{id}/orders`: ordering a laboratory test or an imaging study (issue 21, "Record
care"), and the patient's open and recent orders, newest first, so the order just written is seen
after the redirect (POST-redirect-GET).

An order is a ServiceRequest (https://hl7.org/fhir/R4/servicerequest.html): status active, intent
order, its category from SNOMED CT (108252007 laboratory procedure, 363679005 imaging), its code
from a short list of common orders coded as the generator codes results and studies
(generate/labs.py, generate/imaging.py), a priority, the day it is wanted, the reason in words,
the clinician as requester and the current stay as its encounter. It is written through the core's
audited, validated entry as the clinician, as a conditional create keyed by the form's one-time
key (form_key.py), so the form sent twice writes one order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlencode

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.routing import Route

from lifeline.clock import COPENHAGEN, fhir_instant
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.web.login import WebLogin, form_text
from lifeline.web.pages import acting
from lifeline.web.pages.chart import form_key, header, recording, words
from lifeline.web.pages.chart.page import built_parts, chart_header, language, part_path
from lifeline.web.pages.chart.vitals_form import current_encounter

PATH = part_path("orders")
TEMPLATE = "chart/orders.html"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
CATEGORIES = {"laboratory": ("108252007", "Laboratory procedure"), "imaging": ("363679005", "Imaging")}
PRIORITIES = ("routine", "urgent", "asap", "stat")  # https://hl7.org/fhir/R4/valueset-request-priority.html
OPEN = "draft,active,on-hold"
OPEN_READ, RECENT_READ = 50, 20  # open orders, and the newest of the others
AHEAD_DAYS = 365  # an order wanted further ahead is a booking, not an order
MOST_REASON = 1000


class Orderable(NamedTuple):
    category: str
    display: str  # LOINC's name
    danish: str  # the record's own


# The common orders, by LOINC code: single tests as the generator codes its results, the usual
# panels, and the studies the generator images (those it codes in LOINC).
# fmt: off
ORDERABLE = {
    "58410-2": Orderable("laboratory", "CBC panel - Blood by Automated count",
                         "Hæmatologi (hæmoglobin, leukocytter, trombocytter)"),
    "24326-1": Orderable("laboratory", "Electrolytes 1998 panel - Serum or Plasma", "Elektrolytter"),
    "24362-6": Orderable("laboratory", "Renal function 2000 panel - Serum or Plasma", "Nyretal"),
    "24325-3": Orderable("laboratory", "Hepatic function 2000 panel - Serum or Plasma", "Levertal"),
    "24331-1": Orderable("laboratory", "Lipid 1996 panel - Serum or Plasma", "Lipidstatus"),
    "1988-5": Orderable("laboratory", "C reactive protein [Mass/volume] in Serum or Plasma", "C-reaktivt protein"),
    "14749-6": Orderable("laboratory", "Glucose [Moles/volume] in Serum or Plasma", "Glukose"),
    "59261-8": Orderable("laboratory", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol", "HbA1c"),
    "3016-3": Orderable("laboratory", "Thyrotropin [Units/volume] in Serum or Plasma", "TSH"),
    "2276-4": Orderable("laboratory", "Ferritin [Mass/volume] in Serum or Plasma", "Ferritin"),
    "36643-5": Orderable("imaging", "XR Chest 2 Views", "Røntgen af thorax"),
    "24627-2": Orderable("imaging", "CT Chest", "CT af thorax"),
    "24725-4": Orderable("imaging", "CT Head", "CT af cerebrum"),
    "24590-2": Orderable("imaging", "MR Brain", "MR af cerebrum"),
    "24558-9": Orderable("imaging", "US Abdomen", "Ultralyd af abdomen"),
}
# fmt: on


@dataclass
class Draft:
    """The order form as filled in, and what is wrong with it (field -> a problem's name, which
    the template words: `code`: `unknown`; `priority`: `unknown`; `occurrence`: `missing`,
    `format`, `past`, `far`; `reason`: `missing`, `too-long`; `key`: `missing`)."""

    key: str = field(default_factory=form_key.new_key)
    code: str = ""
    priority: str = "routine"
    occurrence: str = ""
    reason: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    refusal: str = ""

    def shown(self) -> dict[str, Any]:
        choices = [{"code": code, "category": o.category, "name": o.danish} for code, o in ORDERABLE.items()]
        return {"key": self.key, "code": self.code, "priority": self.priority, "occurrence": self.occurrence,
                "reason": self.reason, "problems": self.problems, "refusal": self.refusal, "choices": choices,
                "priorities": list(PRIORITIES), "most": MOST_REASON}  # fmt: skip


def draft_of(form: FormData, today_: date) -> Draft:
    """The posted order form, checked on `today_` (in Danish time)."""
    reason = form_text(form, "reason").replace("\r\n", "\n").strip()
    draft = Draft(form_text(form, "key"), form_text(form, "code"), form_text(form, "priority"),
                  form_text(form, "occurrence").strip(), reason)  # fmt: skip
    if draft.code not in ORDERABLE:
        draft.problems["code"] = "unknown"
    if draft.priority not in PRIORITIES:
        draft.problems["priority"] = "unknown"
        draft.priority = "routine"
    try:
        wanted = date.fromisoformat(draft.occurrence) if draft.occurrence else None
    except ValueError:
        draft.problems["occurrence"] = "format"
    else:
        if wanted is None:
            draft.problems["occurrence"] = "missing"
        elif wanted < today_:
            draft.problems["occurrence"] = "past"
        elif wanted > today_ + timedelta(days=AHEAD_DAYS):
            draft.problems["occurrence"] = "far"
    if len(reason) > MOST_REASON:
        draft.problems["reason"] = "too-long"
    elif not reason and ORDERABLE.get(draft.code, Orderable("", "", "")).category == "imaging":
        draft.problems["reason"] = "missing"  # the radiologist plans the study by the question asked
    form_key.check(draft)
    return draft


def write(core: Acting, patient_id: str, draft: Draft, author: str, now: datetime) -> str:
    """Write `draft` as an order on `patient_id` by `author`, or find the one its key wrote; its id."""
    encounter = current_encounter(core, patient_id)
    body = service_request(draft, patient_id, author, now, encounter)
    answer = core.handle(
        FhirRequest("create", "ServiceRequest", body=body, if_none_exist=form_key.condition(draft.key))
    )
    written = orjson.loads(answer.raw) if answer.raw is not None else answer.resource or {}
    return str(written.get("id") or "")


def service_request(
    draft: Draft, patient_id: str, author: str, now: datetime, encounter: dict[str, Any] | None
) -> dict[str, Any]:
    """The ServiceRequest of a checked order form."""
    orderable = ORDERABLE[draft.code]
    category, category_name = CATEGORIES[orderable.category]
    order: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": [form_key.identifier(draft.key)],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": SNOMED, "code": category, "display": category_name}]}],
        "priority": draft.priority,
        "code": {
            "coding": [{"system": LOINC, "code": draft.code, "display": orderable.display}],
            "text": orderable.danish,
        },  # fmt: skip
        "subject": {"reference": f"Patient/{patient_id}"},
        "occurrenceDateTime": draft.occurrence,
        "authoredOn": fhir_instant(now),
        "requester": {"reference": author},
    }
    if encounter is not None:
        order["encounter"] = {"reference": f"Encounter/{encounter['id']}"}
    if draft.reason:
        order["reasonCode"] = [{"text": draft.reason}]
    return order


def orders(
    core: Acting, patient_id: str, now: datetime, language_: str, built: frozenset[str], draft: Draft, written: str
) -> dict[str, Any]:
    """What the page shows: the header, the open orders and the newest others, and the form."""
    today_ = now.astimezone(COPENHAGEN).date()
    read, top = chart_header(core, patient_id, today_, language_, built, showing="orders")
    including = (("_sort", "-authored"), ("_include", "ServiceRequest:requester"))
    open_, people = read.search("ServiceRequest", ("status", OPEN), *including, ("_count", str(OPEN_READ)))
    more_open = read.more
    done, more_people = read.search(
        "ServiceRequest", ("status", "completed,revoked"), *including, ("_count", str(RECENT_READ))
    )
    included = {**people, **more_people}
    if not draft.occurrence:
        draft.occurrence = today_.isoformat()
    shown_open = [order(o, included, language_) for o in open_]
    return {
        **top,
        "open": shown_open,
        "moreOpen": more_open,
        "recent": [order(o, included, language_) for o in done],
        "written": written if any(o["id"] == written for o in shown_open) else "",
        "form": draft.shown(),
        "today": today_.isoformat(),
        "language": language_,
    }


def order(request: dict[str, Any], included: dict[str, dict[str, Any]], language_: str) -> dict[str, Any]:
    """One order as the clinician reads it."""
    categories = [words.coded(c, SNOMED) for c in request.get("category") or []]
    kind = next((name for name, (code, _) in CATEGORIES.items() if code in categories), None)
    requester = request.get("requester") or {}
    person = included.get(requester.get("reference", ""), {})
    named = header.name(person) if person.get("resourceType") == "Practitioner" else None
    occurrence = request.get("occurrenceDateTime") or (request.get("occurrencePeriod") or {}).get("start")
    reasons = [words.concept(r) for r in request.get("reasonCode") or []]
    return {
        "id": request.get("id"),
        "what": words.concept(request.get("code")),
        "category": kind,
        "priority": request.get("priority"),
        "status": request.get("status"),
        "ordered": words.when(request.get("authoredOn"), language_),
        "wanted": words.when(occurrence, language_, day=True),
        "requester": named or requester.get("display"),
        "reason": "; ".join(r for r in reasons if r),
    }


def routes(web: WebLogin, paths: Callable[[], set[str]] = set) -> list[Route]:
    """The orders page and its form, posted to the same address and answered with a redirect."""
    service = web.service

    def shown(request: Request, draft: Draft) -> dict[str, Any]:
        core, built = acting(service, request), built_parts(paths())
        written = request.query_params.get("written", "")[:64]
        values = orders(core, request.path_params["id"], service.clock(), language(), built, draft, written)
        return {**values, "csrf": request.user.csrf}

    def drafted(request: Request, form: FormData) -> Draft:
        return draft_of(form, service.clock().astimezone(COPENHAGEN).date())

    def save(request: Request, draft: Draft, author: str) -> str:
        patient_id = request.path_params["id"]
        order_id = write(acting(service, request), patient_id, draft, author, service.clock())
        where = PATH.replace("{id}", patient_id)
        return f"{where}?{urlencode({'written': order_id})}#order-{order_id}"

    return recording.routes(web, PATH, TEMPLATE, shown=shown, blank=Draft, drafted=drafted, save=save)
