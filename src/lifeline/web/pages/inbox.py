"""`/inbox`: a department's conversations with its patients (issue 25, "Messages"), for the staff
of the departments their active PractitionerRoles name: threads with unread messages from patients
first, then the newest; one thread, where staff answer as the department or close it. Threads are
modelled in fhir/message_threads.py.

Every read and write goes through the core as the staff member, so the care rule decides: a
thread of a patient outside their care is not in their list and opening it is refused like the
chart (403, break the glass); a thread of another department, or an id that names no thread, is
404. Opening a thread marks the patients' messages read (an ordinary update as the staff member).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.clock import today
from lifeline.errors import Conflict, NotFound, PreconditionFailed
from lifeline.fhir import message_threads as threads
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.fhir.request import FhirRequest
from lifeline.web.login import WebLogin, csrf_refused, form_text, threaded
from lifeline.web.pages import acting, answered, page
from lifeline.web.pages.chart import form_key, header, words
from lifeline.web.pages.chart.page import language
from lifeline.web.pages.portal.messages import ReplyDraft, read, written_id

PATH, THREAD_PATH = "/inbox", "/inbox/{id}"
TEMPLATE, THREAD_TEMPLATE = "inbox.html", "inbox_thread.html"
READ = 500  # the departments' newest messages searched; older threads are said to exist
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
CLOSE = "close"


def departments(core: Acting, practitioner: str | None) -> dict[str, str]:
    """The staff member's departments (Organization/id) and their names."""
    if not practitioner:
        return {}
    found = searched(
        core,
        "PractitionerRole",
        [("practitioner", practitioner), ("active", "true"), ("_include", "PractitionerRole:organization")],
    )
    named: dict[str, str] = {}
    for role in found.matches:
        reference = str((role.get("organization") or {}).get("reference") or "")
        if reference.startswith("Organization/"):
            named[reference] = str((found.included.get(reference) or {}).get("name") or reference)
    return named


def _patient_name(patient: dict[str, Any] | None) -> str:
    return header.name(patient) if patient else ""


def inbox(core: Acting, practitioner: str | None, language_: str) -> dict[str, Any]:
    """What `/inbox` shows: the threads of the staff member's departments, unread first."""
    mine = departments(core, practitioner)
    if not mine:
        return {"departments": [], "threads": [], "unread": 0, "more": False}
    listed = ",".join(sorted(mine))
    kinds = f"{threads.SYSTEM}|{threads.THREAD},{threads.SYSTEM}|{threads.MESSAGE}"
    seen: dict[str, dict[str, Any]] = {}
    included: dict[str, dict[str, Any]] = {}
    more = False
    for side in ("recipient", "sender"):  # the patients' messages to them; their own and the threads
        found = searched(
            core,
            "Communication",
            [(side, listed), ("category", kinds), ("_sort", "-_lastUpdated"), ("_count", str(READ)),
             ("_include", "Communication:subject")],
        )  # fmt: skip
        more = more or found.more
        included |= found.included
        seen |= {str(c["id"]): c for c in found.matches if c.get("resourceType") == "Communication"}
    heads = {i: c for i, c in seen.items() if threads.kind(c) == threads.THREAD and threads.department_of(c) in mine}
    inside: dict[str, list[dict[str, Any]]] = {}
    for communication in seen.values():
        part = threads.thread_of(communication)
        if threads.kind(communication) == threads.MESSAGE and part in heads:
            inside.setdefault(part, []).append(communication)
    shown = []
    for thread_id, head in heads.items():
        messages = inside.get(thread_id, [])
        patient = str((head.get("subject") or {}).get("reference") or "")
        from_patient = [m for m in messages if (m.get("sender") or {}).get("reference") == patient]
        latest = max(messages or [head], key=lambda c: threads.in_order(threads.moment(c)))
        shown.append(
            {
                "id": thread_id,
                "href": f"{PATH}/{thread_id}",
                "patient": _patient_name(included.get(patient)),
                "cpr": header.cpr(included[patient]) if patient in included else None,
                "department": mine.get(threads.department_of(head), ""),
                "topic": threads.topic_of(head),
                "last": threads.text_of(latest)[:140],
                "when": words.when(threads.moment(latest), language_),
                "order": threads.in_order(threads.moment(latest)).isoformat(),
                "unread": sum(1 for m in from_patient if not threads.read_at(m)),
                "closed": head.get("status") == threads.CLOSED,
            }
        )
    shown.sort(key=lambda t: threads.in_order(str(t["order"])), reverse=True)
    shown.sort(key=lambda t: t["unread"] == 0)  # stable: unread first, each part newest first
    for entry in shown:
        entry.pop("order")
    return {
        "departments": sorted(mine.values()),
        "threads": shown,
        "unread": sum(t["unread"] for t in shown),
        "more": more,
    }


def _thread(core: Acting, practitioner: str | None, thread_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The thread's header, if it is one of the staff member's departments'; else NotFound."""
    if not ID.fullmatch(thread_id):
        raise NotFound("No such thread")
    mine = departments(core, practitioner)
    head = read(core, "Communication", thread_id)  # outside care: refused here, as the chart is
    if threads.kind(head) != threads.THREAD or threads.department_of(head) not in mine:
        raise NotFound(f"Communication/{thread_id} is not a thread of your departments")
    return head, mine


def _messages(core: Acting, thread_id: str) -> list[dict[str, Any]]:
    found = searched(
        core, "Communication", [("part-of", f"Communication/{thread_id}"), ("_sort", "sent"), ("_count", str(READ))]
    )
    return [m for m in found.matches if threads.kind(m) == threads.MESSAGE]


def thread(core: Acting, practitioner: str | None, thread_id: str, now: datetime, language_: str) -> dict[str, Any]:
    """What `/inbox/{id}` shows: the patient, the messages oldest first, the reply form; opening
    it marks the patient's messages read."""
    head, mine = _thread(core, practitioner, thread_id)
    patient_ref = str((head.get("subject") or {}).get("reference") or "")
    patient = read(core, "Patient", patient_ref.split("/", 1)[1]) if patient_ref.startswith("Patient/") else {}
    messages = _messages(core, thread_id)
    unread = [m for m in messages if (m.get("sender") or {}).get("reference") == patient_ref and not threads.read_at(m)]
    for message in unread:
        version = (message.get("meta") or {}).get("versionId")
        update = FhirRequest("update", "Communication", str(message["id"]), body=threads.marked_read(message, now))
        update.if_match, update.prefer_return = (f'W/"{version}"' if version else None), "minimal"
        try:
            core.handle(update)
        except (Conflict, PreconditionFailed):
            continue  # changed meanwhile: marked at the next opening
    fresh = {str(m.get("id")) for m in unread}
    person = header.person(patient, today(lambda: now), language_) if patient else None
    closed = head.get("status") == threads.CLOSED
    return {
        "thread": {
            "id": thread_id,
            "topic": threads.topic_of(head),
            "department": mine.get(threads.department_of(head), ""),
            "closed": closed,
            "version": (head.get("meta") or {}).get("versionId"),
        },
        "patient": {
            "id": person["id"],
            "name": person["name"],
            "cpr": person["cpr"],
            "href": f"/patients/{person['id']}",
        }
        if person
        else None,
        "messages": [
            {
                "id": m.get("id"),
                "fromPatient": (m.get("sender") or {}).get("reference") == patient_ref,
                "text": threads.text_of(m),
                "when": words.when(threads.moment(m), language_),
                "new": str(m.get("id")) in fresh,
                "readAt": words.when(threads.read_at(m), language_),
            }
            for m in messages
        ],
        "reply": {"allowed": not closed, "longest": threads.LONGEST},
        "values": {"text": "", "key": form_key.new_key()},
        "problems": {},
    }


def answer(
    core: Acting, practitioner: str | None, thread_id: str, text: str, key: str, now: datetime, language_: str
) -> dict[str, Any]:
    """Answer the thread as its department: the page again with the problem beside the field
    (nothing written), or `written`. A second press of the same form finds the first message."""
    head, _ = _thread(core, practitioner, thread_id)
    text = threads.tidied(text)
    draft = ReplyDraft(key, {})
    form_key.check(draft)
    wrong = threads.CLOSED if head.get("status") == threads.CLOSED else threads.problem(text)
    if wrong is not None or draft.problems:
        shown = thread(core, practitioner, thread_id, now, language_)
        problems = {**draft.problems, **({"text": wrong} if wrong else {})}
        return {**shown, "values": {"text": text, "key": draft.key}, "problems": problems}
    patient = str((head.get("subject") or {}).get("reference") or "")
    last = next(
        (m for m in reversed(_messages(core, thread_id)) if (m.get("sender") or {}).get("reference") == patient), None
    )
    answering = f"Communication/{last['id']}" if last else None
    body = threads.message(head, threads.department_of(head), text, now, answering, form_key.identifier(draft.key))
    created = core.handle(
        FhirRequest("create", "Communication", body=body, if_none_exist=form_key.condition(draft.key))
    )
    return {"written": written_id(created.location, created.resource)}


def close(core: Acting, practitioner: str | None, thread_id: str) -> None:
    """Close the thread: the patient can no longer answer it (its header's status `completed`)."""
    head, _ = _thread(core, practitioner, thread_id)
    if head.get("status") == threads.CLOSED:
        return
    version = (head.get("meta") or {}).get("versionId")
    body = {**{k: v for k, v in head.items() if k != "meta"}, "status": threads.CLOSED}
    core.handle(
        FhirRequest("update", "Communication", thread_id, body=body, if_match=f'W/"{version}"' if version else None)
    )


def start(core: Acting, department: str, patient_id: str, topic: str, text: str, key: str, now: datetime) -> str:
    """Open a thread with a patient as `department` (Organization/id) and write its first message;
    the id of the thread. Written through the core as the staff member (the care rule decides)."""
    head = threads.header(f"Patient/{patient_id}", department, topic[: threads.TOPIC_LONGEST], now)
    head["identifier"] = [form_key.identifier(key, "thread")]
    made = core.handle(
        FhirRequest("create", "Communication", body=head, if_none_exist=form_key.condition(key, "thread"))
    )
    thread_id = written_id(made.location, made.resource)
    first = threads.message(
        {**head, "id": thread_id}, department, threads.tidied(text), now, None, form_key.identifier(key)
    )
    core.handle(FhirRequest("create", "Communication", body=first, if_none_exist=form_key.condition(key)))
    return thread_id


def routes(web: WebLogin) -> list[Route]:
    service = web.service

    def practitioner(request: Request) -> str | None:
        return request.user.fhir_user if str(request.user.fhir_user or "").startswith("Practitioner/") else None

    def listed(request: Request) -> dict[str, Any]:
        return inbox(acting(service, request), practitioner(request), language())

    def opened(request: Request) -> dict[str, Any]:
        core, thread_id = acting(service, request), request.path_params["id"]
        shown = thread(core, practitioner(request), thread_id, service.clock(), language())
        return {**shown, "sent": request.query_params.get("sent") == "1", "csrf": request.user.csrf}

    def posted(request: Request, form: FormData | None) -> Response:
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        core, thread_id = acting(service, request), request.path_params["id"]
        if form_text(form, "action") == CLOSE:
            close(core, practitioner(request), thread_id)
            return RedirectResponse(f"{PATH}/{thread_id}", 303)
        text, key = form_text(form, "text"), form_text(form, "key")
        shown = answer(core, practitioner(request), thread_id, text, key, service.clock(), language())
        if "written" in shown:
            return RedirectResponse(f"{PATH}/{thread_id}?{urlencode({'sent': '1'})}#message-{shown['written']}", 303)
        return answered(request, THREAD_TEMPLATE, 400, {**shown, "sent": False, "csrf": request.user.csrf})

    return [
        Route(PATH, page(TEMPLATE, listed), methods=["GET"]),
        Route(THREAD_PATH, page(THREAD_TEMPLATE, opened), methods=["GET"]),
        Route(THREAD_PATH, threaded(posted), methods=["POST"]),
    ]
