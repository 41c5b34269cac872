"""What the matrix asserts of one answer: the status a cell's letter asks for, that no resource in
it is one the principal may not see, and the shape (status, total, notes, paging) that must not
differ between a hidden record and one that does not exist."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from lifeline.fhir.service import FhirService
from tests.access.matrix_table import SHOWN, SYSTEM, Who
from tests.access.matrix_world import ACT_REASON, UNTIED, Cell, World


@dataclass
class Findings:
    """Failed cells of one principal, each named principal × interaction × type × owner/state."""

    who: Who
    failures: list[str] = field(default_factory=list)

    def expect(self, ok: bool, interaction: str, where: str, observed: Any) -> None:
        if not ok:
            self.failures.append(f"{self.who.name} × {interaction} × {where}: {observed}")


def observed(response: Any) -> str:
    """The status and the first issue of an answer, short."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code}"
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        issue = (body.get("issue") or [{}])[0]
        return f"{response.status_code} {issue.get('code')}: {str(issue.get('diagnostics', ''))[:90]}"
    return f"{response.status_code}"


def suppressed(outcome: dict[str, Any] | None) -> bool:
    return bool(outcome) and any(i.get("code") == "suppressed" for i in outcome.get("issue", []))  # type: ignore[union-attr]


def status_fits(letter: str, status: int, outcome: dict[str, Any] | None, *, gone: bool) -> bool:
    """Whether `status` is what the letter asks of a read; `gone`: the version read is a
    deletion (the current version of a deleted resource)."""
    if letter == "S":
        return status == (410 if gone else 200)
    if letter == "H":
        return status == 404 if gone else status == 403 and suppressed(outcome)
    if letter == "N":
        return status == 404
    if letter == "F":
        return status == 403
    return status in (403, 404)


def response_fits(letter: str, response: Any, *, gone: bool) -> bool:
    body = _json(response)
    outcome = body if body.get("resourceType") == "OperationOutcome" else None
    return status_fits(letter, response.status_code, outcome, gone=gone)


def visible_patients(who: Who, world: World) -> set[str]:
    """The patients whose data the grid shows the principal somewhere, and their own."""
    seen = {c.patient for c in world.cells if who.letter(c.res_type, c.owner, c.state) == "S"}
    if who.patient:
        seen.add(world.ids[who.patient])
    return seen


def judged_patients(world: World) -> set[str]:
    return {world.ids[k] for k in ("X", "Xu", "Xd", "T", "Tu", "Td", "P", "M", "F")}


def leak(who: Who, world: World, ref: str, resource: dict[str, Any] | None) -> str | None:
    """Why the principal may not be shown `ref` (with its content, if any); None if it may."""
    res_type, _, res_id = ref.partition("/")
    if not who.can_read(res_type):
        return f"{ref}: a type its scopes do not read"
    if res_type in UNTIED and who.kind != SYSTEM:
        return f"{ref}: an untied type"
    cell = world.by_ref.get(ref)
    if cell is not None:
        letter = who.letter(cell.res_type, cell.owner, cell.state)
        if letter != "S":
            return f"{ref}: cell {cell.owner}/{cell.state} is {letter} for it"
    if who.kind != SYSTEM:
        owner = world.owner_of.get(ref) or _owner_in(resource)
        if owner in judged_patients(world) and owner not in visible_patients(who, world):
            return f"{ref}: belongs to Patient/{owner}"
    if resource is not None and who.address != SHOWN:
        text = orjson.dumps(resource).decode()
        shown = [name for name, secret in world.secrets.items() if secret in text]
        if shown:
            return f"{ref}: shows the withheld {', '.join(shown)}"
    return None


def _owner_in(resource: dict[str, Any] | None) -> str | None:
    if not resource:
        return None
    if resource.get("resourceType") == "Patient":
        return str(resource.get("id"))
    for name in ("subject", "patient", "securityContext"):
        value = resource.get(name)
        if isinstance(value, dict) and str(value.get("reference", "")).startswith("Patient/"):
            return str(value["reference"]).split("/", 1)[1]
    return None


def entry_ref(entry: dict[str, Any]) -> str | None:
    """`Type/id` of a Bundle entry: its resource, or (a deletion in a history) its URL."""
    resource = entry.get("resource")
    if isinstance(resource, dict) and "id" in resource:
        return f"{resource['resourceType']}/{resource['id']}"
    url = entry.get("fullUrl") or (entry.get("request") or {}).get("url") or ""
    parts = urlsplit(url).path.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


def refs(bundle: dict[str, Any], mode: str | None = "match") -> list[str]:
    found = []
    for entry in bundle.get("entry", []):
        if mode is not None and (entry.get("search") or {}).get("mode", "match") != mode:
            continue
        ref = entry_ref(entry)
        if ref:
            found.append(ref)
    return found


def judge_bundle(findings: Findings, world: World, interaction: str, where: str, bundle: dict[str, Any]) -> None:
    """No entry (match, include, outcome aside) is one the principal may not see."""
    for entry in bundle.get("entry", []):
        if (entry.get("search") or {}).get("mode") == "outcome":
            continue
        ref = entry_ref(entry)
        if ref is None:
            continue
        why = leak(findings.who, world, ref, entry.get("resource"))
        findings.expect(why is None, interaction, where, f"leaked {why}")


def notes(bundle: dict[str, Any]) -> list[tuple[str, str, str]]:
    found = []
    for entry in bundle.get("entry", []):
        if (entry.get("search") or {}).get("mode") == "outcome":
            for issue in entry["resource"].get("issue", []):
                found.append((issue.get("severity"), issue.get("code"), issue.get("diagnostics", "")))
    return found


def has_suppressed_note(bundle: dict[str, Any]) -> bool:
    return any(code == "suppressed" for _, code, _ in notes(bundle))


def shape(response: Any, secrets: list[str]) -> tuple[Any, ...]:
    """What a searcher learns of an answer apart from its entries' content, with the values that
    differ between the two searches compared (`secrets`) replaced."""
    text = response.text
    for value in secrets:
        text = text.replace(value, "<v>")
    body = orjson.loads(text) if text else {}
    if body.get("resourceType") == "OperationOutcome":
        return (response.status_code, [(i.get("code"), i.get("diagnostics")) for i in body.get("issue", [])])
    if body.get("resourceType") != "Bundle":
        return (response.status_code, body.get("resourceType"))
    modes = sorted((e.get("search") or {}).get("mode", "") for e in body.get("entry", []))
    relations = sorted(link["relation"] for link in body.get("link", []))
    return (response.status_code, body.get("total"), modes, notes(body), relations)


def _without_note(found: tuple[Any, ...]) -> tuple[Any, ...]:
    """A Bundle's shape without the staff's `suppressed` note (and its outcome entry)."""
    if len(found) != 5 or not any(code == "suppressed" for _, code, _ in found[3]):
        return found
    status, total, modes, found_notes, relations = found
    kept = [n for n in found_notes if n[1] != "suppressed"]
    return (status, total, [m for m in modes if m != "outcome"] if not kept else modes, kept, relations)


def cursor_text(url: str) -> str:
    """The `_page` cursor of a paging link, decoded as far as base64 goes (sealed cursors give noise)."""
    cursor = dict(parse_qsl(urlsplit(url).query)).get("_page", "")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    return cursor + raw.decode("utf-8", "replace")


def next_url(bundle: dict[str, Any]) -> str | None:
    url = next((lnk["url"] for lnk in bundle.get("link", []) if lnk["relation"] == "next"), None)
    return url.replace("http://testserver", "") if url else None


def walk(
    client: Any,
    headers: dict[str, str],
    url: str,
    findings: Findings,
    interaction: str,
    where: str,
    world: World,
    limit: int = 40,
) -> tuple[Any, list[dict[str, Any]]]:
    """The first answer and every page's Bundle, following `next`; each cursor is checked to
    hold no hidden id and, unless the principal is shown it, no withheld address."""
    first = client.get(url, headers=headers)
    pages: list[dict[str, Any]] = []
    response = first
    while response.status_code == 200 and len(pages) < limit:
        bundle = response.json()
        pages.append(bundle)
        following = next_url(bundle)
        if following is None:
            break
        text = cursor_text(following)
        hidden = [c.id for c in world.cells if findings.who.letter(c.res_type, c.owner, c.state) != "S"]
        told = [h for h in hidden if h in text]
        if findings.who.address != SHOWN:
            told += [name for name, secret in world.secrets.items() if secret in text]
        findings.expect(not told, interaction, where, f"the paging cursor tells {told}")
        response = client.get(following, headers=headers)
        findings.expect(response.status_code == 200, interaction, where, f"next page: {observed(response)}")
    return first, pages


def expected_matches(who: Who, cells: list[Cell]) -> set[str]:
    """The cells a search over them must find: those shown, not deleted."""
    return {c.ref for c in cells if not c.deleted and who.letter(c.res_type, c.owner, c.state) == "S"}


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@dataclass
class Case:
    client: Any
    service: FhirService
    world: World
    who: Who
    headers: dict[str, str]
    findings: Findings

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, headers=self.headers, **kwargs)

    def expect(self, ok: bool, interaction: str, where: str, seen: Any) -> None:
        self.findings.expect(ok, interaction, where, seen)


def break_glass(client: Any, patient_id: str, headers: dict[str, str]) -> Any:
    """POST Patient/{id}/$break-the-glass with the reason ETREAT and a text."""
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "reason", "valueCoding": {"system": ACT_REASON, "code": "ETREAT"}},
            {"name": "text", "valueString": "Unconscious in the emergency room"},
        ],
    }
    return client.post(f"/fhir/Patient/{patient_id}/$break-the-glass", json=body, headers=headers)


def searchable_or_refused(case: Case, res_type: str, response: Any) -> bool:
    return search_status_fits(case, res_type, response.status_code)


def search_status_fits(case: Case, res_type: str, status: int) -> bool:
    """A search the scopes allow answers 200; one they do not, 403. A search of a type every
    cell of which the principal is refused may answer either (an untied type for staff)."""
    who = case.who
    letters = {who.letter(c.res_type, c.owner, c.state) for c in case.world.of_type(res_type)}
    if not who.can_search(res_type):
        return status == 403
    if letters and letters <= {"F", "X"}:
        return status in (200, 403)
    return status == 200


def check_redaction(case: Case, interaction: str, patient: dict[str, Any]) -> None:
    """The protected patient as shown: address and telecom withheld and labelled, or shown whole."""
    where = "Patient × protected/protected"
    labels = {s.get("code") for s in patient.get("meta", {}).get("security", [])}
    if case.who.address == SHOWN:
        shown = case.world.secrets["street"] in str(patient.get("address"))
        case.expect(shown, interaction, where, "the patient's own address is not shown to them")
    else:
        bare = "address" not in patient and "telecom" not in patient and "REDACTED" in labels
        case.expect(bare, interaction, where, f"address/telecom not withheld (labels {sorted(labels)})")


def ids_query(case: Case, res_type: str) -> str:
    return ",".join(c.id for c in case.world.of_type(res_type))


def absent_id(world: World) -> str:
    return f"mx-absent-{world.tag}"


def live_state(owner: str) -> str:
    return "protected" if owner == "protected" else "current"


def compare(
    case: Case,
    interaction: str,
    where: str,
    res_type: str,
    pair: tuple[str, str],
    values: list[str],
    *,
    whole: bool = False,
) -> None:
    urls = pair if whole else (f"{res_type}?{pair[0]}", f"{res_type}?{pair[1]}")
    hidden = case.get(f"/fhir/{urls[0]}")
    nobody = case.get(f"/fhir/{urls[1]}")
    a, b = shape(hidden, values), shape(nobody, values)
    if res_type == "Patient" and case.who.kind == "staff" and case.who.launch is None:
        # By design, staff finding a patient learn that one exists outside their care (the
        # `suppressed` note offers break-the-glass), never anything of their record.
        a = _without_note(a)
    case.expect(a == b, interaction, where, f"differs from a search over nothing: {a} != {b}")
    if hidden.status_code == 200:
        bundle = hidden.json()
        judge_bundle(case.findings, case.world, interaction, where, bundle)
        if res_type != "Patient":
            case.expect(not has_suppressed_note(bundle), interaction, where, "a suppressed note")
