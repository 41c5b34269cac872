"""The matrix's instance, history and Bundle interactions: read, vread, instance history, type
and system history (with `_type`), and GET entries in a batch and in a transaction."""

from __future__ import annotations

from typing import Any

from tests.access.matrix_checks import (
    Case,
    check_redaction,
    expected_matches,
    ids_query,
    judge_bundle,
    observed,
    refs,
    response_fits,
    search_status_fits,
    searchable_or_refused,
    status_fits,
    walk,
)
from tests.access.matrix_table import SYSTEM
from tests.access.matrix_world import FHIR_JSON, TYPES

HISTORY_COUNT = 500


def check_read(case: Case) -> None:
    """GET [type]/[id] of every cell; the protected patient's copy withholds address and phone."""
    for cell in case.world.cells:
        letter = case.who.letter(cell.res_type, cell.owner, cell.state)
        response = case.get(f"/fhir/{cell.ref}")
        case.expect(response_fits(letter, response, gone=cell.deleted), "read", cell.name(), observed(response))
        if response.status_code == 200:
            body = response.json()
            judge_bundle(case.findings, case.world, "read", cell.name(), {"entry": [{"resource": body}]})
            if cell.res_type == "Patient" and cell.state == "protected":
                check_redaction(case, "read", body)


def check_vread(case: Case) -> None:
    """GET [type]/[id]/_history/[n] of every version that holds content."""
    for cell in case.world.cells:
        letter = case.who.letter(cell.res_type, cell.owner, cell.state)
        for version in range(1, (1 if cell.deleted else cell.versions) + 1):
            response = case.get(f"/fhir/{cell.ref}/_history/{version}")
            where = f"{cell.name()} v{version}"
            case.expect(response_fits(letter, response, gone=False), "vread", where, observed(response))
            if response.status_code == 200 and cell.res_type == "Patient" and cell.state == "protected":
                check_redaction(case, "vread", response.json())


def check_instance_history(case: Case) -> None:
    """GET [type]/[id]/_history: refused as a read is, else every version."""
    for cell in case.world.cells:
        letter = case.who.letter(cell.res_type, cell.owner, cell.state)
        response = case.get(f"/fhir/{cell.ref}/_history")
        case.expect(response_fits(letter, response, gone=False), "instance history", cell.name(), observed(response))
        if response.status_code == 200:
            bundle = response.json()
            count = len(bundle.get("entry", []))
            case.expect(count == cell.versions, "instance history", cell.name(), f"{count} versions")
            judge_bundle(case.findings, case.world, "instance history", cell.name(), bundle)


def _check_history_pages(
    case: Case, interaction: str, where: str, pages: list[dict[str, Any]], named: str | None, complete: bool
) -> None:
    """No entry the principal may not see, none of a type `_type` did not name; and, when
    `complete`, every version of every cell it is shown (of the named type, or of any)."""
    found: dict[str, int] = {}
    for page in pages:
        judge_bundle(case.findings, case.world, interaction, where, page)
        for ref in refs(page, mode=None):
            found[ref] = found.get(ref, 0) + 1
            case.expect(named in (None, ref.split("/")[0]), interaction, where, f"holds {ref}")
    if not pages or not complete:
        return
    for cell in case.world.cells:
        if named in (None, cell.res_type) and case.who.letter(cell.res_type, cell.owner, cell.state) == "S":
            count = found.get(cell.ref, 0)
            # Type and system history leave out deleted resources (but Patients) for staff and
            # patients: a deleted resource has no index rows for the rule to judge it by
            # (docs/security.md); instance history shows them.
            wanted = 0 if cell.deleted and cell.res_type != "Patient" and case.who.kind != SYSTEM else cell.versions
            case.expect(count == wanted, interaction, cell.name(), f"{count} of {wanted} versions")


def check_type_history(case: Case) -> None:
    """GET [type]/_history: no version of a cell not shown, every version of one shown."""
    for res_type in TYPES:
        url = f"/fhir/{res_type}/_history?_since={case.world.since}&_count={HISTORY_COUNT}"
        first, pages = walk(case.client, case.headers, url, case.findings, "type history", res_type, case.world)
        case.expect(searchable_or_refused(case, res_type, first), "type history", res_type, observed(first))
        _check_history_pages(case, "type history", f"{res_type} (type)", pages, res_type, True)


def check_system_history(case: Case) -> None:
    """GET /_history, and with `_type` for each type (and Slot): the same, of that type only."""
    url = f"/fhir/_history?_since={case.world.since}&_count={HISTORY_COUNT}"
    first, pages = walk(case.client, case.headers, url, case.findings, "system history", "every type", case.world)
    every = case.who.searches is None
    case.expect(
        first.status_code == 200 if every else first.status_code in (200, 403),
        "system history",
        "every type",
        observed(first),
    )
    _check_history_pages(case, "system history", "every type", pages, None, every)
    for res_type in (*TYPES, "Slot"):
        url = f"/fhir/_history?_since={case.world.since}&_type={res_type}&_count={HISTORY_COUNT}"
        where = f"{res_type} (_type)"
        first, pages = walk(case.client, case.headers, url, case.findings, "system history _type", where, case.world)
        case.expect(searchable_or_refused(case, res_type, first), "system history _type", where, observed(first))
        _check_history_pages(case, "system history _type", where, pages, res_type, True)


def check_batch(case: Case) -> None:
    """One batch of GET entries: a read and a vread of every cell, a search of every type."""
    world = case.world
    entries = [{"request": {"method": "GET", "url": c.ref}} for c in world.cells]
    entries += [{"request": {"method": "GET", "url": f"{c.ref}/_history/1"}} for c in world.cells]
    searches = [{"request": {"method": "GET", "url": f"{t}?_id={ids_query(case, t)}"}} for t in TYPES]
    body = {"resourceType": "Bundle", "type": "batch", "entry": entries + searches}
    response = case.client.post("/fhir", json=body, headers={**case.headers, **FHIR_JSON})
    case.expect(response.status_code == 200, "batch", "the batch", observed(response))
    if response.status_code != 200:
        return
    answers = response.json().get("entry", [])
    cells = len(world.cells)
    for index, answer in enumerate(answers):
        status = int(str(answer.get("response", {}).get("status", "0")).split()[0])
        outcome = answer.get("response", {}).get("outcome")
        if index < 2 * cells:
            cell = world.cells[index % cells]
            earlier = index >= cells
            letter = case.who.letter(cell.res_type, cell.owner, cell.state)
            interaction = "batch GET vread" if earlier else "batch GET read"
            fits = status_fits(letter, status, outcome, gone=cell.deleted and not earlier)
            case.expect(
                fits, interaction, cell.name(), f"{status} {(outcome or {}).get('issue', [{}])[0].get('code', '')}"
            )
            if answer.get("resource"):
                judge_bundle(case.findings, world, interaction, cell.name(), {"entry": [answer]})
            continue
        res_type = TYPES[index - 2 * cells]
        resource = answer.get("resource") or {}
        case.expect(search_status_fits(case, res_type, status), "batch GET search", res_type, str(status))
        if resource.get("resourceType") == "Bundle":
            judge_bundle(case.findings, world, "batch GET search", res_type, resource)
            found, wanted = set(refs(resource)), expected_matches(case.who, world.of_type(res_type))
            case.expect(found == wanted, "batch GET search", res_type, f"found {sorted(found ^ wanted)} amiss")


def check_transaction(case: Case) -> None:
    """GET entries in a transaction: every shown cell in one transaction, which must answer each;
    every other cell in one of its own, which must fail as its read does."""
    who, world = case.who, case.world
    shown = [c for c in world.cells if who.letter(c.res_type, c.owner, c.state) == "S" and not c.deleted]
    if shown:
        response = _transaction(case, [c.ref for c in shown])
        entries = response.json().get("entry", []) if response.status_code == 200 else []
        answered = [(e.get("resource") or {}).get("id") for e in entries]
        for cell in shown:
            case.expect(cell.id in answered, "transaction GET", cell.name(), observed(response))
        if response.status_code == 200:
            judge_bundle(case.findings, world, "transaction GET", "the shown cells", response.json())
    for cell in world.cells:
        if cell in shown:
            continue
        letter = who.letter(cell.res_type, cell.owner, cell.state)
        response = _transaction(case, [cell.ref])
        case.expect(
            response_fits(letter, response, gone=cell.deleted), "transaction GET", cell.name(), observed(response)
        )
        if response.status_code == 200:
            judge_bundle(case.findings, world, "transaction GET", cell.name(), response.json())


def _transaction(case: Case, urls: list[str]) -> Any:
    entries = [{"request": {"method": "GET", "url": url}} for url in urls]
    body = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    return case.client.post("/fhir", json=body, headers={**case.headers, **FHIR_JSON})
