"""AuditEvent read and search, answered from the audit trail itself (issue 6; BALP
https://profiles.ihe.net/ITI/BALP/, search https://hl7.org/fhir/R4/auditevent.html#search).

Parameters: `patient`, `agent` (a Practitioner reference or a login name), `date` (with the
prefixes eq ne gt ge lt le sa eb), `action`, `outcome`, `type`, `subtype`, `_count`; newest
first, paged by an opaque cursor. Ids are `{node}.{seq}`: the record's place in its node's chain.

Who sees what: privacy officers, administrators and system services search everyone's access;
other staff only their own; a patient only the accesses to their own record, and for them each
access names the staff member, their role and department, and why (care, or the reason given
when the glass was broken; a refused access gives none). A patient is shown only what concerns
them (issue 19.12): who, when, what was done and how it ended, the patient entities of themself
and the children they may see, and the resources of those patients; not other patients, not the
query a staff member typed, not the staff member's login, address or token.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from lifeline.access.break_glass import GRANT, REASON_SYSTEM
from lifeline.audit import index
from lifeline.audit.access import OWNER
from lifeline.errors import BadRequest, NotFound
from lifeline.fhir import paging
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.identity import records
from lifeline.search.extract.date import date_range
from lifeline.storage.session import Session

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

_TOKENS = ("action", "outcome", "type", "subtype")
_OVERSEERS = frozenset({"privacy-officer", "administrator"})
_PREFIXES = ("eq", "ne", "gt", "ge", "lt", "le", "sa", "eb", "ap")


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    if request.interaction == "read":
        return _read(service, request)
    return _search(service, request)


def _read(service: FhirService, request: FhirRequest) -> FhirResponse:
    node_id, _, seq = (request.id or "").rpartition(".")
    if not node_id or not seq.isdecimal():
        raise NotFound(f"AuditEvent/{request.id} is not known")
    where, args = _limits(service, request)
    where.append("e.node_id = ? AND e.seq = ?")
    args += [node_id, int(seq)]
    with service.repo.reading() as session:
        rows = session.audit_search(" AND ".join(where), args, 1)
        if not rows:
            raise NotFound(f"AuditEvent/{request.id} is not known")
        return FhirResponse(200, resource=_shown(service, session, request, rows, _patient_grants(service, request))[0])


def _search(service: FhirService, request: FhirRequest) -> FhirResponse:
    where, args = _limits(service, request)
    count = paging.count_param(None, service.settings.default_count, service.settings.max_count)
    kept: list[tuple[str, str]] = []
    cursor: dict[str, Any] | None = None
    for name, value in request.params:
        if name in ("patient", "agent", *_TOKENS):
            values = [_value(name, v) for v in value.split(",") if v]
            if not values:
                raise BadRequest(f"{name} needs a value")
            where.append(_indexed(name, len(values)))
            args += [name, *values]
        elif name == "date":
            condition, bounds = _date(value)
            where.append(condition)
            args += bounds
        elif name == "_count":
            count = paging.count_param(value, service.settings.default_count, service.settings.max_count)
        elif name == "_page":
            cursor = paging.decode_cursor(value)
            continue
        elif request.prefer_handling == "strict":
            raise BadRequest(f"AuditEvent search does not support the parameter {name}")
        else:
            continue
        kept.append((name, value))
    if cursor is not None:
        where.append("(e.recorded < ? OR (e.recorded = ? AND (e.node_id < ? OR (e.node_id = ? AND e.seq < ?))))")
        try:
            args += [cursor["r"], cursor["r"], cursor["n"], cursor["n"], int(cursor["s"])]
        except (KeyError, TypeError, ValueError):
            raise BadRequest("The paging cursor is not valid; follow the Bundle's links as given") from None
    index.catch_up(service.repo)  # every committed record is searchable
    grants = _patient_grants(service, request)
    with service.repo.reading() as session:
        rows = session.audit_search(" AND ".join(where) or "1 = 1", args, count + 1)
        entries = [
            {"fullUrl": f"{request.base}/AuditEvent/{shown['id']}", "resource": shown, "search": {"mode": "match"}}
            for shown in _shown(service, session, request, rows[:count], grants)
        ]
    links = [paging.link("self", request.base, "AuditEvent", kept)]
    if len(rows) > count:
        last = rows[count - 1]
        token = paging.encode_cursor({"r": last[2], "n": last[0], "s": int(last[1])})
        links.append(paging.link("next", request.base, "AuditEvent", [*kept, ("_count", str(count)), ("_page", token)]))
    return FhirResponse(200, resource={"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries})


def _limits(service: FhirService, request: FhirRequest) -> tuple[list[str], list[Any]]:
    """What the principal may see, as conditions every query carries."""
    principal = request.principal
    if principal is None or principal.kind == "system":
        return [], []
    if principal.kind == "patient":
        return [_indexed("patient", 1)], ["patient", principal.patient_id or ""]
    if oversees(service, principal.subject):
        return [], []
    return [_indexed("agent", 1)], ["agent", principal.subject]


def oversees(service: FhirService, username: str) -> bool:
    """Whether a staff login is a privacy officer's or an administrator's."""
    user = records.get_user(service.repo, username)
    return user is not None and bool(_OVERSEERS & set(user.extra_roles))


def _indexed(param: str, n: int) -> str:
    marks = ", ".join("?" for _ in range(n))
    return (
        "EXISTS (SELECT 1 FROM audit_index i WHERE i.param = ? AND i.value IN"
        f" ({marks}) AND i.recorded = e.recorded AND i.node_id = e.node_id AND i.seq = e.seq)"
    )


def _value(name: str, value: str) -> str:
    if name == "patient":
        return value.removeprefix("Patient/")
    if name in _TOKENS:
        return value.rpartition("|")[2]
    return value


def _date(value: str) -> tuple[str, list[Any]]:
    prefix, text = (value[:2], value[2:]) if value[:2] in _PREFIXES else ("eq", value)
    try:
        low, high = date_range(text)
    except ValueError:
        raise BadRequest(f"date must be a FHIR date or dateTime, optionally with a prefix; not {value!r}") from None
    lo, hi = _text(low), _text(high)
    conditions = {
        "eq": ("e.recorded >= ? AND e.recorded <= ?", [lo, hi]),
        "ap": ("e.recorded >= ? AND e.recorded <= ?", [lo, hi]),
        "ne": ("(e.recorded < ? OR e.recorded > ?)", [lo, hi]),
        "gt": ("e.recorded > ?", [hi]),
        "sa": ("e.recorded > ?", [hi]),
        "ge": ("e.recorded >= ?", [lo]),
        "lt": ("e.recorded < ?", [lo]),
        "eb": ("e.recorded < ?", [lo]),
        "le": ("e.recorded <= ?", [hi]),
    }
    sql, args = conditions[prefix]
    return f"({sql})", args


def _text(micros: int) -> str:
    """A bound in the stored form of `recorded` (UTC, microseconds), so text compares as time."""
    moment = datetime.fromtimestamp(micros / 1_000_000, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _shown(
    service: FhirService,
    session: Session,
    request: FhirRequest,
    rows: Sequence[Sequence[Any]],
    grants: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"id": f"{row[0]}.{row[1]}", **orjson.loads(row[3])} for row in rows]
    principal = request.principal
    if principal is None or principal.kind != "patient":
        return events
    allowed = _family(service, session, request, events)
    return [_for_patient(session, event, grants, allowed) for event in events]


def _family(service: FhirService, session: Session, request: FhirRequest, events: list[dict[str, Any]]) -> set[str]:
    """Of the patients the records name, those the asking patient may see: themself and the
    children the access rule gives them (one statement)."""
    from lifeline.access.enforce import rule_for

    own = request.principal.patient_id if request.principal is not None else None
    named = {patient for event in events for patient in _patients_named(event)}
    rule = rule_for(service, session, request)
    allowed = rule.allowed_patients(session, sorted(named)) if rule is not None and named else set()
    return allowed | ({own} if own else set())


def _patients_named(event: dict[str, Any]) -> Iterator[str]:
    for entity in event.get("entity") or []:
        patient = _patient_entity(entity)
        if patient is not None:
            yield patient
        for detail in entity.get("detail") or []:
            if detail.get("type") == OWNER and isinstance(detail.get("valueString"), str):
                yield detail["valueString"]


def _patient_entity(entity: dict[str, Any]) -> str | None:
    reference = str((entity.get("what") or {}).get("reference", ""))
    patient = reference.removeprefix("Patient/")
    return patient if patient != reference and "/" not in patient else None


_SHOWN_TO_PATIENT = (
    "resourceType",
    "id",
    "type",
    "subtype",
    "action",
    "recorded",
    "outcome",
    "purposeOfEvent",
    "source",
)
_AGENT_SHOWN_TO_PATIENT = ("type", "role", "requestor", "name", "purposeOfUse")


def _for_patient(
    session: Session, event: dict[str, Any], grants: list[dict[str, Any]], allowed: set[str]
) -> dict[str, Any]:
    """The record as the patient sees it: who, when, what and how it ended, and only their own
    (and their children's) patient entities and resources."""
    shown = {key: event[key] for key in _SHOWN_TO_PATIENT if key in event}
    agents = [{**agent, "who": dict(agent.get("who") or {})} for agent in event.get("agent") or []]
    _explain(session, {**shown, "agent": agents}, grants)
    shown["agent"] = [_agent_for_patient(session, agent, allowed) for agent in agents]
    entities = []
    for entity in event.get("entity") or []:
        if "query" in entity:
            continue  # what a staff member typed may name anyone
        patient = _patient_entity(entity)
        if patient is not None:
            if patient in allowed:
                entities.append(entity)
            continue
        owners = [d for d in entity.get("detail") or [] if d.get("type") == OWNER and d.get("valueString") in allowed]
        if owners:  # a resource of theirs; one of nobody's, or of someone else, is not shown
            entities.append({**entity, "detail": owners})
    if entities:
        shown["entity"] = entities
    return shown


def _agent_for_patient(session: Session, agent: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    """Who: a practitioner by reference (named and placed by `_explain`), the patient themself, a
    relative by name only (their own record is theirs), an app or service by its name."""
    shown: dict[str, Any] = {key: agent[key] for key in _AGENT_SHOWN_TO_PATIENT if key in agent}
    who = agent.get("who") or {}
    reference = str(who.get("reference", ""))
    if reference.startswith("Practitioner/") or reference.removeprefix("Patient/") in allowed:
        shown["who"] = {key: who[key] for key in ("reference", "display") if key in who}
    elif reference:
        shown["who"] = {"display": _person(session, reference)}
    else:
        shown["who"] = {"display": str(who.get("display", "unknown"))}
    return shown


def _patient_grants(service: FhirService, request: FhirRequest) -> list[dict[str, Any]]:
    """The break-the-glass grants on the asking patient's record, read once per request."""
    principal = request.principal
    if principal is None or principal.kind != "patient":
        return []
    patient = principal.patient_id or ""
    grants = (orjson.loads(v.content) for page in service.repo.pages(GRANT, 500) for v in page if v.content)
    return [grant for grant in grants if grant.get("patient") == patient]


def _explain(session: Session, event: dict[str, Any], grants: list[dict[str, Any]]) -> None:
    """For the patient: who (name, role, department) and why: care, or the reason given when the
    glass was broken. A refused or failed access was not care, and gives no reason."""
    succeeded = event.get("outcome") == "0"
    for agent in event.get("agent") or []:
        reference = (agent.get("who") or {}).get("reference", "")
        if not reference.startswith("Practitioner/"):
            continue
        practitioner = reference.split("/", 1)[1]
        agent["who"]["display"] = _name(session, practitioner)
        roles = _roles(session, practitioner)
        if roles:
            agent["role"] = [{"text": text} for text in roles]
        if not succeeded:
            continue
        grant = _grant_at(grants, agent.get("altId"), str(event.get("recorded", "")))
        if grant is not None:
            agent["purposeOfUse"] = [
                {"coding": [{"system": REASON_SYSTEM, "code": grant["reason"]}], "text": grant["text"]}
            ]
        else:
            agent["purposeOfUse"] = [{"coding": [{"system": REASON_SYSTEM, "code": "TREAT"}], "text": "Care"}]


def _name(session: Session, practitioner: str) -> str:
    stored = session.read("Practitioner", practitioner)
    if stored is None or not stored.content:
        return f"Practitioner/{practitioner}"
    return _human_name(orjson.loads(stored.content)) or practitioner


def _person(session: Session, reference: str) -> str:
    """A relative's (a parent's) name, by their Patient or RelatedPerson record."""
    res_type, _, res_id = reference.partition("/")
    stored = session.read(res_type, res_id) if res_type in ("Patient", "RelatedPerson") else None
    name = _human_name(orjson.loads(stored.content)) if stored is not None and stored.content else ""
    return name or "a relative"


def _human_name(resource: dict[str, Any]) -> str:
    name = (resource.get("name") or [{}])[0]
    return str(name.get("text") or " ".join([*name.get("given", []), name.get("family", "")]).strip())


def _roles(session: Session, practitioner: str) -> list[str]:
    """'physician, Cardiology' for each of the practitioner's roles."""
    keys = session.references_to([("Practitioner", practitioner)], "PractitionerRole", ["practitioner"])
    shown = []
    for stored in session.read_many(keys):
        role = orjson.loads(stored.content or "{}")
        codes = [c.get("display") or c.get("code") for cc in role.get("code", []) for c in cc.get("coding", [])]
        department = (role.get("organization") or {}).get("display") or ""
        shown.append(", ".join(part for part in [*codes[:1], department] if part))
    return [text for text in shown if text]


def _grant_at(grants: list[dict[str, Any]], user: Any, recorded: str) -> dict[str, Any] | None:
    if not isinstance(user, str):
        return None
    for grant in grants:
        if grant.get("user") == user and grant.get("granted_at", "") <= recorded[:23] + "Z" <= grant.get(
            "expires_at", ""
        ):
            return grant
    return None
