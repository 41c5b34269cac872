"""`_summary` and `_elements`: returning part of each resource (https://hl7.org/fhir/R4/search.html#summary).

- `_summary=true` keeps the top-level elements the StructureDefinition marks `isSummary`;
- `_summary=text` keeps `text`, `id`, `meta` and the top-level mandatory elements;
- `_summary=data` drops `text`; `_summary=false` keeps everything;
- `_summary=count` returns no resources, only Bundle.total (the caller handles it);
- `_elements=a,b` keeps the named top-level elements plus `id`, `meta` and the mandatory ones
  (`Patient.name` is accepted for `name`, as R5 writes it).

A trimmed resource is marked with the SUBSETTED tag so that nobody mistakes it for the whole
record and writes it back. The selection is of top-level elements only; nested summary flags are
not applied (the spec leaves the depth to the server).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from lifeline.definitions import load
from lifeline.errors import BadRequest

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}
_MODES = ("true", "text", "data", "count", "false")
_ALWAYS = frozenset({"resourceType", "id", "meta"})


@cache
def _definitions() -> dict[str, dict[str, frozenset[str]]]:
    return {name: {k: frozenset(v) for k, v in d.items()} for name, d in load("summary").items()}


@dataclass(frozen=True)
class Selection:
    """What part of each resource to return: `summary` mode and/or `_elements` names."""

    summary: str | None = None
    elements: frozenset[str] | None = None

    @property
    def whole(self) -> bool:
        return self.elements is None and self.summary in (None, "false")

    @property
    def count_only(self) -> bool:
        return self.summary == "count"


def parse_selection(summary: list[str], elements: list[str]) -> Selection:
    """The `_summary` and `_elements` parameters of a request; a bad value is a 400."""
    if len(summary) > 1:
        raise BadRequest("_summary may be given once")
    mode = summary[0] if summary else None
    if mode is not None and mode not in _MODES:
        raise BadRequest(f"_summary must be one of {', '.join(_MODES)}, not {mode!r}")
    names: frozenset[str] | None = None
    if elements:
        parts = [p.strip() for value in elements for p in value.split(",")]
        names = frozenset(p.rsplit(".", 1)[-1] for p in parts if p)
        if not names:
            raise BadRequest("_elements needs at least one element name")
    return Selection(mode, names)


def _choice_keys(names: frozenset[str], resource: dict[str, Any]) -> set[str]:
    """`_elements=value` keeps `valueQuantity`: match a choice element by its stem."""
    keys: set[str] = set()
    for key in resource:
        if key in names:
            keys.add(key)
            continue
        for name in names:
            if key.startswith(name) and key[len(name) : len(name) + 1].isupper():
                keys.add(key)
    return keys


def apply(selection: Selection, resource: dict[str, Any]) -> dict[str, Any]:
    """The part of `resource` the selection asks for, tagged SUBSETTED when anything was left out."""
    if selection.whole:
        return resource
    definition = _definitions().get(resource.get("resourceType", ""), {})
    mandatory = definition.get("mandatory", frozenset())
    if selection.elements is not None:
        keep = _ALWAYS | mandatory | _choice_keys(selection.elements, resource)
    elif selection.summary == "true":
        keep = _ALWAYS | mandatory | definition.get("summary", frozenset())
    elif selection.summary == "text":
        keep = _ALWAYS | mandatory | {"text"}
    else:  # data
        keep = frozenset(resource) - {"text"}
    trimmed = {k: v for k, v in resource.items() if k in keep}
    if len(trimmed) == len(resource):
        return resource
    meta = dict(trimmed.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if t.get("code") != "SUBSETTED"]
    meta["tag"] = [*tags, SUBSETTED]
    trimmed["meta"] = meta
    return {"resourceType": resource.get("resourceType"), **{k: v for k, v in trimmed.items() if k != "resourceType"}}
