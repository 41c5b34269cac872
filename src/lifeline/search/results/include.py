"""`_include` and `_revinclude`: resources returned beside the matches (https://hl7.org/fhir/R4/search.html#include).

- `_include=Observation:subject` adds what the matched Observations' `subject` points at;
  `_include=Observation:subject:Patient` only the Patients; `_include=*` every local target.
- `_revinclude=Provenance:target` adds the Provenances that point at a match;
  `_revinclude=Provenance:target:Patient` only those pointing at matched Patients.
- `:iterate` (and R3's `:recurse`) applies the rule again to what was included, round after round,
  until nothing new comes or the limits below are reached.

Targets are found in the reference index (search_reference), so an include costs one indexed
query per rule and round, whatever the page size. Only local, current, non-deleted resources are
included; each resource appears once in a page, as a match if it is one. A page includes at most
MAX_INCLUDED resources; past that the page says so (`Included.complete`) and how to reach the
rest, never silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lifeline.errors import BadRequest
from lifeline.search.registry import SearchRegistry
from lifeline.storage.records import StoredVersion
from lifeline.storage.session import Session

MAX_ROUNDS = 5  # iterate rounds after the first
MAX_INCLUDED = 1000  # resources included in one page


@dataclass(frozen=True)
class IncludeRule:
    reverse: bool  # _revinclude
    source_type: str  # the type holding the reference
    params: tuple[str, ...] | None  # None: every reference parameter (`*`)
    target_type: str | None
    iterate: bool

    @property
    def text(self) -> str:
        name = "_revinclude" if self.reverse else "_include"
        return f"{name}{':iterate' if self.iterate else ''}"


def parse_includes(
    resource_type: str | None, params: list[tuple[str, str]], registry: SearchRegistry
) -> tuple[list[IncludeRule], list[str]]:
    """The include rules of a request and the names of those that name an unknown parameter
    (reported like unknown search parameters); a malformed value is a 400."""
    rules: list[IncludeRule] = []
    unknown: list[str] = []
    for name, value in params:
        base, _, modifier = name.partition(":")
        if base not in ("_include", "_revinclude"):
            continue
        if modifier not in ("", "iterate", "recurse"):
            raise BadRequest(f"{base} takes the modifier :iterate only, not :{modifier}")
        reverse = base == "_revinclude"
        iterate = modifier != ""
        if value == "*" and not reverse:
            if resource_type is not None:
                rules.append(IncludeRule(False, resource_type, None, None, iterate))
            continue
        parts = value.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise BadRequest(f"{name}={value!r}: expected SourceType:parameter[:TargetType]")
        source, code = parts[0], parts[1]
        target = parts[2] if len(parts) == 3 else None
        if source not in registry.resource_types or (target is not None and target not in registry.resource_types):
            raise BadRequest(f"{name}={value!r}: unknown resource type")
        if code == "*":
            rules.append(IncludeRule(reverse, source, None, target, iterate))
            continue
        param = registry.get(source, code)
        if param is None or param.type != "reference":
            unknown.append(f"{name}={value}")
            continue
        if target is not None and param.targets and target not in param.targets:
            raise BadRequest(f"{name}={value!r}: {target} is not a target of {source}.{code}")
        rules.append(IncludeRule(reverse, source, (code,), target, iterate))
    return rules, unknown


@dataclass
class Included:
    resources: list[StoredVersion]
    complete: bool = True  # False: more than MAX_INCLUDED resources were to be included

    def hint(self, rules: list[IncludeRule], matches: list[StoredVersion]) -> str:
        """What the page tells the client when it is not complete: how to reach the rest."""
        text = (
            f"More than {MAX_INCLUDED} resources were to be included in this page; only the first {MAX_INCLUDED}"
            " are. Ask for fewer matches a page (_count), or search the included type directly"
        )
        rule = next((r for r in rules if r.reverse and r.params is not None and len(r.params) == 1), None)
        if rule is not None and rule.params is not None and matches:
            first = matches[0]
            text += f" (for example {rule.source_type}?{rule.params[0]}={first.res_type}/{first.res_id})"
        return text + " and page through all of them."


def resolve(
    session: Session,
    matches: list[StoredVersion],
    rules: list[IncludeRule],
    visible: Callable[[list[tuple[str, str]]], set[tuple[str, str]]] | None = None,
) -> Included:
    """The resources the rules add to a page of matches, without duplicates; `visible` (the
    access policy) keeps those of a list of keys the principal may see. The count that marks a
    page incomplete is of visible resources only, so it tells nothing of what is hidden."""
    if not rules:
        return Included([])
    seen = {(m.res_type, m.res_id) for m in matches}
    frontier = sorted(seen)
    included: list[StoredVersion] = []
    complete = True
    for round_number in range(MAX_ROUNDS + 1):
        active = [r for r in rules if r.iterate or round_number == 0]
        if not active or not frontier:
            break
        wanted: set[tuple[str, str]] = set()
        for rule in active:
            wanted.update(_follow(session, rule, frontier))
        fresh = sorted(wanted - seen)
        seen.update(fresh)
        if visible is not None and fresh:
            shown = visible(fresh)
            fresh = [k for k in fresh if k in shown]
        if len(fresh) > MAX_INCLUDED - len(included):
            complete = False
            fresh = fresh[: MAX_INCLUDED - len(included)]
        found = session.read_many(fresh)
        found.sort(key=lambda v: (v.res_type, v.res_id))
        included += found
        frontier = [(v.res_type, v.res_id) for v in found]
        if len(included) >= MAX_INCLUDED:
            break
    return Included(included, complete)


def _follow(session: Session, rule: IncludeRule, frontier: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if rule.reverse:
        targets = [k for k in frontier if rule.target_type is None or k[0] == rule.target_type]
        return session.references_to(targets, rule.source_type, rule.params) if targets else []
    sources = [k for k in frontier if k[0] == rule.source_type]
    return session.references_from(sources, rule.params, rule.target_type) if sources else []
