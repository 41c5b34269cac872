"""A search answered through the core's entry, as plain data for its callers that are no FHIR
client (the pages, the downtime reports): the matches, what was included (by Type/id) and the
Bundle's links by relation. The Bundle's entries hold the stored JSON as it is (orjson
fragments, fhir/interactions/search.py), so it is read once as data here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lifeline import jsontext
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest


@dataclass(frozen=True)
class Found:
    matches: list[dict[str, Any]]
    included: dict[str, dict[str, Any]]
    links: dict[str, str]  # relation -> url: self, next, previous

    @property
    def more(self) -> bool:
        """Whether the search had more matches than this page holds."""
        return "next" in self.links


def searched(core: Acting, res_type: str, params: list[tuple[str, str]]) -> Found:
    """One search of `res_type` with `params`, as the person `core` acts as may see it. Strict: a
    parameter the server does not know is an error here, never silently left out (which would
    widen the search to everything the person may see)."""
    answer = core.handle(FhirRequest("search", res_type, params=params, prefer_handling="strict"))
    bundle = jsontext.loads(jsontext.dumps(answer.resource or {}))
    matches: list[dict[str, Any]] = []
    included: dict[str, dict[str, Any]] = {}
    for entry in bundle.get("entry", []) if isinstance(bundle, dict) else []:
        resource = entry.get("resource") or {}
        mode = (entry.get("search") or {}).get("mode")
        if mode == "include":
            included[f"{resource.get('resourceType')}/{resource.get('id')}"] = resource
        elif mode != "outcome":  # the search's own warnings are no match
            matches.append(resource)
    links = {str(link.get("relation")): str(link.get("url")) for link in (bundle or {}).get("link", [])}
    return Found(matches, included, links)
