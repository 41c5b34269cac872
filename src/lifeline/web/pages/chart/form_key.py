"""The one-time key each of the chart's forms carries (issue 21, "Record care"), so that a form
sent twice (a double click, the back button, a retry after a timeout) writes its resources once.

The form holds a random key; what it writes carries the key as an identifier, and each create is
conditional on no resource having that identifier yet (If-None-Exist,
https://hl7.org/fhir/R4/http.html#ccreate), so the core answers the second time with what the
first one wrote. A form that writes several resources (a set of vital signs) gives each its own
identifier: the form's key and the kind (`<key>-<LOINC code>`).
"""

from __future__ import annotations

import re
import secrets
from typing import Protocol

KEY_SYSTEM = "urn:lifeline:form-key"  # the one-time key of the form a resource was written with
KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")  # what new_key gives out; anything else is no form of ours


def new_key() -> str:
    """A form's one-time key: random, so two forms never share one."""
    return secrets.token_urlsafe(18)


def identifier(key: str, kind: str = "") -> dict[str, str]:
    """The Identifier a resource written by the form with `key` carries (one per `kind`)."""
    return {"system": KEY_SYSTEM, "value": f"{key}-{kind}" if kind else key}


def condition(key: str, kind: str = "") -> str:
    """The If-None-Exist criteria that find what the form with `key` already wrote."""
    return f"identifier={KEY_SYSTEM}|{identifier(key, kind)['value']}"


class Keyed(Protocol):
    key: str
    problems: dict[str, str]


def check(draft: Keyed) -> None:
    """A posted form's key: one this node gave out, or the problem `missing` and a fresh key, so
    the next press is the one that counts (a form not from us, or a key mangled on the way)."""
    if not KEY.fullmatch(draft.key):
        draft.problems["key"] = "missing"
        draft.key = new_key()
