"""Turning a FHIR RESTful URL (relative to the base) and a method into a FhirRequest.

Shared by the HTTP adapter and by Bundle entries (request.method + request.url), so both accept
exactly the same interactions (https://hl7.org/fhir/R4/http.html#summary)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from lifeline.errors import BadRequest, MethodNotAllowed
from lifeline.fhir.request import FhirRequest


def parse(method: str, path: str, query: str | list[tuple[str, str]] = "", base: str = "") -> FhirRequest:
    """`path` is relative to the FHIR base, e.g. "Patient/1/_history/2" or "Patient/$validate"."""
    params = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else list(query)
    parts = [p for p in path.strip("/").split("/") if p]
    method = method.upper()
    request = FhirRequest(interaction="", params=params, base=base)
    n = len(parts)
    if n == 0:
        request.interaction = {"POST": "transaction", "GET": "search"}.get(method, "")
    elif parts == ["metadata"] and method == "GET":
        request.interaction = "capabilities"
    elif parts == ["_history"] and method == "GET":
        request.interaction = "history"
    elif parts == ["_search"] and method == "POST":
        request.interaction = "search"
    elif n == 1 and parts[0].startswith("$") and method in ("GET", "POST"):
        request.interaction, request.operation = "operation", parts[0]  # a system-level operation
    else:
        request.resource_type = parts[0]
        if n == 1:
            request.interaction = {
                "GET": "search",
                "POST": "create",
                "PUT": "update",
                "DELETE": "delete",
                "PATCH": "patch",
            }.get(method, "")
            if request.interaction in ("update", "delete", "patch") and not params:
                raise MethodNotAllowed(f"{method} on a type needs search criteria (conditional {request.interaction})")
        elif n == 2 and parts[1] == "_search" and method == "POST":
            request.interaction = "search"
        elif n == 2 and parts[1] == "_history" and method == "GET":
            request.interaction = "history"
        elif n == 2 and parts[1].startswith("$") and method in ("POST", "GET"):
            request.interaction, request.operation = "operation", parts[1]
        elif n == 2:
            request.id = parts[1]
            request.interaction = {"GET": "read", "PUT": "update", "DELETE": "delete", "PATCH": "patch"}.get(method, "")
        elif n == 3 and parts[2] == "_history" and method == "GET":
            request.id, request.interaction = parts[1], "history"
        elif n == 3 and parts[2].startswith("$"):
            request.id, request.interaction, request.operation = parts[1], "operation", parts[2]
        elif n == 4 and parts[2] == "_history" and method == "GET":
            request.id, request.version_id, request.interaction = parts[1], parts[3], "vread"
        elif (n == 3 and method == "GET") or (n == 4 and parts[3] == "_search" and method == "POST"):
            # compartment search: Patient/1/Observation (https://hl7.org/fhir/R4/http.html#search)
            request.compartment = (parts[0], parts[1])
            request.resource_type, request.interaction = parts[2], "search"
        else:
            raise BadRequest(f"Not a FHIR RESTful URL: {path!r}")
    if not request.interaction:
        raise MethodNotAllowed(f"{method} is not allowed on {path or 'the base'}")
    return request


def relative(url: str, base: str) -> tuple[str, str]:
    """Split a Bundle entry's request.url (relative, or absolute on this server) into path and query."""
    if url.startswith(("http://", "https://")):
        if not base or not url.startswith(base):
            raise BadRequest(f"Entry URL {url!r} is not on this server")
        url = url[len(base) :]
    parts = urlsplit(url)
    return parts.path, parts.query
