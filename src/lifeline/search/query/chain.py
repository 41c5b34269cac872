"""Chained parameters and reverse chaining (`_has`): searching across references.

https://hl7.org/fhir/R4/search.html#chaining — `Observation?subject.name=peter` matches an
Observation whose `subject` points at a resource whose `name` matches "peter". `subject:Patient.name`
follows the reference to Patients only; without the type, every target type of the reference
parameter that has the next parameter is followed (none: 400). Chains may go several levels
(`encounter.subject.name`); the last parameter keeps its own type, modifiers and values.
https://hl7.org/fhir/R4/search.html#has — `Patient?_has:Observation:patient:code=1234-5` matches the
Patients that an Observation with that code points at through its `patient` parameter; `_has`
nests (`_has:Observation:patient:_has:AuditEvent:entity:agent=…`) and may end in a chain.

A parameter name is parsed into a tree of links (Chain, Has, Final), compiled to nested `IN`
subqueries over search_reference ending in the final parameter's index table:

  Chain  SELECT s.res_id FROM search_reference s WHERE s.pid = ?
           AND s.target_type = ? AND s.target_id IN (<ids of the matching targets>)
           [UNION ALL the same for each other target type followed]
  Has    SELECT s.target_id FROM search_reference s WHERE s.target_type = ? AND s.pid = ?
           AND s.res_id IN (<ids of the matching referring resources>)

(`s.pid` is the reference parameter's number on its type, storage/param_numbers.py.)
  Final  lifeline.search.query.clause.matching_ids

At the top the outer SELECT becomes an EXISTS correlated to `resource r` (or drives the query);
there the target types are alternatives of one condition. A UNION rather than an OR inside the
nested SELECTs, because PostgreSQL plans an OR of IN subqueries as a filter over every reference
of the parameter (measured: 80 ms rather than 2 ms for `Observation?subject.name=…` over 100,000).
Each nested SELECT names its table `s` again, hiding the outer `s`: only the top level correlates.
References are followed by type and id (also those of absolute URLs, as reference search matches
them) to resources that are stored: index rows exist for current resources only. A `_has` ending
in one coding through a subject (`_has:Observation:patient:code=system|code`) is instead one
probe of search_subject_code per resource searched (lifeline.search.query.subject_code), and
never drives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lifeline.errors import BadRequest
from lifeline.search.query import clause, driver, subject_code
from lifeline.search.query.withheld import Withholding
from lifeline.search.registry import SearchParameter, SearchRegistry
from lifeline.storage import param_numbers

MAX_LINKS = 4  # chain and _has steps in one parameter name
MAX_FINALS = 100  # final parameters a name fans out to (over every possible target type)


class UnknownParameter(Exception):
    """A name the registry does not know: ignored or refused by the caller's handling."""


@dataclass(frozen=True, slots=True)
class Final:
    """The parameter a chain ends in, with its modifier."""

    code: str
    modifier: str | None


@dataclass(frozen=True, slots=True)
class Chain:
    """`param[:Type].rest`: the reference `param`, and what a target of each followed type must match."""

    param: str
    targets: tuple[tuple[str, Link], ...]


@dataclass(frozen=True, slots=True)
class Has:
    """`_has:source:param:rest`: a `source` resource refers here through `param` and matches `rest`."""

    source: str
    param: str
    then: Link


Link = Final | Chain | Has


def parse_name(resource_type: str, name: str, registry: SearchRegistry, links: int = 0) -> Link:
    """The link tree of a parameter name; UnknownParameter or BadRequest (400) when it has none."""
    if links > MAX_LINKS:
        raise BadRequest(f"Search parameter {name!r}: at most {MAX_LINKS} chain or _has steps are supported")
    if name.partition(":")[0] == "_has":
        return _parse_has(resource_type, name, registry, links)
    head, dot, rest = name.partition(".")
    code, _, modifier = head.partition(":")
    param = registry.get(resource_type, code)
    if not dot:
        if not clause.searchable(param):
            raise UnknownParameter(name)
        assert param is not None
        clause.check_modifier(param, modifier or None, registry)
        return Final(code, modifier or None)
    if param is None:
        raise UnknownParameter(name)
    if param.type != "reference":
        raise BadRequest(f"Search parameter {code!r} of {resource_type} is a {param.type}, not a reference to chain")
    if not rest:
        raise BadRequest(f"Chained search parameter {name!r} names no parameter after the '.'")
    return Chain(code, _targets(param, modifier, rest, registry, links))


def _targets(
    param: SearchParameter, modifier: str, rest: str, registry: SearchRegistry, links: int
) -> tuple[tuple[str, Link], ...]:
    if modifier:
        if modifier not in registry.resource_types or (param.targets and modifier not in param.targets):
            raise BadRequest(f"{modifier} is not a target type of search parameter {param.code!r}")
        candidates: tuple[str, ...] = (modifier,)
    else:
        candidates = param.targets or tuple(sorted(registry.resource_types))
    followed: list[tuple[str, Link]] = []
    refused: BadRequest | None = None
    for target_type in candidates:
        try:
            followed.append((target_type, parse_name(target_type, rest, registry, links + 1)))
        except UnknownParameter:
            continue
        except BadRequest as error:  # e.g. a chain on a parameter that is a reference elsewhere only
            refused = refused or error
    if not followed:
        if refused is not None:
            raise refused
        raise BadRequest(f"No target type of search parameter {param.code!r} has a search parameter {rest!r}")
    return tuple(followed)


def _parse_has(resource_type: str, name: str, registry: SearchRegistry, links: int) -> Has:
    parts = name.split(":", 3)
    if len(parts) < 4 or not all(parts[1:]):
        raise BadRequest(f"{name!r}: _has takes the form _has:[type]:[reference parameter]:[parameter]")
    _, source, code, rest = parts
    param = registry.get(source, code) if source in registry.resource_types else None
    if param is None:
        raise UnknownParameter(name)
    if param.type != "reference":
        raise BadRequest(f"_has: search parameter {code!r} of {source} is not a reference")
    if resource_type != "Resource" and param.targets and resource_type not in param.targets:
        raise BadRequest(f"_has: search parameter {code!r} of {source} cannot refer to a {resource_type}")
    return Has(source, code, parse_name(source, rest, registry, links + 1))


def finals(resource_type: str, link: Link) -> Iterator[tuple[str, Final]]:
    """Every (resource type, final parameter) the link tree ends in."""
    if isinstance(link, Final):
        yield resource_type, link
    elif isinstance(link, Chain):
        for target_type, then in link.targets:
            yield from finals(target_type, then)
    else:
        yield from finals(link.source, link.then)


def _final_param(resource_type: str, final: Final, registry: SearchRegistry) -> SearchParameter:
    param = registry.get(resource_type, final.code)
    if param is None or not clause.searchable(param):
        raise BadRequest(f"Unknown search parameter {final.code!r} for {resource_type}")
    return param


def check_values(resource_type: str, link: Link, values: list[str], registry: SearchRegistry) -> None:
    """BadRequest unless the values suit every final parameter (and the tree is not too wide)."""
    ends = list(finals(resource_type, link))
    if len(ends) > MAX_FINALS:
        raise BadRequest("The chained search reaches too many resource types: name one with :[type]")
    for end_type, final in ends:
        clause.parse_values(_final_param(end_type, final, registry), final.modifier, values)


def rank(resource_type: str, link: Link, values: list[str], registry: SearchRegistry) -> int | None:
    """How well the clause drives the query (see lifeline.search.query.driver); never a `_has` that
    search_subject_code answers (a probe per resource searched, _coded_has)."""
    if _coded_has(resource_type, link, values, registry, None) is not None:
        return driver.NEVER
    ranks = [
        driver.rank(_final_param(t, final, registry), final.modifier, values)
        for t, final in finals(resource_type, link)
    ]
    return driver.rank_linked(ranks)


def ids(
    resource_type: str,
    link: Link,
    values: list[str],
    now_us: int,
    registry: SearchRegistry,
    withholding: Withholding | None = None,
) -> tuple[str, list[object]]:
    """A SELECT of the ids of the resources of `resource_type` that the link tree matches
    (a final parameter over a withheld element: only where it is shown, withheld.py)."""
    if isinstance(link, Final):
        param = _final_param(resource_type, link, registry)
        return clause.matching_ids(param, link.modifier, values, resource_type, now_us, registry, withholding)
    if isinstance(link, Chain):
        selects: list[str] = []
        args: list[object] = []
        for sql, branch_args in _chain_branches(link, values, now_us, registry, withholding):
            selects.append(f"SELECT s.res_id FROM search_reference s WHERE s.pid = ? AND {sql}")
            args += [param_numbers.number(resource_type, link.param), *branch_args]
        return " UNION ALL ".join(selects), args
    body, args = _has_body(link, values, now_us, registry, withholding)
    return f"SELECT s.target_id FROM search_reference s WHERE s.target_type = ? AND {body}", [resource_type, *args]


def condition(
    resource_type: str,
    link: Link,
    values: list[str],
    now_us: int,
    registry: SearchRegistry,
    withholding: Withholding | None = None,
) -> tuple[str, list[object]]:
    """The clause as a boolean over `resource r`: an EXISTS (a driving clause is `ids`)."""
    coded = _coded_has(resource_type, link, values, registry, withholding)
    if coded is not None:
        return coded
    if isinstance(link, Final):
        param = _final_param(resource_type, link, registry)
        return clause.condition(resource_type, param, link.modifier, values, now_us, registry, withholding)
    if isinstance(link, Chain):
        body, args = _chain_body(resource_type, link, values, now_us, registry, withholding)
        owner = "s.res_type = r.res_type AND s.res_id = r.res_id"
    else:
        body, args = _has_body(link, values, now_us, registry, withholding)
        owner = "s.target_type = r.res_type AND s.target_id = r.res_id"
    return f"EXISTS (SELECT 1 FROM search_reference s WHERE {owner} AND {body})", args


def _coded_has(
    resource_type: str, link: Link, values: list[str], registry: SearchRegistry, withholding: Withholding | None
) -> tuple[str, list[object]] | None:
    """A `_has` ending in a coding, through a subject, as a probe of search_subject_code per
    resource searched (lifeline.search.query.subject_code.has_condition), or None."""
    if not isinstance(link, Has) or not isinstance(link.then, Final):
        return None
    final = link.then
    return subject_code.has_condition(
        resource_type, link.source, link.param, final.code, final.modifier, values, registry, withholding
    )


def _chain_branches(
    link: Chain, values: list[str], now_us: int, registry: SearchRegistry, withholding: Withholding | None
) -> list[tuple[str, list[object]]]:
    """`s.target_type = ? AND s.target_id IN (…)` for each target type the chain follows."""
    branches: list[tuple[str, list[object]]] = []
    for target_type, then in link.targets:
        sql, then_args = ids(target_type, then, values, now_us, registry, withholding)
        branches.append((f"s.target_type = ? AND s.target_id IN ({sql})", [target_type, *then_args]))
    return branches


def _chain_body(
    resource_type: str,
    link: Chain,
    values: list[str],
    now_us: int,
    registry: SearchRegistry,
    withholding: Withholding | None,
) -> tuple[str, list[object]]:
    branches = _chain_branches(link, values, now_us, registry, withholding)
    which, args = clause.rows_of(resource_type, _reference(resource_type, link.param, registry))
    for _, branch_args in branches:
        args += branch_args
    if len(branches) == 1:
        return f"{which} AND {branches[0][0]}", args
    return f"{which} AND (" + " OR ".join(f"({sql})" for sql, _ in branches) + ")", args


def _reference(resource_type: str, code: str, registry: SearchRegistry) -> SearchParameter:
    param = registry.get(resource_type, code)
    assert param is not None  # parse_name found it
    return param


def _has_body(
    link: Has, values: list[str], now_us: int, registry: SearchRegistry, withholding: Withholding | None
) -> tuple[str, list[object]]:
    sql, then_args = ids(link.source, link.then, values, now_us, registry, withholding)
    return f"s.pid = ? AND s.res_id IN ({sql})", [param_numbers.number(link.source, link.param), *then_args]
