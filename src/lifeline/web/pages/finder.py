"""Find a patient, `/find` (issue 21): one box that takes a CPR number with or without the hyphen, a
name or part of one, or a name with a birth date, and lists the patients the clinician's care
gives access to, each linked to the chart.

The page asks the core one search, as the clinician (`acting`, web/pages/__init__.py), so the
access rule filters it and the audit trail records it with what was asked. A patient outside care
is not in the answer; the core says only that one matched (an outcome entry with the issue code
`suppressed`: fhir/interactions/search.py). For a full CPR number that is news enough to offer
breaking the glass, and names nothing: the row shows the number the clinician typed and no data.
The core offers no conditional read (CapabilityStatement: conditionalRead not-supported), and that
outcome does not name the record, so the page cannot link to it: it explains instead.

FHIR string search is case- and accent-insensitive and matches the start of a name part
(search/normalize.py): `muller` finds Müller, `hans` Hansen; æ, ø and å are Danish letters of
their own, so `soren` does not find Søren.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from starlette.requests import Request
from starlette.routing import Route

from lifeline import jsontext
from lifeline.access.redact import REDACTED
from lifeline.clock import today
from lifeline.cpr import CPR_SYSTEM, format_cpr, is_valid_cpr
from lifeline.errors import BadRequest
from lifeline.fhir.request import FhirRequest
from lifeline.search.normalize import normalize
from lifeline.web.login import WebLogin
from lifeline.web.pages import acting, page

PAGE = "/find"
MOST = 20  # rows shown; more matches are a hint to narrow the search
LONGEST = 100  # characters: no name or number is longer
SEXES = frozenset({"male", "female", "other", "unknown"})

_CPR = re.compile(r"\d{6}[- ]?\d{4}")
_NUMBERS = re.compile(r"[\d -]+")  # only digits, hyphens and spaces: a CPR number being typed
_YEAR = re.compile(r"\d{4}")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DANISH_DATE = re.compile(r"(\d{1,2})[-./](\d{1,2})[-./](\d{4})")
_SEPARATORS = re.compile(r"[\s,;]+")
_DANISH_ORDER = str.maketrans({"æ": "{", "ø": "|", "å": "}"})  # after z, in this order
_SPECIAL = re.compile(r"([\\,$|])")  # escaped in a search value (https://hl7.org/fhir/R4/search.html#escaping)


@dataclass(frozen=True)
class Query:
    """What the box holds, understood: a CPR number, or names with perhaps a birth date; or the
    reason it cannot be searched (`problem`, a code the template puts in words)."""

    text: str
    problem: str | None = None  # empty | too-short | too-long | cpr-digits | bad-cpr | bad-date
    cpr: str | None = None  # 10 digits
    names: tuple[str, ...] = ()
    born: str | None = None  # a FHIR date: 1958-07-25, or a year

    @property
    def kind(self) -> str | None:
        return None if self.problem else "cpr" if self.cpr else "name"

    def params(self) -> list[tuple[str, str]]:
        """The Patient search: by identifier, or each name part (all must match) and the birth date."""
        if self.cpr is not None:
            criteria = [("identifier", f"{CPR_SYSTEM}|{self.cpr}")]
        else:
            criteria = [("name", _SPECIAL.sub(r"\\\1", name)) for name in self.names]
            if self.born is not None:
                criteria.append(("birthdate", self.born))
        return [*criteria, ("_sort", "family,given"), ("_count", str(MOST)), ("_total", "none")]


def understood(typed: str, on: date) -> Query:
    """The query in the box, on the date `on` (a birth date cannot be later)."""
    # Control characters (a NUL, which PostgreSQL refuses in text) are no part of a name.
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in typed).split())
    if not text:
        return Query(text, "empty")
    if len(text) < 2:
        return Query(text, "too-short")
    if len(text) > LONGEST:
        return Query(text[:LONGEST], "too-long")
    if _CPR.fullmatch(text):
        digits = re.sub(r"\D", "", text)
        return Query(text, cpr=digits) if is_valid_cpr(digits) else Query(text, "bad-cpr")
    if _NUMBERS.fullmatch(text) and not (_ISO_DATE.fullmatch(text) or _DANISH_DATE.fullmatch(text)):
        return Query(text, "cpr-digits")  # digits that are neither a CPR number nor a date
    names: list[str] = []
    dates: list[str | None] = []  # each part written as a date: the date, or None if it is none
    for part in _SEPARATORS.split(text):
        if any(ch.isdecimal() for ch in part):
            dates.append(_birth_date(part, on))
        elif part:
            names.append(part)
    if len(dates) > 1 or None in dates:
        return Query(text, "bad-date")
    if not dates and sum(len(name) for name in names) < 2:
        return Query(text, "too-short")
    return Query(text, names=tuple(names), born=dates[0] if dates else None)


def _birth_date(text: str, on: date) -> str | None:
    """A birth date written 1958-07-25, 25-07-1958, 25.07.1958 or 25/07/1958, or a birth year,
    as a FHIR date; None if there is no such day, or it is not yet."""
    if _YEAR.fullmatch(text):
        return text if 1850 <= int(text) <= on.year else None
    if found := _ISO_DATE.fullmatch(text):
        year, month, day = (int(found.group(i)) for i in (1, 2, 3))
    elif found := _DANISH_DATE.fullmatch(text):
        day, month, year = (int(found.group(i)) for i in (1, 2, 3))
    else:
        return None
    try:
        born = date(year, month, day)
    except ValueError:
        return None
    return born.isoformat() if date(1850, 1, 1) <= born <= on else None


def routes(web: WebLogin) -> list[Route]:
    service = web.service

    def data(request: Request) -> dict[str, Any]:
        """The page's data (its JSON form with `?_format=json`): the patients matching `q` that
        the clinician may see, and whether a patient with the CPR number asked for exists outside
        their care."""
        on = today(service.clock)
        query = understood(request.query_params.get("q", ""), on)
        found: dict[str, Any] = {"q": query.text, "kind": query.kind, "problem": query.problem, "most": MOST,
                                 "patients": [], "more": False, "outsideCare": None, "withheld": False}  # fmt: skip
        if query.problem:
            return found
        asking = FhirRequest("search", "Patient", params=query.params())
        try:
            answer = acting(service, request).handle(asking).resource or {}
        except BadRequest:  # a name the search cannot take; recorded as refused by the core
            return {**found, "kind": None, "problem": "not-understood"}
        bundle = orjson.loads(jsontext.dumps(answer))  # the entries hold stored JSON text as it is
        entries = bundle.get("entry") or []
        matches = [e["resource"] for e in entries if e.get("search", {}).get("mode") == "match"]
        found["patients"] = [row(patient, on) for patient in sorted(matches, key=_alphabetical)]
        found["more"] = any(link.get("relation") == "next" for link in bundle.get("link") or [])
        withheld = any(
            issue.get("code") == "suppressed"
            for e in entries
            if e.get("search", {}).get("mode") == "outcome"
            for issue in e["resource"].get("issue") or []
        )
        if query.cpr is not None and withheld and not found["patients"]:
            # Exists, outside care: the number typed, nothing read from the record.
            found["outsideCare"] = {"cpr": format_cpr(query.cpr)}
        else:
            found["withheld"] = withheld
        return found

    return [Route(PAGE, page("finder.html", data), methods=["GET"])]


def row(patient: dict[str, Any], on: date) -> dict[str, Any]:
    """One result as the page shows it."""
    born = _date(patient.get("birthDate"))
    years, months = _age(born, on) if born else (None, None)
    redacted = any(
        label.get("system") == REDACTED["system"] and label.get("code") == REDACTED["code"]
        for label in (patient.get("meta") or {}).get("security") or []
    )
    gender = patient.get("gender")
    return {
        "id": patient["id"],
        "href": f"/patients/{patient['id']}",
        "name": _name(patient),
        "cpr": _cpr(patient),
        "birthDate": patient.get("birthDate"),
        "age": years,
        "ageMonths": months if years is not None and years < 2 else None,
        "sex": gender if gender in SEXES else None,
        "area": None if redacted else _area(patient),
        "protectedAddress": redacted,
        "deceased": bool(patient.get("deceasedBoolean") or patient.get("deceasedDateTime")),
        "access": "yes",  # the core returned it: care, or a grant, gives access
    }


def _alphabetical(patient: dict[str, Any]) -> tuple[str, str]:
    """Family name, then the given names in their order, as a Danish list is sorted (the core
    sorts by each name's smallest part: Ali before Freja for Mohammad Ali)."""
    name = _official(patient)
    given = " ".join(name.get("given") or [])
    return normalize(name.get("family") or "").translate(_DANISH_ORDER), normalize(given).translate(_DANISH_ORDER)


def _official(patient: dict[str, Any]) -> dict[str, Any]:
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    return next((n for n in names if n.get("use") == "official"), names[0]) if names else {}


def _name(patient: dict[str, Any]) -> str:
    chosen = _official(patient)
    if chosen.get("text"):
        return str(chosen["text"])
    return " ".join([*(chosen.get("given") or []), chosen.get("family") or ""]).strip()


def _cpr(patient: dict[str, Any]) -> str | None:
    for identifier in patient.get("identifier") or []:
        value = identifier.get("value")
        if identifier.get("system") == CPR_SYSTEM and is_valid_cpr(value):
            return format_cpr(value)
    return None


def _area(patient: dict[str, Any]) -> str | None:
    """Postal code and city of the home address (else the first): where the patient lives, roughly."""
    addresses = [a for a in patient.get("address") or [] if isinstance(a, dict) and a.get("use") != "old"]
    if not addresses:
        return None
    home = next((a for a in addresses if a.get("use") == "home"), addresses[0])
    area = " ".join(str(home[k]) for k in ("postalCode", "city") if home.get(k))
    return area or None


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def _age(born: date, on: date) -> tuple[int, int]:
    """Whole years and whole months of age on `on`."""
    months = (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)
    months = max(months, 0)
    return months // 12, months
