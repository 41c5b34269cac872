"""Reference search values: Reference.reference, canonical and uri targets.

https://hl7.org/fhir/R4/search.html#reference — a local `Type/id` (a version suffix
`/_history/n` dropped) indexes target_type/target_id; an absolute URL indexes `url` and, when it
ends in `Type/id`, the type and id as well, so `subject=http://other/fhir/Patient/1` and
`subject=Patient/1` both find it. Canonical strings index `url` only. Local `#contained`
references and identifier-only references are not indexed (:identifier is not supported yet).
"""

from __future__ import annotations

import re
from typing import Any

from lifeline.storage.index_rows import ReferenceEntry

# `Type/id` at the end of a reference, after `/` or at the start, an optional version after it.
_TYPE_ID = re.compile(r"(?:^|/)([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
# A FHIR logical id (https://hl7.org/fhir/R4/datatypes.html#id).
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def _is_absolute(ref: str) -> bool:
    return "://" in ref or ref.startswith(("urn:", "oid:"))


def parse_reference(ref: str) -> tuple[str | None, str | None, str | None] | None:
    """(target_type, target_id, url) of a reference string; None for `#contained` or garbage."""
    if not ref or ref[0] == "#":
        return None
    if ref.count("/") == 1 and ":" not in ref:  # the usual `Type/id`, without the regex
        target_type, target_id = ref.split("/")
        if target_type[:1].isupper() and target_type.isalpha() and _ID.fullmatch(target_id):
            return target_type, target_id, None
        return None
    m = _TYPE_ID.search(ref)
    if _is_absolute(ref):
        if m is None:
            return None, None, ref
        return m.group(1), m.group(2), ref[: m.end(2)]  # the URL without /_history/n
    if m and m.start() == 0:
        return m.group(1), m.group(2), None
    return None


def reference_type(ref: str) -> str | None:
    """The target resource type of a reference string (`Patient/1`, `http://x/Patient/1`)."""
    m = _TYPE_ID.search(ref)
    return m.group(1) if m and (m.start() == 0 or _is_absolute(ref)) else None


# Entries are immutable and the same patient or practitioner is referenced again and again.
# Bounded (a few MB); when full it starts over rather than tracking recency.
_MEMO_SIZE = 32_768
_memo: dict[tuple[str, str], ReferenceEntry | None] = {}


def _entry(param: str, ref: str) -> ReferenceEntry | None:
    key = (param, ref)
    try:
        return _memo[key]
    except KeyError:
        pass
    parsed = parse_reference(ref)
    entry = ReferenceEntry(param, *parsed) if parsed is not None else None
    if len(_memo) >= _MEMO_SIZE:
        _memo.clear()
    _memo[key] = entry
    return entry


def add(param: str, values: list[Any], out: list[ReferenceEntry]) -> None:
    for value in values:
        if type(value) is dict:
            ref = value.get("reference")
            if type(ref) is not str:
                continue  # identifier-only or display-only
            entry = _entry(param, ref)
            if entry is not None:
                out.append(entry)
        elif type(value) is str and value and value[0] != "#":
            out.append(ReferenceEntry(param, None, None, value))
