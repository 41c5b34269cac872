"""SMART App Launch v2 scopes: parsing, matching, and never granting more than a client was registered for.

https://build.fhir.org/ig/HL7/smart-app-launch/scopes-and-launch-context.html

Clinical scopes are ``context/Type.cruds`` with an optional ``?param=value&...`` restriction; the
v1 suffixes ``.read``, ``.write`` and ``.*`` mean ``.rs``, ``.cud`` and ``.cruds`` and are echoed
back as written, as the spec asks. Restrictions are parsed and kept, but ``ScopeSet.allows``
cannot see the resource, so it ignores restricted scopes altogether: they grant nothing through
``allows`` (failing closed) and are offered to the search layer by ``restricted_grants``.
Ignoring only the suffix would silently turn "lab results" into "all observations".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

CONTEXTS = ("patient", "user", "system")
PERMISSIONS = "cruds"
V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
IDENTITY_SCOPES = frozenset({"openid", "fhirUser", "profile", "launch", "offline_access", "online_access"})

# FHIR R4 restful interaction codes to the SMART permission letter that covers them (spec §"clinical data").
# Batch and transaction have none: each entry inside them is checked on its own.
INTERACTION_PERMISSIONS = {
    "create": "c",
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "update": "u",
    "patch": "u",
    "delete": "d",
    "search-type": "s",
    "history-type": "s",
    "search-system": "s",
    "history-system": "s",
}

_CLINICAL = re.compile(r"(?P<context>[a-z]+)/(?P<type>\*|[A-Za-z]+)\.(?P<permissions>[^?]+)(?:\?(?P<query>.*))?")
_RESOURCE_TYPE = re.compile(r"\*|[A-Z][A-Za-z]{0,63}")
_V2_PERMISSIONS = re.compile(r"c?r?u?d?s?")
_LAUNCH_CONTEXT = re.compile(r"launch/[a-z]+")

Restriction = tuple[tuple[str, str], ...]


class MalformedScope(ValueError):
    """A scope string that is not SMART syntax; maps to OAuth ``invalid_scope``."""

    def __init__(self, scope: str, why: str) -> None:
        super().__init__(f"malformed scope {scope!r}: {why}")
        self.scope = scope


@dataclass(frozen=True)
class ResourceScope:
    """One clinical scope, e.g. ``patient/Observation.rs``; ``text`` keeps the form the client used."""

    context: str
    resource_type: str
    permissions: str
    restriction: Restriction = ()
    text: str = field(default="", compare=False)

    @property
    def canonical(self) -> str:
        query = "&".join(f"{name}={value}" for name, value in self.restriction)
        return f"{self.context}/{self.resource_type}.{self.permissions}" + (f"?{query}" if query else "")

    def __str__(self) -> str:
        return self.text or self.canonical

    def covers(self, context: str, resource_type: str, permission: str) -> bool:
        return self.context == context and self.resource_type in ("*", resource_type) and permission in self.permissions

    def narrowed_by(self, allowed: ResourceScope) -> ResourceScope | None:
        """What of this requested scope the ``allowed`` one permits, or None if nothing."""
        if self.context != allowed.context:
            return None
        if allowed.resource_type == "*" or allowed.resource_type == self.resource_type:
            resource_type = self.resource_type
        elif self.resource_type == "*":
            resource_type = allowed.resource_type
        else:
            return None
        permissions = "".join(letter for letter in self.permissions if letter in allowed.permissions)
        if not permissions:
            return None
        # Restrictions are AND-ed, like repeated search parameters: the grant is never wider than either.
        restriction = self.restriction + tuple(item for item in allowed.restriction if item not in self.restriction)
        granted = ResourceScope(self.context, resource_type, permissions, restriction)
        return (
            ResourceScope(self.context, resource_type, permissions, restriction, self.text)
            if granted == self
            else granted
        )


def parse_scope(text: str) -> ResourceScope | str:
    """A clinical scope as ``ResourceScope``; an identity or launch scope as its plain string."""
    if text in IDENTITY_SCOPES or _LAUNCH_CONTEXT.fullmatch(text):
        return text
    match = _CLINICAL.fullmatch(text)
    if match is None:
        raise MalformedScope(text, "expected context/Type.permissions (e.g. patient/Observation.rs) or a known scope")
    context, resource_type, suffix, query = match.group("context", "type", "permissions", "query")
    if context not in CONTEXTS:
        raise MalformedScope(text, f"context must be one of {', '.join(CONTEXTS)}")
    if not _RESOURCE_TYPE.fullmatch(resource_type):
        raise MalformedScope(text, f"{resource_type!r} is not a FHIR resource type or '*'")
    if suffix in V1_PERMISSIONS:
        if query is not None:
            raise MalformedScope(text, "a ?param=value restriction needs v2 permissions such as .rs")
        permissions = V1_PERMISSIONS[suffix]
    elif suffix and _V2_PERMISSIONS.fullmatch(suffix):
        permissions = suffix
    else:
        raise MalformedScope(text, "permissions must be letters of 'cruds' in that order, or read, write or *")
    return ResourceScope(context, resource_type, permissions, _parse_restriction(text, query), text)


def _parse_restriction(text: str, query: str | None) -> Restriction:
    if query is None:
        return ()
    pairs = []
    for item in query.split("&"):
        name, equals, value = item.partition("=")
        if not name or not equals or not value:
            raise MalformedScope(text, f"restriction {item!r} is not param=value")
        pairs.append((name, value))
    return tuple(pairs)


@dataclass(frozen=True)
class ScopeSet:
    """The scopes of a grant or a token. Scopes are OR-ed: any one that covers a request allows it."""

    resources: tuple[ResourceScope, ...] = ()
    others: tuple[str, ...] = ()

    @classmethod
    def parse(cls, scopes: str | Iterable[str]) -> ScopeSet:
        """Parse a space-separated OAuth ``scope`` value (or its items); duplicates collapse."""
        if isinstance(scopes, str) and cls is ScopeSet:
            return _parse_text(scopes)  # every request's token names its scopes again: parsed once
        return cls._parse_items(scopes.split() if isinstance(scopes, str) else list(scopes))

    @classmethod
    def _parse_items(cls, items: list[str]) -> ScopeSet:
        resources: list[ResourceScope] = []
        others: list[str] = []
        for item in items:
            parsed = parse_scope(item)
            if isinstance(parsed, ResourceScope):
                if parsed not in resources:
                    resources.append(parsed)
            elif parsed not in others:
                others.append(parsed)
        return cls(tuple(resources), tuple(others))

    def __str__(self) -> str:
        return " ".join([str(scope) for scope in self.resources] + list(self.others))

    def has(self, scope: str) -> bool:
        """Whether an identity or launch scope (``openid``, ``launch/patient``, ...) is present."""
        return scope in self.others

    def allows(self, context: str, res_type: str, interaction: str) -> bool:
        """Whether an unrestricted scope permits ``interaction`` (one of c r u d s) on ``res_type``."""
        _check_request(context, interaction)
        return any(scope.covers(context, res_type, interaction) for scope in self.resources if not scope.restriction)

    def restricted_grants(self, context: str, res_type: str, interaction: str) -> tuple[ResourceScope, ...]:
        """Restricted scopes that would permit the request if their search restriction is applied."""
        _check_request(context, interaction)
        return tuple(
            scope for scope in self.resources if scope.restriction and scope.covers(context, res_type, interaction)
        )

    def intersect(self, allowed: ScopeSet) -> ScopeSet:
        """The part of these (requested) scopes that ``allowed`` permits: never more than either."""
        granted: list[ResourceScope] = []
        for requested in self.resources:
            for permitted in allowed.resources:
                scope = requested.narrowed_by(permitted)
                if scope is not None and scope not in granted:
                    granted.append(scope)
        return ScopeSet(tuple(granted), tuple(scope for scope in self.others if scope in allowed.others))


def grant_scopes(requested: str | Iterable[str], registered: str | Iterable[str]) -> ScopeSet:
    """Scope escalation prevention: a client gets what it asked for, cut down to what it was registered for."""
    return ScopeSet.parse(requested).intersect(ScopeSet.parse(registered))


def permission_for(interaction: str) -> str:
    """The SMART permission letter for a FHIR restful interaction code such as ``vread``."""
    try:
        return INTERACTION_PERMISSIONS[interaction]
    except KeyError:
        raise ValueError(f"no SMART permission for interaction {interaction!r}; check each batch entry") from None


def _check_request(context: str, interaction: str) -> None:
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, not {context!r}")
    if len(interaction) != 1 or interaction not in PERMISSIONS:
        raise ValueError(f"interaction must be one of c r u d s, not {interaction!r}")


@lru_cache(maxsize=1024)
def _parse_text(scopes: str) -> ScopeSet:
    """`ScopeSet.parse` of one scope text, kept: a ScopeSet is immutable, so one can be shared."""
    return ScopeSet._parse_items(scopes.split())
