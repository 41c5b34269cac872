"""Invariants evaluated in Python rather than by fhirpathpy: one it cannot evaluate (dom-3) and
whole-resource ones that it evaluates too slowly on large resources (que-2, bdl-7).

Each returns True or False, or None to leave the expression to the guards and the engine.
See https://hl7.org/fhir/R4/domainresource.html#invs, questionnaire.html#invs, bundle.html#invs
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from lifeline.fhir.validation.structure import Target


def dom_3(target: Target) -> bool | None:
    """dom-3: every contained resource is referred to ("#id") from elsewhere in the resource, or
    refers to its container ("#"). fhirpathpy rejects the expression's
    ``descendants().as(canonical)`` (as() on a collection). Any string equal to "#id" counts as a
    reference, a little more lenient than the expression's typed reference/canonical/uri/url."""
    contained = target.value.get("contained")
    if not contained:
        return True
    texts = set(_strings(target.value))
    for resource in contained:
        ident = resource.get("id")
        if ident is None or "#" + ident in texts:
            continue
        if "#" not in set(_strings(resource)):
            return False
    return True


def que_2(target: Target) -> bool | None:
    """que-2 ``descendants().linkId.isDistinct()``: linkIds are unique across the questionnaire."""
    link_ids = list(_values_of(target.value, "linkId"))
    if any(type(v) is not str for v in link_ids):
        return None
    return len(link_ids) == len(set(link_ids))


def bdl_7(target: Target) -> bool | None:
    """bdl-7 ``(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId)
    .isDistinct()``: fullUrls are unique unless their versions differ."""
    bundle = target.value
    if bundle.get("type") == "history":
        return True
    keys = []
    for entry in bundle.get("entry", ()):
        if "_fullUrl" in entry:
            return None  # a fullUrl carried by extensions: let the engine decide
        if "fullUrl" in entry:
            version = entry.get("resource", {}).get("meta", {}).get("versionId", "")
            keys.append(entry["fullUrl"] + (version if type(version) is str else ""))
    return len(keys) == len(set(keys))


def _strings(value: Any) -> Iterator[str]:
    if type(value) is str:
        yield value
    elif type(value) is dict:
        for item in value.values():
            yield from _strings(item)
    elif type(value) is list:
        for item in value:
            yield from _strings(item)


def _values_of(value: Any, key: str) -> Iterator[Any]:
    """Every value of ``key`` in the objects below ``value`` (not in ``value`` itself)."""
    children = value.values() if type(value) is dict else value if type(value) is list else ()
    for child in children:
        if type(child) is dict:
            if key in child:
                yield child[key]
            yield from _values_of(child, key)
        elif type(child) is list:
            yield from _values_of(child, key)


NATIVE: dict[str, Callable[[Target], bool | None]] = {"dom-3": dom_3, "que-2": que_2, "bdl-7": bdl_7}
