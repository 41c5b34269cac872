"""Logical ids (https://hl7.org/fhir/R4/datatypes.html#id): 1-64 of A-Z a-z 0-9 - ."""

from __future__ import annotations

import re

from lifeline.errors import BadRequest

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def check_id(value: object) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise BadRequest(f"{value!r} is not a valid FHIR id (1-64 characters of A-Z, a-z, 0-9, '-' and '.')")
    return value
