"""`/portal/messages`: the patient's conversations with the departments treating them (issue 25),
newest first, unread marked; one thread with its messages and a reply form. Threads are modelled
in fhir/message_threads.py; the notices the logistics code writes (fhir/patient_messages.py) are
shown among them, read-only.

A patient replies only while in treatment with the thread's department: an EpisodeOfCare of the
department that is planned, waiting, active or on hold (a referral to a department makes one), an
Encounter of it that is planned or under way, or a thread the department opened in the last
`RECENT_DAYS` days (it asked a question; the answer may come after discharge). Otherwise, and in a
thread the department has closed, the page says why and writes nothing. Every read and write goes
through the core as the patient; opening a thread marks the department's messages read, an
ordinary update. The thread is found by its id and must be the logged-in patient's own: anyone
else's (a child's too: messages are the patient's own business) is the same 404 as no thread.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta
from typing import Any

import orjson

from lifeline.errors import Conflict, NotFound, PreconditionFailed
from lifeline.fhir import message_threads as threads
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.fhir.patient_messages import CATEGORY_SYSTEM as NOTICE_SYSTEM
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.scopes import ScopeSet
from lifeline.web.layout import PageUser
from lifeline.web.pages.chart import form_key, words

# The portal reads with `patient/*.rs`; the messages pages also create replies and mark read.
WRITE_SCOPES = ScopeSet.parse("patient/*.rs patient/Communication.cu")
READ = 500  # the patient's newest messages and threads on the list; more are said to exist
THREAD_READ = 500
RECENT_DAYS = 30
ACTIVE_EPISODE = "planned,waitlist,active,onhold"
ACTIVE_ENCOUNTER = "planned,arrived,triaged,in-progress,onleave"
# Why a patient cannot reply, as the page says it.
NOTICE, CLOSED, NOT_IN_TREATMENT = "notice", "closed", "not-in-treatment"
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # a FHIR id; anything else names no thread


def writer(service: FhirService, user: PageUser, address: str | None) -> Acting:
    """The core acting as the patient, allowed to write Communications (in their own compartment)."""
    principal = user.principal
    assert principal is not None
    return service.as_user(dataclasses.replace(principal, scopes=WRITE_SCOPES), address, user.purpose)


def _name(reference: str, found: dict[str, dict[str, Any]]) -> str:
    return str((found.get(reference) or {}).get("name") or "")


def notice_kind(notice: dict[str, Any]) -> str:
    """A notice's kind (fhir/patient_messages.py KINDS: booked, moved ...), for the page to name."""
    codes = [c.get("code") for cat in notice.get("category") or [] for c in cat.get("coding") or []
             if c.get("system") == NOTICE_SYSTEM]  # fmt: skip
    return str(codes[0]) if codes else ""


def _own(communication: dict[str, Any], patient_id: str) -> bool:
    return (communication.get("subject") or {}).get("reference") == f"Patient/{patient_id}"


def threads_of(core: Acting, patient_id: str, language: str) -> dict[str, Any]:
    """What `/portal/messages` shows: each thread and notice, the newest activity first."""
    found = searched(
        core,
        "Communication",
        [("subject", f"Patient/{patient_id}"), ("_sort", "-_lastUpdated"), ("_count", str(READ)),
         ("_include", "Communication:sender")],
    )  # fmt: skip
    mine = f"Patient/{patient_id}"
    heads: dict[str, dict[str, Any]] = {}
    inside: dict[str, list[dict[str, Any]]] = {}
    for communication in found.matches:
        kind = threads.kind(communication)
        if kind in (threads.THREAD, threads.NOTICE):
            heads[str(communication["id"])] = communication
        elif kind == threads.MESSAGE and (part := threads.thread_of(communication)):
            inside.setdefault(part, []).append(communication)
    shown = []
    for thread_id, head in heads.items():
        messages = inside.get(thread_id, [])
        notice = threads.kind(head) == threads.NOTICE
        latest = max(messages or [head], key=lambda c: threads.in_order(threads.moment(c)))
        unread = (
            (0 if threads.read_at(head) else 1)
            if notice
            else sum(1 for m in messages if (m.get("sender") or {}).get("reference") != mine and not threads.read_at(m))
        )
        shown.append(
            {
                "id": thread_id,
                "href": f"/portal/messages/{thread_id}",
                "kind": threads.NOTICE if notice else threads.THREAD,
                "department": _name(threads.department_of(head), found.included),
                "topic": threads.topic_of(head),
                "notice": notice_kind(head) if notice else None,
                "last": threads.text_of(latest)[:140],
                "when": words.when(threads.moment(latest), language),
                "order": threads.in_order(threads.moment(latest)).isoformat(),
                "unread": unread,
                "closed": head.get("status") == threads.CLOSED and not notice,
            }
        )
    shown.sort(key=lambda t: threads.in_order(str(t.pop("order"))), reverse=True)
    return {"threads": shown, "unread": sum(t["unread"] for t in shown), "more": found.more}


def _thread(core: Acting, patient_id: str, thread_id: str) -> dict[str, Any]:
    """The thread's header (or notice), if it is the patient's own; else NotFound as for nothing."""
    if not ID.fullmatch(thread_id):
        raise NotFound("No such thread")
    head = read(core, "Communication", thread_id)
    if not _own(head, patient_id) or threads.kind(head) not in (threads.THREAD, threads.NOTICE):
        raise NotFound(f"Communication/{thread_id} is not known")
    return head


def read(core: Acting, res_type: str, res_id: str) -> dict[str, Any]:
    """One resource read through the core, as data."""
    answer = core.handle(FhirRequest("read", res_type, res_id))
    return dict(orjson.loads(answer.raw)) if answer.raw is not None else dict(answer.resource or {})


def in_treatment(core: Acting, patient_id: str, head: dict[str, Any], now: datetime) -> bool:
    """Whether the patient may answer the thread's department now (the module's rule)."""
    department = threads.department_of(head)
    if not department.startswith("Organization/"):
        return False
    opened = threads.in_order(str(head.get("sent") or ""))
    if opened >= now - timedelta(days=RECENT_DAYS):
        return True
    patient = f"Patient/{patient_id}"
    for res_type, params in (
        ("EpisodeOfCare", [("patient", patient), ("organization", department), ("status", ACTIVE_EPISODE)]),
        ("Encounter", [("subject", patient), ("service-provider", department), ("status", ACTIVE_ENCOUNTER)]),
    ):
        if searched(core, res_type, [*params, ("_count", "1")]).matches:
            return True
    return False


def _mark_read(core: Acting, messages: list[dict[str, Any]], now: datetime) -> None:
    """Mark each message read, as the recipient (an update with the version read). A message
    changed meanwhile keeps its mark for the next opening; a notice still waiting for its sender
    is left to the messenger, whose update would otherwise meet a version it did not read."""
    for communication in messages:
        if threads.read_at(communication) or communication.get("status") == "preparation":
            continue
        version = (communication.get("meta") or {}).get("versionId")
        update = FhirRequest(
            "update", "Communication", str(communication["id"]), body=threads.marked_read(communication, now)
        )
        update.if_match = f'W/"{version}"' if version else None
        update.prefer_return = "minimal"
        try:
            core.handle(update)
        except (Conflict, PreconditionFailed):
            continue


def thread(core: Acting, patient_id: str, thread_id: str, now: datetime, language: str) -> dict[str, Any]:
    """What `/portal/messages/{id}` shows: the thread's messages, oldest first, and whether (or
    why not) the patient may reply. Opening it marks the department's messages read."""
    head = _thread(core, patient_id, thread_id)
    mine = f"Patient/{patient_id}"
    notice = threads.kind(head) == threads.NOTICE
    if notice:
        messages = [head]
    else:
        messages = searched(
            core,
            "Communication",
            [("part-of", f"Communication/{thread_id}"), ("_sort", "sent"), ("_count", str(THREAD_READ))],
        ).matches
        messages = [m for m in messages if threads.kind(m) == threads.MESSAGE and _own(m, patient_id)]
    department = threads.department_of(head)
    names = searched(core, "Organization", [("_id", department.split("/", 1)[1])]).matches if department else []
    name = str((names[0] if names else {}).get("name") or "")
    unread = [m for m in messages if (m.get("sender") or {}).get("reference") != mine and not threads.read_at(m)]
    # The read mark is the recipient's own: a parent reading a child's thread leaves it unread.
    if core.principal is not None and core.principal.patient_id == patient_id:
        _mark_read(core, unread, now)
    fresh = {str(m.get("id")) for m in unread}
    why_not = (
        NOTICE
        if notice
        else CLOSED
        if head.get("status") == threads.CLOSED
        else None
        if in_treatment(core, patient_id, head, now)
        else NOT_IN_TREATMENT
    )
    return {
        "thread": {
            "id": thread_id,
            "kind": threads.NOTICE if notice else threads.THREAD,
            "topic": threads.topic_of(head),
            "notice": notice_kind(head) if notice else None,
            "department": name,
            "closed": head.get("status") == threads.CLOSED and not notice,
        },
        "messages": [
            {
                "id": m.get("id"),
                "mine": (m.get("sender") or {}).get("reference") == mine,
                "text": threads.text_of(m),
                "when": words.when(threads.moment(m), language),
                "new": str(m.get("id")) in fresh,
            }
            for m in messages
        ],
        "reply": {"allowed": why_not is None, "whyNot": why_not, "longest": threads.LONGEST},
        "values": {"text": "", "key": form_key.new_key()},
        "problems": {},
    }


def reply(
    core: Acting, patient_id: str, thread_id: str, text: str, key: str, now: datetime, language: str
) -> dict[str, Any]:
    """Answer the thread with `text`: the page again with the problem beside the field (nothing
    written), or `written` (the message's id). The form's one-time key `key` makes a second press
    find the first one's message (If-None-Exist) instead of writing another."""
    head = _thread(core, patient_id, thread_id)
    text = threads.tidied(text)
    problems: dict[str, str] = {}
    draft = ReplyDraft(key, problems)
    form_key.check(draft)
    notice = threads.kind(head) == threads.NOTICE
    if notice:
        problems["text"] = NOTICE
    elif head.get("status") == threads.CLOSED:
        problems["text"] = CLOSED
    elif (wrong := threads.problem(text)) is not None:
        problems["text"] = wrong
    elif not in_treatment(core, patient_id, head, now):
        problems["text"] = NOT_IN_TREATMENT
    if problems:
        shown = thread(core, patient_id, thread_id, now, language)
        return {**shown, "values": {"text": text, "key": draft.key}, "problems": problems}
    mine = f"Patient/{patient_id}"
    earlier = searched(
        core, "Communication", [("part-of", f"Communication/{thread_id}"), ("_sort", "-sent"), ("_count", "20")]
    ).matches
    answering = next(
        (f"Communication/{m['id']}" for m in earlier if (m.get("sender") or {}).get("reference") != mine), None
    )
    body = threads.message({**head, "id": thread_id}, mine, text, now, answering, form_key.identifier(draft.key))
    answer = core.handle(FhirRequest("create", "Communication", body=body, if_none_exist=form_key.condition(draft.key)))
    return {"written": written_id(answer.location, answer.resource)}


def written_id(location: str | None, resource: dict[str, Any] | None) -> str:
    """The id of what a create wrote (or found, the second time), from its Location."""
    parts = (location or "").split("/")
    at = parts.index("Communication") if "Communication" in parts else -1
    return parts[at + 1] if 0 <= at < len(parts) - 1 else str((resource or {}).get("id") or "")


@dataclasses.dataclass
class ReplyDraft:
    key: str
    problems: dict[str, str]
