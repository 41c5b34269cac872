"""Which patients a logged-in patient may see: themself, and each child under 15 for whom they are
a registered parent.

A parent is registered in the child's chart as a RelatedPerson whose `patient` is the child and
whose `relationship` is PRN, MTH, FTH or PAR (http://terminology.hl7.org/CodeSystem/v3-RoleCode).
It is the logged-in patient when either

- its identifier has the CPR system and one of the logged-in patient's own CPR numbers, or
- the logged-in patient's own Patient.link points at it (what the population generator writes
  for a newborn's mother, generate/family.py, beside her CPR on the RelatedPerson).

The CPR match is what a real registry gives (the CPR register knows parents); the link is a
curated statement in the parent's own chart. Anything else (a name, an address) is not enough.
Age is the child's birthDate: under 15 on today's date.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from lifeline.access.care import micros

CPR = "urn:oid:1.2.208.176.1.2"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
PARENT_CODES = ("PRN", "MTH", "FTH", "PAR")
CHILD_AGE = 15


def fifteenth_birthday_cutoff(today: date) -> date:
    """Children born after this day are under 15 today."""
    try:
        return today.replace(year=today.year - CHILD_AGE)
    except ValueError:  # 29 February
        return today.replace(year=today.year - CHILD_AGE, day=28)


def family_sql(patient_id: str, now: datetime) -> tuple[list[str], list[Any]]:
    """SELECTs (to be UNIONed) of the patient's own id and their young children's ids."""
    cutoff = fifteenth_birthday_cutoff(now.date())
    cutoff_micros = micros(datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=now.tzinfo))
    own = "SELECT CAST(? AS TEXT)"
    children = (
        "SELECT c.target_id FROM search_reference c WHERE c.res_type = 'RelatedPerson' AND c.param = 'patient'"
        " AND c.target_type = 'Patient' AND c.target_id IS NOT NULL"
        " AND c.res_id IN (SELECT t.res_id FROM search_token t WHERE t.res_type = 'RelatedPerson'"
        " AND t.param = 'relationship' AND t.system = ? AND t.code IN (?, ?, ?, ?))"
        " AND (c.res_id IN (SELECT i.res_id FROM search_token i WHERE i.res_type = 'RelatedPerson'"
        " AND i.param = 'identifier' AND i.system = ? AND i.code IN (SELECT o.code FROM search_token o"
        " WHERE o.res_type = 'Patient' AND o.res_id = ? AND o.param = 'identifier' AND o.system = ?))"
        " OR c.res_id IN (SELECT l.target_id FROM search_reference l WHERE l.res_type = 'Patient'"
        " AND l.res_id = ? AND l.param = 'link' AND l.target_type = 'RelatedPerson'))"
        " AND c.target_id IN (SELECT b.res_id FROM search_date b WHERE b.res_type = 'Patient'"
        " AND b.param = 'birthdate' AND b.low > ?)"
    )
    args: list[Any] = [patient_id, ROLE_CODE, *PARENT_CODES, CPR, patient_id, CPR, patient_id, cutoff_micros]
    return [own, children], args
