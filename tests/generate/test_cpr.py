"""CPR numbers follow the real rules, and those that fail modulus 11 are never on 1 January."""

from __future__ import annotations

import datetime
import random

import pytest

from lifeline.cpr import CPR_SYSTEM, birth_date, sex
from lifeline.generate.cpr import century_digits, draw_cpr, passes_modulus_11


def test_drawn_numbers_encode_birth_date_century_and_sex():
    rng = random.Random(1)
    kinds = {True: 0, False: 0}
    for _ in range(5000):
        born = datetime.date.fromordinal(
            rng.randint(datetime.date(1921, 1, 2).toordinal(), datetime.date(2026, 11, 22).toordinal())
        )
        if (born.month, born.day) == (1, 1):
            continue
        male = rng.random() < 0.5
        cpr = draw_cpr(rng, born, male)
        assert len(cpr) == 10 and cpr.isdigit()
        assert birth_date(cpr) == born  # the 7th digit gives the right century
        assert sex(cpr) == ("male" if male else "female")
        kinds[passes_modulus_11(cpr)] += 1
        if born >= datetime.date(2007, 10, 1):
            assert not passes_modulus_11(cpr)
    assert kinds[True] > 50 and kinds[False] > 4000  # both kinds, most failing mod-11 (never issued)


def test_the_century_table():
    assert century_digits(1950) == (0, 1, 2, 3, 4, 9)
    assert century_digits(1930) == (0, 1, 2, 3)
    assert century_digits(2010) == (4, 5, 6, 7, 8, 9)
    assert century_digits(1880) == (5, 6, 7, 8)


def test_no_number_on_1_january():
    with pytest.raises(ValueError):
        draw_cpr(random.Random(1), datetime.date(1970, 1, 1), True)


def test_generated_patients_carry_valid_numbers(resources):
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    numbers = [i["value"] for p in patients for i in p["identifier"] if i["system"] == CPR_SYSTEM]
    assert len(numbers) == len(set(numbers)) == len(patients)
    for patient in patients:
        cpr = patient["identifier"][0]["value"]
        assert birth_date(cpr).isoformat() == patient["birthDate"]
        assert sex(cpr) == patient["gender"]
        assert not cpr.startswith("0101")  # no 1 January birthdays: see lifeline.generate.cpr
