"""FHIR values as a downtime report prints them: a concept's words, a quantity, a dose, a
person, and moments in Danish time as dd.mm.yyyy hh:mm (unambiguous on paper). Written for the
reports (the pages' helpers live in lifeline.web, which this layer may not import)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from lifeline.clock import COPENHAGEN
from lifeline.cpr import CPR_SYSTEM, format_cpr
from lifeline.fhir.concepts import concept  # one for the pages and the paper reports

UNITS = {"h": "hour", "d": "day", "wk": "week", "mo": "month", "min": "minute", "s": "second"}


def codes(value: dict[str, Any] | None) -> set[str]:
    return {str(c["code"]) for c in (value or {}).get("coding") or [] if c.get("code")}


def number(value: Any) -> str:
    """A number as Danish paper writes it: a decimal comma."""
    if isinstance(value, float):
        return f"{value:g}".replace(".", ",")
    return str(value)


def quantity(value: dict[str, Any] | None) -> str:
    if not value or "value" not in value:
        return ""
    return f"{number(value['value'])} {value.get('unit') or value.get('code') or ''}".strip()


def moment(value: str | None) -> str:
    """A FHIR date or dateTime: dd.mm.yyyy, with hh:mm in Danish time when it has a time."""
    if not value:
        return ""
    try:
        if len(value) == 10:
            return date.fromisoformat(value).strftime("%d.%m.%Y")
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    at = at.replace(tzinfo=COPENHAGEN) if at.tzinfo is None else at.astimezone(COPENHAGEN)
    return at.strftime("%d.%m.%Y %H:%M")


def name(patient: dict[str, Any]) -> str:
    names = patient.get("name") or []
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    if chosen.get("text"):
        return str(chosen["text"])
    return " ".join([*chosen.get("given", []), chosen.get("family", "")]).strip() or "(no name)"


def cpr(patient: dict[str, Any]) -> str:
    for identifier in patient.get("identifier") or []:
        if identifier.get("system") == CPR_SYSTEM and identifier.get("value"):
            try:
                return format_cpr(str(identifier["value"]))
            except ValueError:
                return str(identifier["value"])
    return "(no CPR)"


def age(patient: dict[str, Any], on: date) -> str:
    born = patient.get("birthDate") or ""
    if len(born) != 10:
        return ""
    birth = date.fromisoformat(born)
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    if years < 2:
        months = (on.year - birth.year) * 12 + on.month - birth.month - (on.day < birth.day)
        return f"{max(months, 0)} mo"
    return f"{years} y"


def phone(patient: dict[str, Any]) -> str:
    phones = [t for t in patient.get("telecom") or [] if t.get("system") == "phone" and t.get("value")]
    phones.sort(key=lambda t: (t.get("use") != "mobile", t.get("rank", 99)))
    return str(phones[0]["value"]) if phones else "(none recorded)"


def dose(dosage: dict[str, Any] | None) -> str:
    """A Dosage: the prescriber's text, else amount, how often, route and "as needed"."""
    if not dosage:
        return "(no dose recorded)"
    parts: list[str] = []
    if dosage.get("text"):
        parts.append(str(dosage["text"]))
    else:
        amount = next((q for r in dosage.get("doseAndRate") or [] if (q := quantity(r.get("doseQuantity")))), "")
        if amount:
            parts.append(amount)
        repeat = (dosage.get("timing") or {}).get("repeat") or {}
        if repeat.get("frequency") and repeat.get("periodUnit"):
            period, unit = repeat.get("period", 1), UNITS.get(repeat["periodUnit"], repeat["periodUnit"])
            every = unit if period == 1 else f"{number(period)} {unit}s"
            times = "once" if repeat["frequency"] == 1 else f"{repeat['frequency']} times"
            parts.append(f"{times} per {every}")
    route = concept(dosage.get("route"))
    if route:
        parts.append(route)
    if dosage.get("asNeededBoolean") and not dosage.get("text"):  # the prescriber's text says so itself
        parts.append("as needed")
    return ", ".join(parts) or "(no dose recorded)"


def next_due(dosage: dict[str, Any] | None, now: datetime) -> str:
    """The next time of day the dose is due, where the timing names its times (timeOfDay);
    otherwise "as prescribed" (a frequency alone does not say when the last dose was given)."""
    if not dosage or dosage.get("asNeededBoolean"):
        return "as needed" if dosage and dosage.get("asNeededBoolean") else "as prescribed"
    local = now.astimezone(COPENHAGEN)
    times = sorted(
        time.fromisoformat(t) for t in ((dosage.get("timing") or {}).get("repeat") or {}).get("timeOfDay") or []
    )
    if not times:
        return "as prescribed"
    later = [t for t in times if t > local.time().replace(tzinfo=None)]
    return later[0].strftime("%H:%M") if later else f"{times[0].strftime('%H:%M')} tomorrow"
