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
from lifeline.storage import param_numbers

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


# The index rows read, by parameter number (storage/param_numbers.py).
_RELATED_PATIENT = param_numbers.number("RelatedPerson", "patient")
_RELATED_RELATIONSHIP = param_numbers.number("RelatedPerson", "relationship")
_RELATED_IDENTIFIER = param_numbers.number("RelatedPerson", "identifier")
_PATIENT_IDENTIFIER = param_numbers.number("Patient", "identifier")
_PATIENT_LINK = param_numbers.number("Patient", "link")
_PATIENT_BIRTHDATE = param_numbers.number("Patient", "birthdate")


def family_sql(patient_id: str, now: datetime) -> tuple[list[str], list[Any]]:
    """SELECTs (to be UNIONed) of the patient's own id and their young children's ids."""
    cutoff = fifteenth_birthday_cutoff(now.date())
    cutoff_micros = micros(datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=now.tzinfo))
    own = "SELECT CAST(? AS TEXT)"
    children = (
        f"SELECT c.target_id FROM search_reference c WHERE c.pid = {_RELATED_PATIENT}"
        " AND c.target_type = 'Patient' AND c.target_id IS NOT NULL"
        f" AND c.res_id IN (SELECT t.res_id FROM search_token t WHERE t.pid = {_RELATED_RELATIONSHIP}"
        " AND t.system = ? AND t.code IN (?, ?, ?, ?))"
        f" AND (c.res_id IN (SELECT i.res_id FROM search_token i WHERE i.pid = {_RELATED_IDENTIFIER}"
        " AND i.system = ? AND i.code IN (SELECT o.code FROM search_token o"
        f" WHERE o.res_type = 'Patient' AND o.res_id = ? AND o.pid = {_PATIENT_IDENTIFIER} AND o.system = ?))"
        " OR c.res_id IN (SELECT l.target_id FROM search_reference l WHERE l.res_type = 'Patient'"
        f" AND l.res_id = ? AND l.pid = {_PATIENT_LINK} AND l.target_type = 'RelatedPerson'))"
        f" AND c.target_id IN (SELECT b.res_id FROM search_date b WHERE b.pid = {_PATIENT_BIRTHDATE} AND b.low > ?)"
    )
    args: list[Any] = [patient_id, ROLE_CODE, *PARENT_CODES, CPR, patient_id, CPR, patient_id, cutoff_micros]
    return [own, children], args
