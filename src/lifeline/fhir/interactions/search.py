"""search: GET/POST [base]/[type]?params, system-level and compartment search (https://hl7.org/fhir/R4/search.html).

Matching is compiled by lifeline.search.query into SQL over the typed index tables; the result
side (order, paging, includes, partial resources) is lifeline.search.results. Every page is
keyset-paged by a sealed cursor holding the position of its last (or first) row (fhir/paging.py),
so a walk over a stable set neither repeats nor skips a resource while others write.
`Patient/{id}/$everything` (interactions/everything.py) pages through the same `searchset`.

A system-level search may name its types (`_type`, as the scope gate reads it); every page is
kept to them. For staff and patients the access rule is one more condition of the same WHERE,
and parameters over elements withheld from them (a protected patient's address) neither match
nor sort what they may not see (search/query/withheld.py). A staff member searching Patients by
the Patient's own parameters is told when a patient outside their care matched (they may break
the glass); no other search says anything of what the rule withheld.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from lifeline import jsontext
from lifeline.access.enforce import rule_for, suppressed_issue
from lifeline.access.redact import redacted, withholding_for
from lifeline.access.rule import AccessRule
from lifeline.errors import BadRequest, Issue
from lifeline.fhir import paging
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.search.query.withheld import Withholding
from lifeline.search.results.include import IncludeRule, parse_includes, resolve
from lifeline.search.results.order import parse_sort
from lifeline.search.results.summary import Selection, apply, parse_selection
from lifeline.storage.matching import Match
from lifeline.storage.ordering import Page, SortExpression

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService
    from lifeline.storage.records import StoredVersion
    from lifeline.storage.session import Session

# Result parameters honoured here; the other ones (_contained, _containedType, _offset) are
# reported as unsupported rather than silently ignored.
HANDLED = frozenset(
    {"_count", "_page", "_total", "_format", "_pretty", "_sort", "_include", "_revinclude", "_summary", "_elements"}
)


@dataclass
class SearchPlan:
    """Everything a search page needs, parsed and checked before the database is touched."""

    res_type: str | None
    match: Match
    path: str  # the URL path of the links, relative to the base
    count: int
    total_mode: str
    page: Page
    order: list[SortExpression] = field(default_factory=list)
    includes: list[IncludeRule] = field(default_factory=list)
    selection: Selection = field(default_factory=Selection)
    issues: list[Issue] = field(default_factory=list)
    paged: bool = False  # a cursor was given: not the first page
    # The total the first page counted, carried by the cursor: a later page does not count again
    # (issue 27: every page of 43,000 Observations recounted them, 7 s a page).
    carried_total: int | None = None
    # Patients by their own parameters: staff may be told that a patient outside their care matched
    tells_withheld: bool = False
    # $everything: also return what the page references among these types (mode include)
    referenced_types: frozenset[str] | None = None


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    from lifeline.search.query import compile_match, parse_query
    from lifeline.search.query.compartment import check_compartment, member_condition

    res_type = request.resource_type
    params = request.params
    types: tuple[str, ...] | None = None
    if any(name == "_type" for name, _ in params):
        if res_type is not None:
            raise BadRequest("_type names the types of a system-level search (GET [base]?_type=…) only")
        types = paging.types_param(params, service.registry.resource_types)
        params = [(name, value) for name, value in params if name != "_type"]
    withholding = withholding_for(service, request)
    clauses, unknown = parse_query(res_type or "Resource", params, service.registry)
    match = compile_match(res_type or "Resource", clauses, service.registry, withholding=withholding)
    if types is not None:
        match = match.and_(f"r.res_type IN ({', '.join('?' for _ in types)})", types)
    path = res_type or ""
    if request.compartment is not None:
        compartment_type, compartment_id = request.compartment
        check_compartment(compartment_type)
        if res_type is None:
            raise BadRequest("Compartment search needs a resource type: Patient/{id}/Observation")
        member, member_args = member_condition(res_type, compartment_id, service.registry)
        match = match.and_(member, member_args)
        path = f"{compartment_type}/{compartment_id}/{res_type}"
    plan = plan_search(service, request, res_type, match, path, unknown, withholding)
    plan.tells_withheld = (
        res_type == "Patient" and request.compartment is None and all(item.link is None for item in clauses)
    )
    return FhirResponse(200, resource=searchset(service, request, plan))


def plan_search(
    service: FhirService,
    request: FhirRequest,
    res_type: str | None,
    match: Match,
    path: str,
    unknown: list[str],
    withholding: Withholding | None = None,
) -> SearchPlan:
    """Parse and check the result parameters; unknown ones are warnings, or a 400 when strict."""
    from lifeline.search.query import RESULT_PARAMETERS

    values: dict[str, list[str]] = {}
    for name, value in request.params:
        values.setdefault(name.partition(":")[0], []).append(value)
    first = {name: v[0] for name, v in values.items()}
    count = paging.count_param(first.get("_count"), service.settings.default_count, service.settings.max_count)
    total_mode = first.get("_total", "accurate")
    if total_mode not in ("none", "estimate", "accurate"):
        raise BadRequest(f"_total must be none, estimate or accurate, not {total_mode!r}")
    order = parse_sort(res_type, values.get("_sort", []), service.registry, withholding)
    page = Page(limit=count + 1)
    paged = "_page" in first
    carried_total = None
    if paged:
        seal = paging.CursorSeal.of(service.identity.kek, request.principal)
        cursor = seal.open(path, request.params, first["_page"])
        position = cursor.get("after", cursor.get("before"))
        if not isinstance(position, list) or not _fits(position, len(order)):
            raise BadRequest(paging.INVALID_CURSOR)
        page = Page(after=position, limit=count + 1) if "after" in cursor else Page(before=position, limit=count + 1)
        carried = cursor.get("total")
        carried_total = carried if isinstance(carried, int) and not isinstance(carried, bool) and carried >= 0 else None
    includes, unknown_includes = parse_includes(res_type, request.params, service.registry)
    unknown = [
        *unknown,
        *unknown_includes,
        *(k for k, _ in request.params if k in RESULT_PARAMETERS and k not in HANDLED and k not in unknown),
    ]
    issues = [
        Issue("warning", "not-supported", f"Unknown or unsupported search parameter {name!r} was ignored")
        for name in unknown
    ]
    if unknown and request.prefer_handling == "strict":
        # Strict handling refuses the search: each ignored parameter is an error, not a warning
        # (https://hl7.org/fhir/R4/search.html#errors).
        refused = [
            Issue("error", "not-supported", f"Unknown or unsupported search parameter {name!r}") for name in unknown
        ]
        raise BadRequest(f"Unknown or unsupported search parameter(s): {', '.join(unknown)}", refused)
    selection = parse_selection(values.get("_summary", []), values.get("_elements", []))
    return SearchPlan(
        res_type, match, path, count, total_mode, page, order, includes, selection, issues, paged=paged,
        carried_total=carried_total if paged else None,
    )  # fmt: skip


def _fits(position: list[Any], keys: int) -> bool:
    """Whether an opened cursor's position has the shape this search writes: a plain value (or
    null, for a missing one) per sort key, then type and id as text. Cursors are sealed, so this
    guards against one this code did not write (another version of it): a 400, never a value the
    database driver cannot bind."""
    if len(position) != keys + 2 or not all(isinstance(v, str) for v in position[keys:]):
        return False
    return all(v is None or (isinstance(v, str | int | float) and not isinstance(v, bool)) for v in position[:keys])


def searchset(service: FhirService, request: FhirRequest, plan: SearchPlan) -> dict[str, Any]:
    """The searchset Bundle of one page of `plan`."""
    counting = plan.selection.count_only or (plan.total_mode == "accurate" and plan.carried_total is None)
    issues = list(plan.issues)
    with service.repo.reading() as session:
        # The access policy (lifeline/access) is one more condition of the same WHERE, so the
        # page, its total, its cursors and its includes never hold a withheld patient's data.
        rule = rule_for(service, session, request)
        match = plan.match
        visible: Callable[[list[tuple[str, str]]], set[tuple[str, str]]] | None = None
        if rule is not None:
            condition, condition_args = rule.condition(plan.res_type)
            match = match.and_(condition, condition_args)
            # Staff learn that a patient exists outside their care; an app launched for one
            # patient learns nothing of the others.
            if plan.tells_withheld and rule.kind == "staff" and "Patient" not in rule.launch_types and not plan.paged:
                if _withheld(session, plan, condition, condition_args):
                    issues.append(suppressed_issue())

            def visible(
                keys: list[tuple[str, str]], session: Session = session, rule: AccessRule = rule
            ) -> set[tuple[str, str]]:
                return _visible_keys(session, rule, keys)

        total: int | None = plan.carried_total if plan.total_mode == "accurate" else None
        if plan.count == 0 or plan.selection.count_only:
            rows: list[tuple[StoredVersion, list[Any]]] = []
            if counting:
                total = session.count(plan.res_type, match)
        else:
            # The page and its total are read by one query (each row carries the total), so
            # they agree; the database finds every match to order them anyway.
            rows, counted = session.search_page(plan.res_type, match, plan.order, plan.page, with_total=counting)
            total = counted if counting else total
        more = len(rows) > plan.count
        if more:
            rows = rows[1:] if plan.page.backwards else rows[: plan.count]
        matches = [stored for stored, _ in rows]
        found = resolve(session, matches, plan.includes, visible)
        included = found.resources
        if not found.complete:
            issues.append(Issue("warning", "incomplete", found.hint(plan.includes, matches)))
        if plan.referenced_types is not None:
            included += _referenced(session, matches, plan.referenced_types, visible)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = _links(service, request, plan, rows, more, total)
    entries = [_entry(request.base, stored, "match", plan.selection, rule) for stored in matches]
    entries += [_entry(request.base, stored, "include", plan.selection, rule) for stored in included]
    if issues:
        entries.append(
            {
                "resource": {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]},
                "search": {"mode": "outcome"},
            }
        )
    bundle["entry"] = entries
    return bundle


def _withheld(session: Session, plan: SearchPlan, condition: str, condition_args: list[Any]) -> bool:
    """Whether the search matches a Patient the rule withholds (staff are told, not how much).
    One more query, stopped at the first such row."""
    hidden = plan.match.and_(f"NOT ({condition})", condition_args)
    return bool(session.search(plan.res_type, hidden, after_key=None, limit=1))


def _visible_keys(session: Session, rule: AccessRule, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those of `keys` the rule lets the principal see, judged per type by the same condition."""
    found: set[tuple[str, str]] = set()
    by_type: dict[str, list[tuple[str, str]]] = {}
    for key in keys:
        by_type.setdefault(key[0], []).append(key)
    for res_type, typed in sorted(by_type.items()):
        condition, args = rule.condition(res_type)
        found |= session.keys_where(typed, condition, args)
    return found


def _referenced(
    session: Session,
    matches: list[StoredVersion],
    types: frozenset[str],
    visible: Callable[[list[tuple[str, str]]], set[tuple[str, str]]] | None,
) -> list[StoredVersion]:
    keys = [(m.res_type, m.res_id) for m in matches]
    targets = [k for k in session.references_from(keys, None, None) if k[0] in types]
    if visible is not None:
        allowed = visible(targets)
        targets = [k for k in targets if k in allowed]
    found = session.read_many(targets)
    return sorted(found, key=lambda v: (v.res_type, v.res_id))


def _entry(
    base: str, stored: StoredVersion, mode: str, selection: Selection, rule: AccessRule | None
) -> dict[str, Any]:
    shown = redacted(rule, stored.res_type, stored.content)
    content: Any = orjson.Fragment(stored.content or "{}") if shown is None else shown
    if not selection.whole:
        content = apply(selection, shown if shown is not None else jsontext.loads(stored.content or "{}"))
    return {
        "fullUrl": f"{base}/{stored.res_type}/{stored.res_id}",
        "resource": content,
        "search": {"mode": mode},
    }


def _links(
    service: FhirService,
    request: FhirRequest,
    plan: SearchPlan,
    rows: list[tuple[StoredVersion, list[Any]]],
    more: bool,
    total: int | None = None,
) -> list[dict[str, str]]:
    kept = [(k, v) for k, v in request.params if k != "_page"]
    links = [paging.link("self", request.base, plan.path, request.params)]
    if plan.paged:
        links.append(paging.link("first", request.base, plan.path, kept))
    if plan.count == 0:
        return links
    first_position = rows[0][1] if rows else (plan.page.after or plan.page.before)
    last_position = rows[-1][1] if rows else (plan.page.before or plan.page.after)
    has_previous = more if plan.page.backwards else plan.paged
    has_next = plan.page.backwards or more
    cursors: list[tuple[str, dict[str, Any]]] = []
    carried = {"total": total} if total is not None else {}  # counted once, on the first page
    if has_previous and first_position is not None:
        cursors.append(("previous", {"before": first_position, **carried}))
    if has_next and last_position is not None:
        cursors.append(("next", {"after": last_position, **carried}))
    if cursors:
        seal = paging.CursorSeal.of(service.identity.kek, request.principal)
        for relation, cursor in cursors:
            token = seal.seal(plan.path, kept, cursor)
            links.append(paging.link(relation, request.base, plan.path, [*kept, ("_page", token)]))
    return links
