"""The matrix's searches: type search with its result parameters, the same search over a hidden
record and over none, system search with `_type`, `$everything`, compartment search, and the
protected patient's withheld address and phone."""

from __future__ import annotations

import base64
from typing import Any

from tests.access.matrix_checks import (
    Case,
    absent_id,
    check_redaction,
    compare,
    expected_matches,
    has_suppressed_note,
    ids_query,
    judge_bundle,
    live_state,
    next_url,
    observed,
    refs,
    response_fits,
    searchable_or_refused,
    shape,
    visible_patients,
    walk,
)
from tests.access.matrix_table import SHOWN, WITHHELD
from tests.access.matrix_world import CLINICAL, OWNER_PATIENT, PATIENT_PARAM, TYPES

ELEMENTS = {"Patient": "name", "Binary": "contentType", "Bundle": "type", "Device": "status"}

INCLUDES = {
    "Patient": "_revinclude=Observation:subject&_revinclude=Condition:patient&_revinclude=Device:patient"
    "&_revinclude=Encounter:patient",
    "Observation": "_include=Observation:subject&_include=Observation:focus",
    **{t: f"_include={t}:patient" for t in (*CLINICAL[1:], "Device")},
}


def check_search(case: Case) -> None:
    """[type]?_id=<every cell> with _count, _summary=count, _elements, _sort (paged) and
    _include/_revinclude: exactly the shown cells, and only includes it may see."""
    who, world = case.who, case.world
    for res_type in TYPES:
        cells = world.of_type(res_type)
        wanted = expected_matches(who, cells)
        base = f"/fhir/{res_type}?_id={ids_query(case, res_type)}"
        element = ELEMENTS.get(res_type, "identifier")
        variants = {
            "search": f"{base}&_count=100",
            "search _summary=count": f"{base}&_summary=count",
            f"search _elements={element}": f"{base}&_elements={element}&_count=100",
            "search _sort=-_lastUpdated paged": f"{base}&_sort=-_lastUpdated&_count=2",
        }
        if res_type in INCLUDES:
            variants["search _include/_revinclude"] = f"{base}&{INCLUDES[res_type]}&_count=100"
        for interaction, url in variants.items():
            first, pages = walk(case.client, case.headers, url, case.findings, interaction, res_type, world)
            case.expect(searchable_or_refused(case, res_type, first), interaction, res_type, observed(first))
            if first.status_code != 200:
                continue
            found: set[str] = set()
            for page in pages:
                judge_bundle(case.findings, world, interaction, res_type, page)
                found |= set(refs(page))
                if res_type != "Patient":
                    case.expect(not has_suppressed_note(page), interaction, res_type, "a suppressed note")
            total = pages[0].get("total")
            case.expect(total in (None, len(wanted)), interaction, res_type, f"total {total}, {len(wanted)} shown")
            if interaction != "search _summary=count":
                for cell in cells:
                    if (cell.ref in found) != (cell.ref in wanted):
                        seen = "found" if cell.ref in found else "missing"
                        case.expect(False, interaction, cell.name(), seen)
            if interaction == "search _include/_revinclude":
                _check_includes(case, res_type, pages, found)


def _check_includes(case: Case, res_type: str, pages: list[dict[str, Any]], matched: set[str]) -> None:
    """Every include the principal may see is there (judge_bundle saw to the rest)."""
    who, world = case.who, case.world
    included = {ref for page in pages for ref in refs(page, "include")}
    interaction = "search _include/_revinclude"
    if res_type == "Patient":
        for cell in world.cells:
            if cell.res_type not in ("Observation", "Condition", "Device", "Encounter") or cell.deleted:
                continue
            shown = who.letter(cell.res_type, cell.owner, cell.state) == "S" and who.can_read(cell.res_type)
            if shown and f"Patient/{cell.patient}" in matched:
                case.expect(cell.ref in included, interaction, cell.name(), "missing from _revinclude")
        return
    for ref in matched:
        patient = world.by_ref.get(f"Patient/{world.owner_of.get(ref)}")
        if patient and who.can_read("Patient") and who.letter("Patient", patient.owner, patient.state) == "S":
            case.expect(patient.ref in included, interaction, world.by_ref[ref].name(), f"{patient.ref} missing")


def check_search_hidden_vs_absent(case: Case) -> None:
    """Totals, notes and paging of a search over a hidden record equal those over none."""
    who, world = case.who, case.world
    seen = visible_patients(who, world)
    absent = absent_id(world)
    for owner, key in OWNER_PATIENT.items():
        pid = world.ids[key]
        if pid in seen:
            continue
        for res_type in TYPES:
            param = PATIENT_PARAM[res_type]
            if param == "_id":
                hidden_value = pid if res_type == "Patient" else world.cell(res_type, owner, live_state(owner)).id
                pair = (f"_id={hidden_value}", f"_id={absent}")
            else:
                pair = (f"{param}=Patient/{pid}", f"{param}=Patient/{absent}")
                hidden_value = pid
            compare(
                case,
                f"search {pair[0].split('=')[0]}=hidden",
                f"{res_type} × {owner}",
                res_type,
                pair,
                [hidden_value, absent],
            )
        code = f"{world.code_system}|"
        probes = {
            "search Condition code (the diagnosis oracle)": (
                f"Condition?subject=Patient/{pid}&code={code}I48.9",
                f"Condition?subject=Patient/{pid}&code={code}Z99.9",
            ),
            "search Patient _has:Condition": (
                f"Patient?_id={pid}&_has:Condition:subject:code={code}I48.9",
                f"Patient?_id={pid}&_has:Condition:subject:code={code}Z99.9",
            ),
            "search Observation _summary=count": (
                f"Observation?subject=Patient/{pid}&_summary=count",
                f"Observation?subject=Patient/{absent}&_summary=count",
            ),
        }
        for interaction, (hidden, nobody) in probes.items():
            res_type = hidden.split("?")[0]
            compare(
                case,
                interaction,
                f"{res_type} × {owner}",
                res_type,
                (hidden, nobody),
                ["I48.9", "Z99.9", pid, absent],
                whole=True,
            )


def check_system_search(case: Case) -> None:
    """GET /fhir with `_type` (and without): only the types named and only the shown cells."""
    who, world = case.who, case.world
    for res_type in TYPES:
        where = f"{res_type} (_type)"
        response = case.get(f"/fhir?_type={res_type}&_id={ids_query(case, res_type)}&_count=100")
        case.expect(searchable_or_refused(case, res_type, response), "system search _type", where, observed(response))
        if response.status_code == 200:
            bundle = response.json()
            judge_bundle(case.findings, world, "system search _type", where, bundle)
            found, wanted = set(refs(bundle)), expected_matches(who, world.of_type(res_type))
            case.expect(found == wanted, "system search _type", where, f"found {sorted(found ^ wanted)} amiss")
            if res_type != "Patient":
                case.expect(not has_suppressed_note(bundle), "system search _type", where, "a suppressed note")
    every = ",".join(c.id for c in world.cells)
    response = case.get(f"/fhir?_id={every}&_count=200")
    fits = response.status_code == 200 if who.searches is None else response.status_code in (200, 403)
    case.expect(fits, "system search", "every type", observed(response))
    if response.status_code == 200:
        bundle = response.json()
        judge_bundle(case.findings, world, "system search", "every type", bundle)
        if who.searches is None:
            found, wanted = set(refs(bundle)), expected_matches(who, world.cells)
            case.expect(found == wanted, "system search", "every type", f"found {sorted(found ^ wanted)} amiss")
    first, pages = walk(
        case.client,
        case.headers,
        "/fhir?_type=Slot&_count=20",
        case.findings,
        "system search _type=Slot",
        "Slot",
        world,
        limit=2,
    )
    case.expect(searchable_or_refused(case, "Slot", first), "system search _type=Slot", "Slot", observed(first))
    for page in pages:
        judge_bundle(case.findings, world, "system search _type=Slot", "Slot", page)
        others = sorted({r.split("/")[0] for r in refs(page, None)} - {"Slot"})
        case.expect(not others, "system search _type=Slot", "Slot", f"holds {others}")
    patients = case.get("/fhir?_type=Patient&_count=20")
    fits = patients.status_code == (200 if who.can_search("Patient") else 403)
    case.expect(fits, "system search _type=Patient", "Patient (every one)", observed(patients))
    if patients.status_code == 200:
        judge_bundle(case.findings, world, "system search _type=Patient", "Patient (every one)", patients.json())


def check_cursors(case: Case) -> None:
    """A forged cursor is refused (4xx, never a 500 or data); one the system client was given
    for the same search opens nothing the principal may not see."""
    world = case.world
    forged = {
        "JSON in base64": base64.urlsafe_b64encode(b'{"after": true, "w": true, "t": "Patient"}').decode(),
        "not base64": "%25%25%25",
    }
    for what, cursor in forged.items():
        for url in (f"/fhir/_history?_type=Slot&_page={cursor}", f"/fhir/Observation?_page={cursor}"):
            response = case.get(url)
            where = f"{url.split('?')[0]} ({what})"
            bad = response.status_code in (400, 403) and "entry" not in response.text
            case.expect(bad, "forged cursor", where, observed(response))
    observations = ",".join(c.id for c in world.of_type("Observation"))
    system_page = next_url(case.client.get(f"/fhir/Observation?_id={observations}&_count=1").json())
    assert system_page is not None, "the system client's search has a next page"
    response = case.get(system_page)
    fits = response.status_code in (200, 400, 403)  # refused, or answered with nothing it may not see
    case.expect(fits, "replayed cursor", "Observation (the system client's next page)", observed(response))
    if response.status_code == 200:
        judge_bundle(case.findings, world, "replayed cursor", "Observation", response.json())


def check_everything(case: Case) -> None:
    """Patient/[id]/$everything of each owner: refused as the Patient's read is, else every shown
    cell of the compartment and nothing it may not see."""
    who, world = case.who, case.world
    for owner, key in OWNER_PATIENT.items():
        pid, state = world.ids[key], live_state(owner)
        letter = who.letter("Patient", owner, state)
        where = f"Patient × {owner}/{state}"
        first, pages = walk(
            case.client,
            case.headers,
            f"/fhir/Patient/{pid}/$everything?_count=500",
            case.findings,
            "$everything",
            where,
            world,
        )
        case.expect(response_fits(letter, first, gone=False), "$everything", where, observed(first))
        found = {ref for page in pages for ref in refs(page, None)}
        for page in pages:
            judge_bundle(case.findings, world, "$everything", where, page)
            for entry in page.get("entry", []):
                resource = entry.get("resource") or {}
                if resource.get("resourceType") == "Patient" and resource.get("id") == world.ids["P"]:
                    check_redaction(case, "$everything", resource)
        if first.status_code != 200:
            continue
        for cell in world.cells:
            if cell.patient == pid and cell.res_type in CLINICAL and not cell.deleted:
                if who.letter(cell.res_type, cell.owner, cell.state) == "S" and who.can_read(cell.res_type):
                    case.expect(cell.ref in found, "$everything", cell.name(), "missing")


def check_compartment(case: Case) -> None:
    """Patient/[id]/[type]: the shown cells; over a hidden owner, what a patient nobody has gives."""
    who, world = case.who, case.world
    seen = visible_patients(who, world)
    absent = absent_id(world)
    for owner, key in OWNER_PATIENT.items():
        pid, state = world.ids[key], live_state(owner)
        for res_type in CLINICAL:
            where = f"{res_type} × {owner}/{state}"
            letter = who.letter(res_type, owner, state)
            url = f"/fhir/Patient/{pid}/{res_type}?_count=100"
            if not who.can_search(res_type):
                response = case.get(url)
                case.expect(response.status_code == 403, "compartment search", where, observed(response))
                continue
            if letter != "S" or pid not in seen:
                values = [pid, absent]
                compare(
                    case,
                    "compartment search",
                    where,
                    res_type,
                    (f"Patient/{pid}/{res_type}", f"Patient/{absent}/{res_type}"),
                    values,
                    whole=True,
                )
                continue
            response = case.get(url)
            fits = response.status_code == 200 or (response.status_code == 403 and not who.can_search("Patient"))
            case.expect(fits, "compartment search", where, observed(response))
            if response.status_code == 200:
                bundle = response.json()
                judge_bundle(case.findings, world, "compartment search", where, bundle)
                found = set(refs(bundle))
                for cell in world.cells:
                    if cell.res_type == res_type and cell.patient == pid and not cell.deleted:
                        case.expect(cell.ref in found, "compartment search", cell.name(), "missing")
                case.expect(not has_suppressed_note(bundle), "compartment search", where, "a suppressed note")


def check_protected(case: Case) -> None:
    """The protected patient is not found by their withheld city, street or phone, and a sort on
    address places them with the patients who have none (unless the reader is shown it)."""
    who, world = case.who, case.world
    secrets, p = world.secrets, world.ids["P"]
    if not who.can_search("Patient"):
        return
    nobody = {"address-city": f"Nby{world.tag}", "address": f"Nnn{world.tag}", "phone": "+45 00000000"}
    given = {"address-city": secrets["city"], "address": secrets["street"][:11], "phone": secrets["phone"]}
    for param, value in given.items():
        where = f"Patient × protected/protected ({param})"
        hidden = case.get("/fhir/Patient", params={param: value})
        none = case.get("/fhir/Patient", params={param: nobody[param]})
        found = f"Patient/{p}" in refs(hidden.json()) if hidden.status_code == 200 else False
        if who.address == SHOWN:
            case.expect(found, f"search {param}", where, "the patient is not found by their own address")
            continue
        case.expect(not found, f"search {param}", where, "found by the withheld value")
        a, b = shape(hidden, [value, nobody[param]]), shape(none, [value, nobody[param]])
        case.expect(a == b, f"search {param}", where, f"differs from a search for a value nobody has: {a} != {b}")
    family = f"/fhir/Patient?family={world.family}"
    order = {}
    for sort in ("address", "-address"):
        where = f"Patient × protected/protected (_sort={sort})"
        response = case.get(f"{family}&_sort={sort}&_count=50")
        case.expect(response.status_code == 200, f"search _sort={sort}", where, observed(response))
        if response.status_code != 200:
            continue
        judge_bundle(case.findings, world, f"search _sort={sort}", where, response.json())
        order[sort] = [r.split("/")[1] for r in refs(response.json())]
        first, pages = walk(
            case.client,
            case.headers,
            f"{family}&_sort={sort}&_count=1",
            case.findings,
            f"search _sort={sort} paged",
            where,
            world,
        )
        paged = [r.split("/")[1] for page in pages for r in refs(page)]
        case.expect(paged == order[sort], f"search _sort={sort} paged", where, f"pages give {paged}, not {order[sort]}")
    keys = [world.ids[k] for k in ("N0", "N1", "N2", "P")]
    for sort, ids in order.items():
        if not set(keys) <= set(ids):
            continue
        where = f"Patient × protected/protected (_sort={sort})"
        at = {key: ids.index(key) for key in keys}
        n0, n1, n2 = at[keys[0]], at[keys[1]], at[keys[2]]
        if who.address == WITHHELD:
            case.expect(
                abs(at[p] - n0) == 1, f"search _sort={sort}", where, "the withheld street placed it among the addresses"
            )
        else:
            between = min(n1, n2) < at[p] < max(n1, n2)
            case.expect(between, f"search _sort={sort}", where, "not sorted by its own address for a reader shown it")
