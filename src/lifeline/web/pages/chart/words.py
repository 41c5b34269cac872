"""FHIR data types as a clinician reads them: a concept's words, a quantity with its unit, a dose,
and dates and times in the reader's language and the region's time zone (Danish: 25.07.1958,
English: 25 Jul 1958). Babel formats them, as it does the pages' messages (web/i18n.py)."""

from __future__ import annotations

import decimal
from datetime import UTC, date, datetime
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from lifeline import jsontext
from lifeline.clock import COPENHAGEN
from lifeline.fhir.concepts import concept  # one for the pages and the paper reports

DAY = {"da": "dd.MM.yyyy", "en": "d MMM yyyy"}
MONTH = {"da": "MM.yyyy", "en": "MMM yyyy"}
MOMENT = {"da": "dd.MM.yyyy HH:mm", "en": "d MMM yyyy, HH:mm"}


def codes(value: dict[str, Any] | None) -> list[str]:
    return [str(c["code"]) for c in (value or {}).get("coding") or [] if c.get("code")]


def coded(value: dict[str, Any] | None, system: str) -> str | None:
    """The code of `system` in a CodeableConcept, if it has one."""
    return next((str(c["code"]) for c in (value or {}).get("coding") or [] if c.get("system") == system), None)


def number(value: Any, language: str) -> str:
    """A number in the reader's style, with the digits it was written with (0.40 is 0,40 in Danish:
    a lab value's trailing zero is its precision)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if type(value) is jsontext.Decimal:
        exact = decimal.Decimal(value.text)
        places = max(0, -int(exact.as_tuple().exponent))
        pattern = "#,##0" + ("." + "0" * places if places else "")
        return str(format_decimal(exact, format=pattern, locale=language, decimal_quantization=False))
    return str(format_decimal(value, locale=language, decimal_quantization=False))


def quantity(value: dict[str, Any] | None, language: str) -> tuple[str, str]:
    """A Quantity as (number, unit), the number in the reader's style (Danish: 9,2)."""
    if not value or "value" not in value:
        return "", ""
    return number(value["value"], language), str(value.get("unit") or value.get("code") or "")


def reference_range(ranges: list[dict[str, Any]] | None, language: str) -> str:
    """The first reference range as `low–high unit` (or its text)."""
    if not ranges:
        return ""
    first = ranges[0]
    if first.get("text"):
        return str(first["text"])
    low, low_unit = quantity(first.get("low"), language)
    high, high_unit = quantity(first.get("high"), language)
    unit = high_unit or low_unit
    if low and high:
        return f"{low}–{high} {unit}".strip()
    if high:
        return f"≤ {high} {unit}".strip()
    if low:
        return f"≥ {low} {unit}".strip()
    return ""


def when(value: str | None, language: str, day: bool = False) -> dict[str, str] | None:
    """A FHIR date or dateTime as {"at": the value as recorded, "text": as the reader reads it};
    a moment in Danish time, or only its day (`day`: since when a drug is taken, say). None when
    absent."""
    if not value:
        return None
    try:
        if day and len(value) > 10:
            moment = datetime.fromisoformat(value)
            local = moment.astimezone(COPENHAGEN) if moment.tzinfo else moment
            text = format_date(local.date(), DAY[language], locale=language)
        elif len(value) == 4:
            text = value
        elif len(value) == 7:
            text = format_date(date.fromisoformat(f"{value}-01"), MONTH[language], locale=language)
        elif len(value) == 10:
            text = format_date(date.fromisoformat(value), DAY[language], locale=language)
        else:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:  # FHIR requires a zone with a time; read one without as Danish
                moment = moment.replace(tzinfo=COPENHAGEN)
            text = format_datetime(moment.astimezone(COPENHAGEN), MOMENT[language], locale=language)
    except (ValueError, KeyError):
        return {"at": value, "text": value}
    return {"at": value, "text": str(text)}


def age(born: date, on: date) -> dict[str, int]:
    """Completed years (and months, for a child under two) on the day `on`."""
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    shown = {"years": max(years, 0)}
    if years < 2:
        months = (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)
        shown["months"] = max(months, 0)
    return shown


def dose(dosage: dict[str, Any] | None, language: str) -> dict[str, Any]:
    """A Dosage as the chart shows it: its own text where the prescriber wrote one, else the dose
    and how often (the template says "2 times per day" in the reader's language)."""
    if not dosage:
        return {}
    shown: dict[str, Any] = {"text": str(dosage.get("text") or "")}
    for rate in dosage.get("doseAndRate") or []:
        amount, unit = quantity(rate.get("doseQuantity"), language)
        if amount:
            shown["amount"] = f"{amount} {unit}".strip()
            break
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    if repeat.get("frequency") and repeat.get("periodUnit"):
        shown["frequency"] = repeat["frequency"]
        shown["period"] = repeat.get("period", 1)
        shown["periodUnit"] = repeat["periodUnit"]
    if dosage.get("asNeededBoolean"):
        shown["asNeeded"] = True
    route = concept(dosage.get("route"))
    if route:
        shown["route"] = route
    return shown


def in_order(value: dict[str, str] | None) -> str:
    """A sort key for a `when`: the moment in UTC, so times recorded in other zones sort right."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value["at"])
    except ValueError:
        return value["at"]
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=COPENHAGEN)
    return moment.astimezone(UTC).isoformat()
