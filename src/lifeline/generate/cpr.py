"""Drawing CPR numbers that follow the real rules but belong to nobody.

The rules (denmark.md; lifeline.cpr decodes them): DDMMYY then a four-digit serial whose
first digit, with YY, gives the century, and whose last digit is odd for men and even for women.
Until 1 October 2007 every number passed the modulus-11 check; since then numbers without it are
issued, so far only for people born on 1 January.

How no real person's number is drawn: most numbers here *fail* the modulus-11 check on a birth
date that is not 1 January (patients are never given a 1 January birthday). The CPR office has
never issued such a number, so it cannot be anyone's. A small share pass the check, so that the
software meets both kinds; such a number has the shape every number issued before 2007 has, and
could coincide with a real one; like every generated resource, a patient carrying one is labelled
as test data (meta.security HTEST), and the README says the whole record is synthetic."""

from __future__ import annotations

import datetime
import random

from lifeline.cpr import birth_date

WEIGHTS = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
MOD11_SHARE = 0.05  # of patients born before 1 October 2007
_NEW_RULES = datetime.date(2007, 10, 1)


def passes_modulus_11(cpr: str) -> bool:
    return sum(int(d) * w for d, w in zip(cpr, WEIGHTS, strict=True)) % 11 == 0


def century_digits(year: int) -> tuple[int, ...]:
    """The serial's first digits that, with the two-digit year, mean `year` (the CPR office's table)."""
    yy = year % 100
    if 1900 <= year <= 1999:
        return (0, 1, 2, 3, 4, 9) if yy >= 37 else (0, 1, 2, 3)
    if 2000 <= year <= 2036:
        return (4, 5, 6, 7, 8, 9)
    if 1858 <= year <= 1899:
        return (5, 6, 7, 8)
    raise ValueError(f"no CPR century digit for {year}")


def draw_cpr(rng: random.Random, born: datetime.date, male: bool) -> str:
    """A CPR number for a person born on `born` (never 1 January), as explained above."""
    if (born.month, born.day) == (1, 1):
        raise ValueError("patients are never born on 1 January here: those dates carry real numbers without mod-11")
    mod11 = born < _NEW_RULES and rng.random() < MOD11_SHARE
    digits = century_digits(born.year)
    # Most people born 1900-1999 have 0-3; 4 and 9 were used when a date's numbers ran out.
    first_choices = digits[:4] if born.year < 2000 else digits
    date_part = born.strftime("%d%m%y")
    while True:
        first9 = f"{date_part}{rng.choice(first_choices)}{rng.randrange(100):02d}"
        partial = sum(int(d) * w for d, w in zip(first9, WEIGHTS, strict=False))
        parity = 1 if male else 0
        if mod11:
            last = -partial % 11
            if last <= 9 and last % 2 == parity:
                break
        else:
            candidates = [d for d in range(parity, 10, 2) if (partial + d) % 11]
            last = rng.choice(candidates)
            break
    cpr = f"{first9}{last}"
    assert birth_date(cpr) == born
    return cpr
