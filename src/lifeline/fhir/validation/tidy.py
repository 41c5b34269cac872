"""Defects that lose no meaning, taken out before validation and reported as warnings.

R4's JSON rules (https://hl7.org/fhir/R4/json.html) forbid a `null` member, an empty object, an
empty array and an empty string: absent elements are left out. Other systems send them anyway
(a Synthea port wrote `"meta": {}` into every resource, and a 5,000-entry transaction was refused
for it). None of them says anything, so Lifeline's policy, in this one place, is:

- removed, with a warning naming each (the write's OperationOutcome; a transaction's per entry):
  a member whose value is `null`, `""`, `{}` or `[]`, also once its own empty members are gone
  (`"meta": {"tag": []}` goes whole); in an array, items that are `{}` or `""`, and `null` items
  where no `_x` array gives them extensions to carry;
- left to the validator, which refuses them: everything that changes meaning (wrong types,
  unknown elements, broken required bindings, bad references, and a required element that
  was only an empty value, which is then missing);
- refused as before with the setting `LIFELINE_EMPTY_ELEMENTS=refuse`.

Nothing else is changed: a primitive array that has an aligned `_x` array keeps its items where
they are, for removing one would pair the rest with the wrong extensions.
"""

from __future__ import annotations

from typing import Any

from lifeline.errors import Issue

_WHAT = {type(None): "null", str: "an empty string", dict: "an empty object", list: "an empty array"}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def tidy(resource: Any, loc: str) -> list[Issue]:
    """Remove the meaningless empty values from a parsed resource, in place; one warning each."""
    warnings: list[Issue] = []
    if type(resource) is dict:
        _object(resource, loc, warnings)
    return warnings


def _object(obj: dict[str, Any], loc: str, warnings: list[Issue]) -> None:
    for key in list(obj):
        value = obj[key]
        where = f"{loc}.{key}"
        what = _WHAT[type(value)] if _empty(value) else "an object left empty"
        if type(value) is dict:
            _object(value, where, warnings)
        elif type(value) is list:
            aligned = (key[1:] if key.startswith("_") else f"_{key}") in obj
            _array(value, where, aligned, warnings)
        if _empty(value):
            warnings.append(Issue("warning", "structure", f"'{key}' was {what} and is left out", [where]))
            del obj[key]


def _array(items: list[Any], loc: str, aligned: bool, warnings: list[Issue]) -> None:
    kept: list[Any] = []
    for i, item in enumerate(items):
        what = _WHAT[type(item)] if _empty(item) else "an object left empty"
        if type(item) is dict:
            _object(item, f"{loc}[{i}]", warnings)
        if not aligned and (item is None or item == "" or item == {}):
            warnings.append(Issue("warning", "structure", f"item {i} was {what} and is left out", [f"{loc}[{i}]"]))
            continue
        kept.append(item)
    items[:] = kept
