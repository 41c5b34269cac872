"""Token search values: Coding, CodeableConcept, Identifier, ContactPoint, code/boolean/string.

https://hl7.org/fhir/R4/search.html#token — the mapping table there:
  Coding            system, code, display
  CodeableConcept   each coding as above; its text as its own entry (no system, no code)
  Identifier        system, value; the type's text as display (for :text)
  ContactPoint      value only (no system: ContactPoint.system is phone/email…, not a URI)
  code, id, string, uri, boolean   the value itself; booleans as "true"/"false"
The `text` column holds the normalized display for :text searches.
"""

from __future__ import annotations

from typing import Any

from lifeline.search.normalize import normalize
from lifeline.storage.index_rows import TokenEntry

# ContactPoint.system codes; an Identifier.system is a URI and never one of these.
_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})


# Entries are immutable and codes repeat across resources: reuse them.
# Bounded (a few MB); when full it starts over rather than tracking recency.
_MEMO_SIZE = 32_768
_memo: dict[tuple[str, str | None, str | None, str | None], TokenEntry] = {}


def _entry(param: str, system: str | None, code: str | None, text: str | None) -> TokenEntry:
    """A TokenEntry; `text` is the display before normalization."""
    key = (param, system, code, text)
    entry = _memo.get(key)
    if entry is None:
        if len(_memo) >= _MEMO_SIZE:
            _memo.clear()
        entry = _memo[key] = TokenEntry(param, system, code, normalize(text) if text else None)
    return entry


def _str(value: Any) -> str | None:
    return value if type(value) is str and value else None


def _coding(param: str, coding: dict[str, Any], out: list[TokenEntry]) -> None:
    system, code, display = _str(coding.get("system")), _str(coding.get("code")), _str(coding.get("display"))
    if system or code or display:
        out.append(_entry(param, system, code, display))


def _object(param: str, value: dict[str, Any], out: list[TokenEntry]) -> None:
    if "coding" in value or ("text" in value and "value" not in value and "code" not in value):
        for coding in value.get("coding", ()):
            if type(coding) is dict:
                _coding(param, coding, out)
        text = _str(value.get("text"))
        if text:
            out.append(_entry(param, None, None, text))
    elif "code" in value:
        _coding(param, value, out)
    elif "value" in value:
        code = value["value"]
        if type(code) is not str or not code:
            return
        system = _str(value.get("system"))
        if system in _CONTACT_SYSTEMS or "rank" in value:
            out.append(_entry(param, None, code, None))
            return
        kind = value.get("type")
        text = None
        if type(kind) is dict:
            text = _str(kind.get("text"))
            if text is None:
                codings = kind.get("coding")
                if type(codings) is list and codings and type(codings[0]) is dict:
                    text = _str(codings[0].get("display"))
        # An identifier value is mostly unique (a CPR number): no point keeping it in the memo.
        out.append(TokenEntry(param, system, code, normalize(text) if text else None))


def add(param: str, values: list[Any], out: list[TokenEntry]) -> None:
    for value in values:
        kind = type(value)
        if kind is str:
            if value:
                out.append(_entry(param, None, value, None))
        elif kind is bool:
            out.append(_entry(param, None, "true" if value else "false", None))
        elif kind is dict:
            _object(param, value, out)
        elif kind is int:
            out.append(TokenEntry(param, None, str(value), None))
