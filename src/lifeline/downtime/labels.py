"""Reserved downtime identifiers for patients who arrive while the record is down:
`DT-<site>-<yyyymmdd>-<hhmm><nn>-<check>`, the site and the minute the sheet was made keeping
sheets apart, the check digit (Luhn, ISO/IEC 7812-1) catching a digit miscopied by hand.
What was written on paper against one is entered afterwards and linked to the real patient."""

from __future__ import annotations

import re
from datetime import datetime

from lifeline.clock import COPENHAGEN

FORM = re.compile(r"DT-([A-Z0-9]+)-(\d{8})-(\d{6})-(\d)")


def luhn(digits: str) -> int:
    """The Luhn check digit of `digits`."""
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def identifiers(site: str, made: datetime, count: int) -> list[str]:
    """`count` identifiers (at most 99) for the sheet made at `made` at `site`."""
    if not 1 <= count <= 99:
        raise ValueError("a label sheet holds 1 to 99 identifiers")
    local = made.astimezone(COPENHAGEN)
    code = re.sub(r"[^A-Z0-9]", "", site.upper()) or "SITE"
    day, minute = local.strftime("%Y%m%d"), local.strftime("%H%M")
    return [f"DT-{code}-{day}-{minute}{n:02d}-{luhn(day + minute + f'{n:02d}')}" for n in range(1, count + 1)]


def valid(identifier: str) -> bool:
    """Whether `identifier` has the form and its check digit is right."""
    match = FORM.fullmatch(identifier)
    return match is not None and luhn(match.group(2) + match.group(3)) == int(match.group(4))
