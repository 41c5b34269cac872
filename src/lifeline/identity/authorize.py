"""The first gate of every FHIR request: is there a principal, and do its scopes cover this
interaction on this type? (SMART App Launch v2, https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html)

What the care relationship allows is the second gate (lifeline/access); both run in the core,
never in the HTTP adapter, so every caller meets them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifeline.errors import Forbidden, Unauthorized
from lifeline.identity.principal import Principal

if TYPE_CHECKING:
    from lifeline.fhir.request import FhirRequest  # a type only: identity and audit sit below the core

# Interactions anyone may call: the CapabilityStatement (the discovery documents are not FHIR).
PUBLIC = frozenset({"capabilities"})


def permission(request: FhirRequest) -> str | None:
    """The SMART permission letter the request needs (c r u d s); None for a Bundle, whose
    entries are each checked on their own."""
    interaction = request.interaction
    if interaction in ("read", "vread"):
        return "r"
    if interaction == "history":
        return "r" if request.id is not None else "s"
    if interaction == "search":
        return "s"
    if interaction == "create":
        return "c"
    if interaction in ("update", "patch"):
        return "u"
    if interaction == "delete":
        return "d"
    if interaction == "operation":
        # $everything reads a compartment; $validate writes nothing but sees what it is given.
        # $resolve-conflict writes the chosen version of the resource.
        if request.operation == "$resolve-conflict":
            return "u"
        return "r" if request.operation == "$everything" else "c" if request.operation == "$validate" else "r"
    return None


def check(request: FhirRequest) -> None:
    """Refuse a request without a principal (401) or without a scope for it (403)."""
    if request.interaction in PUBLIC:
        return
    principal = request.principal
    if principal is None:
        raise Unauthorized("This request needs an access token (Authorization: Bearer ...)")
    letter = permission(request)
    if letter is None:
        return
    types = _types(request)
    for res_type in types:
        if not _allows(principal, res_type, letter):
            raise Forbidden(
                f"The access token's scopes ({principal.scopes}) do not allow "
                f"{_verb(letter)} {res_type if res_type != '*' else 'every resource type'}"
            )


def _types(request: FhirRequest) -> list[str]:
    if request.resource_type is not None:
        types = [request.resource_type]
        if request.compartment is not None:
            types.append(request.compartment[0])
        return types
    # System-wide search or history: every type it names, or all of them.
    named = [t for key, value in request.params if key == "_type" for t in value.split(",") if t]
    return named or ["*"]


def _allows(principal: Principal, res_type: str, letter: str) -> bool:
    return any(principal.scopes.allows(context, res_type, letter) for context in principal.contexts)


def _verb(letter: str) -> str:
    return {"c": "creating", "r": "reading", "u": "updating", "d": "deleting", "s": "searching"}[letter]
