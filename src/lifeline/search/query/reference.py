"""Reference search: Type/id, a bare id, an absolute URL on any base, and the :[Type] modifier.

https://hl7.org/fhir/R4/search.html#reference — `subject=Patient/1` matches the type and id,
`subject=1` the id in any of the parameter's target types, `subject:Patient=1` the id as a
Patient, and `subject=http://other.example/fhir/Patient/1` the type and id too (references are
matched on type/id whatever the server base) or else the URL itself, as canonical references
are. A version (`/_history/2`) in the search value is ignored.
"""

from __future__ import annotations

import re

from lifeline.errors import BadRequest
from lifeline.search.extract.reference import parse_reference
from lifeline.search.query.values import unescape
from lifeline.search.registry import SearchParameter

TABLE = "search_reference"
MODIFIERS: frozenset[str] = frozenset()  # plus any resource type, checked by the caller

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

ReferenceValue = tuple[str | None, str | None, str | None]  # target_type, target_id, url


def parse(value: str, modifier: str | None, param: SearchParameter) -> ReferenceValue:
    text = unescape(value)
    if modifier is not None:  # :[Type]
        if not _ID.fullmatch(text):
            raise BadRequest(f"Invalid id {value!r} for search parameter {param.code}:{modifier}")
        return modifier, text, None
    if _ID.fullmatch(text):
        return None, text, None
    parsed = parse_reference(text)
    if parsed is None:
        raise BadRequest(f"Invalid reference {value!r} for search parameter {param.code!r}")
    target_type, target_id, url = parsed
    if url is not None:
        return target_type, target_id, text  # match the URL as given, canonicals included
    return target_type, target_id, None


def condition(value: ReferenceValue, modifier: str | None, now_us: int) -> tuple[str, list[object]]:
    target_type, target_id, url = value
    if url is not None:
        if target_type is None:
            return "s.url = ?", [url]
        return "((s.target_type = ? AND s.target_id = ?) OR s.url = ?)", [target_type, target_id, url]
    if target_type is None:
        return "s.target_id = ?", [target_id]
    return "s.target_type = ? AND s.target_id = ?", [target_type, target_id]
