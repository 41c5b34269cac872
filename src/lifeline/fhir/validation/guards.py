"""Decide the simple cases of FHIRPath invariants natively, before asking the FHIRPath engine.

Most R4 invariants are guards such as ``value.empty() or system.exists()`` or
``reference.startsWith('#').not() or (...)``; on typical data one side decides the whole
expression. Evaluating them through fhirpathpy costs 20-200 µs each (and per Bundle entry for
``entry.all(...)``), so a guard compiled here answers when it is sure and says UNKNOWN otherwise,
and then fhirpathpy evaluates the expression. Answers follow FHIRPath's three-valued logic, with
EMPTY for the empty collection. Understood: ``and or xor implies``, ``not()``, comparisons with
a literal, between two booleans, between two dates or numbers and of ``count()``, and paths from
``$this``, ``%resource`` or ``%rootResource`` ending in ``exists() empty() hasValue() count()
startsWith() contains() matches() all()``, also after a ``where()`` whose criteria is one of
these. Equivalence with fhirpathpy is tested on sample data; one deliberate difference: dateTimes
in different zones are compared as instants, as FHIRPath says, where fhirpathpy 2.2 ignores the
zone offsets.
See https://hl7.org/fhirpath/N1/#boolean-logic
"""

from __future__ import annotations

import datetime
import operator
from collections.abc import Callable
from typing import Any

from lifeline.fhir.validation import fhirpath_syntax as syntax
from lifeline.fhir.validation.model import COMPLEX, PRIMITIVE_EXTENSION, RESOURCE, Model, Node
from lifeline.fhir.validation.structure import Target
from lifeline.jsontext import Decimal

FALSE, TRUE, EMPTY, UNKNOWN = 0, 1, 2, 3
Items = list[tuple[Node | None, Any]]
Guard = Callable[[Node | None, Any, Target], int]
Path = Callable[[Node | None, Any, Target], Items | None]

_ROOTS = {"%resource": "resource", "%rootResource": "root"}
# Functions that map an empty input to an empty output, so "absent" survives them.
_EMPTY_PRESERVING = {"where", "select", "first", "distinct"}
_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {"startsWith": str.startswith, "contains": str.__contains__}
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_COUNT_TESTS = {**_ORDER, "=": operator.eq, "!=": operator.ne}


def _unknown(node: Node | None, value: Any, env: Target) -> int:
    return UNKNOWN


def _not(a: int) -> int:
    return a if a >= EMPTY else 1 - a


def _or(values: list[int]) -> int:
    if TRUE in values:
        return TRUE
    return UNKNOWN if UNKNOWN in values else EMPTY if EMPTY in values else FALSE


def _and(values: list[int]) -> int:
    if FALSE in values:
        return FALSE
    return UNKNOWN if UNKNOWN in values else EMPTY if EMPTY in values else TRUE


def _xor(values: list[int]) -> int:
    if UNKNOWN in values:
        return UNKNOWN
    return EMPTY if EMPTY in values else values[0] ^ values[1]


def _implies(values: list[int]) -> int:
    a, b = values
    if a == FALSE or b == TRUE:
        return TRUE
    if a == TRUE:
        return b
    return UNKNOWN if UNKNOWN in values else EMPTY


def _equal(values: list[int]) -> int:
    if UNKNOWN in values:
        return UNKNOWN
    return EMPTY if EMPTY in values else int(values[0] == values[1])


def _combine(combine: Callable[[list[int]], int], guards: list[Guard]) -> Guard:
    if all(g is _unknown for g in guards):
        return _unknown
    return lambda n, v, env: combine([g(n, v, env) for g in guards])


def _short_circuit(guards: list[Guard], decisive: int, combine: Callable[[list[int]], int]) -> Guard:
    """``or`` stops at the first TRUE, ``and`` at the first FALSE."""
    if all(g is _unknown for g in guards):
        return _unknown

    def guard(node: Node | None, value: Any, env: Target) -> int:
        values = []
        for g in guards:
            result = g(node, value, env)
            if result == decisive:
                return decisive
            values.append(result)
        return combine(values)

    return guard


class Guards:
    """Compiles expressions to guards that look values up through the model's Nodes."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def compile(self, expression: str) -> Guard | None:
        """A guard for the expression, or None when no part of it can be decided natively."""
        guard = self._boolean(syntax.without_trace(expression))
        return None if guard is _unknown else guard

    def _boolean(self, expr: str) -> Guard:
        expr = syntax.strip_parens(expr.strip())
        parts = syntax.split(expr, " implies ")
        if len(parts) > 2:
            return _unknown
        if len(parts) == 2:
            return _combine(_implies, [self._boolean(p) for p in parts])
        if len(syntax.split(expr, " or ")) > 1 and len(syntax.split(expr, " xor ")) > 1:
            return _unknown  # mixed or/xor: left-associative, not worth modelling
        for op, decisive, combine in ((" or ", TRUE, _or), (" xor ", None, _xor), (" and ", FALSE, _and)):
            parts = syntax.split(expr, op)
            if len(parts) > 1:
                guards = [self._boolean(p) for p in parts]
                if decisive is None:
                    return _combine(combine, guards) if len(guards) == 2 else _unknown
                return _short_circuit(guards, decisive, combine)
        compared = syntax.comparison(expr)
        if compared is not None:
            return self._compare(*compared)
        if expr.endswith(".not()"):
            return _combine(lambda vs: _not(vs[0]), [self._boolean(expr[: -len(".not()")])])
        return self._function(expr)

    def _compare(self, left: str, op: str, right: str) -> Guard:
        value = syntax.literal(right)
        if left.endswith(".count()") and type(value) is int:
            counted = self._path(left[: -len(".count()")])
            if counted is None:
                return _unknown
            test, count = _COUNT_TESTS[op], value
            return lambda n, v, env: _count_test(counted(n, v, env), test, count)
        if op in _ORDER:
            return self._order(left, op, right, value)
        if value is None:  # two booleans, e.g. request.exists() = (%resource.type = 'batch')
            equal = _combine(_equal, [self._boolean(left), self._boolean(right)])
            return equal if op == "=" or equal is _unknown else lambda n, v, env: _not(equal(n, v, env))
        path = self._path(left)
        if path is None:
            return _unknown
        negate = op == "!="

        def guard(node: Node | None, v: Any, env: Target) -> int:
            item = _single(path(node, v, env))
            if item is None or item is _ABSENT:
                return EMPTY if item is _ABSENT else UNKNOWN
            if _kind(item) != _kind(value):
                return UNKNOWN
            return int((item == value) != negate)

        return guard

    def _order(self, left: str, op: str, right: str, value: Any) -> Guard:
        test = _ORDER[op]
        if value is not None and type(value) is not int:
            return _unknown  # a string literal may be a date to FHIRPath: leave it to the engine
        a = self._path(left)
        b = self._path(right) if value is None else None
        if a is None or (value is None and b is None):
            return _unknown

        def guard(node: Node | None, v: Any, env: Target) -> int:
            x = _single(a(node, v, env))
            y = _single(b(node, v, env)) if b is not None else value
            if x is None or y is None:
                return UNKNOWN
            if x is _ABSENT or y is _ABSENT:
                return EMPTY
            return _ordered(x, y, test)

        return guard

    def _function(self, expr: str) -> Guard:
        """``<path>.<fn>(...)``: the end of an invocation chain that yields a boolean."""
        start = syntax.opening(expr)
        dot = expr.rfind(".", 0, start) if start > 0 else -1
        if dot < 0:
            return _unknown
        name, args, prefix = expr[dot + 1 : start], expr[start + 1 : -1].strip(), expr[:dot]
        if name in ("exists", "empty") and not args:
            exists = name == "exists"
            selected = self._where(prefix)
            if selected is not None:  # e.g. coding.where(system = 'x' and code = 'y').exists() (con-4, con-5)
                return lambda n, v, env: _presence(selected(n, v, env), exists, True)
            exact = True  # after where()/select() only "absent" is certain: strip them, remembering it
            while prefix.endswith(")"):
                open_at = syntax.opening(prefix)
                dot = prefix.rfind(".", 0, open_at) if open_at > 0 else -1
                if dot < 0 or prefix[dot + 1 : open_at] not in _EMPTY_PRESERVING:
                    return _unknown
                prefix, exact = prefix[:dot], False
            parsed = _parse_path(prefix)
            if parsed is None:
                return _unknown
            if parsed[0] is None and len(parsed[1]) == 1 and exact:
                child = parsed[1][0]  # the common case, e.g. system.exists(), without building lists
                return lambda n, v, env: _presence_of(n, v, child, exists)
            resolve = self._resolver(*parsed)
            return lambda n, v, env: _presence(resolve(n, v, env), exists, exact)
        path = self._path(prefix)
        if path is None:
            return _unknown
        if name == "hasValue" and not args:
            return lambda n, v, env: _has_value(path(n, v, env))
        if name == "all" and args:
            criteria = self._boolean(args)
            return _unknown if criteria is _unknown else lambda n, v, env: _all(path(n, v, env), criteria, env)
        pattern = syntax.literal(args)
        if name in _STRING_TESTS and isinstance(pattern, str):
            test = _STRING_TESTS[name]
            return lambda n, v, env: _string_test(path(n, v, env), lambda s: test(s, pattern))
        if name == "matches":  # regex dialects differ: only "absent gives empty" is certain here
            return lambda n, v, env: EMPTY if _single(path(n, v, env)) is _ABSENT else UNKNOWN
        return _unknown

    def _where(self, expr: str) -> Path | None:
        """``<path>.where(<criteria>)`` whose criteria a guard decides: the items it selects; None
        for any other shape. An item the criteria cannot decide makes the selection unknown."""
        open_at = syntax.opening(expr)
        dot = expr.rfind(".", 0, open_at) if open_at > 0 else -1
        if dot < 0 or expr[dot + 1 : open_at] != "where":
            return None
        path = self._path(expr[:dot])
        criteria = self._boolean(expr[open_at + 1 : -1])
        if path is None or criteria is _unknown:
            return None
        return lambda n, v, env: _selected(path(n, v, env), criteria, env)

    def _path(self, expr: str) -> Path | None:
        """A resolver for ``a.b.c`` from $this, %resource or %rootResource; None if not a plain path."""
        parsed = _parse_path(expr)
        return None if parsed is None else self._resolver(*parsed)

    def _resolver(self, root: str | None, names: list[str]) -> Path:
        resolve = self._resolve
        if root is None:
            return lambda n, v, env: resolve(n, v, names)
        model = self.model
        return lambda n, v, env: resolve(model.node(getattr(env, root)["resourceType"]), getattr(env, root), names)

    def _resolve(self, node: Node | None, value: Any, names: list[str]) -> Items | None:
        """The values at a child path, or None when it cannot be told exactly (an extension-only
        primitive, a name the Node does not know, a step into a primitive)."""
        items: Items = [(node, value)]
        for name in names:
            found: Items = []
            for n, obj in items:
                if n is None or type(obj) is not dict:
                    return None
                keys = n.by_name.get(name)
                if keys is None:
                    return None
                for key in keys:
                    child = obj.get(key)
                    if child is None:
                        continue
                    prop = n.props[key]
                    if prop.kind == PRIMITIVE_EXTENSION:
                        return None
                    for item in child if type(child) is list else (child,):
                        if item is None:
                            continue
                        if prop.kind == COMPLEX:
                            found.append((prop.node, item))
                        elif prop.kind == RESOURCE:
                            found.append((self.model.node(item["resourceType"]), item))
                        else:
                            found.append((None, item))
            items = found
        return items


_ABSENT = object()  # _single's answer for an empty collection


def _single(items: Items | None) -> Any:
    """The one value of a collection, _ABSENT when empty, None when unknown or several."""
    if items is None or len(items) > 1:
        return None
    return items[0][1] if items else _ABSENT


def _kind(value: Any) -> type:
    return float if type(value) in (int, Decimal) else type(value)  # 1 = 1.0 in FHIRPath


def _parse_path(expr: str) -> tuple[str | None, list[str]] | None:
    """(root attribute of the Target or None for $this, child names) of a plain path."""
    root = None
    for prefix, attr in _ROOTS.items():
        if expr == prefix or expr.startswith(prefix + "."):
            root, expr = attr, expr[len(prefix) + 1 :]
            break
    names = syntax.names(expr) if expr else []
    return None if names is None else (root, names)


def _presence_of(node: Node | None, value: Any, name: str, exists: bool) -> int:
    if node is None or type(value) is not dict:
        return UNKNOWN
    keys = node.by_name.get(name)
    if keys is None:
        return UNKNOWN
    found = False
    for key in keys:
        if key in value:
            if key[0] == "_":
                return UNKNOWN  # a primitive with extensions (maybe only those): the engine decides
            found = True
    return int(found == exists)


def _presence(items: Items | None, exists: bool, exact: bool) -> int:
    if items is None or (items and not exact):
        return UNKNOWN
    return int(bool(items) == exists)


def _has_value(items: Items | None) -> int:
    item = _single(items)
    if item is None:
        return UNKNOWN
    if item is _ABSENT:
        return FALSE
    return TRUE if type(item) in (str, int, float, bool) else UNKNOWN


def _string_test(items: Items | None, test: Callable[[str], bool]) -> int:
    item = _single(items)
    if item is _ABSENT:
        return EMPTY
    return int(test(item)) if type(item) is str else UNKNOWN


def _count_test(items: Items | None, test: Callable[[int, int], bool], value: int) -> int:
    return UNKNOWN if items is None else int(test(len(items), value))


def _ordered(x: Any, y: Any, test: Callable[[Any, Any], bool]) -> int:
    """Numbers, or dates/dateTimes of the same precision; anything subtler goes to the engine."""
    if type(x) in (int, float, Decimal) and type(y) in (int, float, Decimal):
        return int(test(x, y))
    if type(x) is not str or type(y) is not str:
        return UNKNOWN
    if len(x) == len(y) and len(x) in (4, 7, 10):  # dates of equal precision sort as text
        return int(test(x, y))
    a, b = _instant(x), _instant(y)
    return UNKNOWN if a is None or b is None else int(test(a, b))


def _instant(text: str) -> datetime.datetime | None:
    # Only dateTimes with a time and a zone, to the second or up to microseconds (Python's limit).
    if len(text) < 20 or text[10] != "T" or text[19] not in ".Z+-":
        return None
    if text[19] == "." and len(text[20:].rstrip("Z").split("+")[0].split("-")[0]) > 6:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _selected(items: Items | None, criteria: Guard, env: Target) -> Items | None:
    # where() keeps the items the criteria is true for; false or empty drops one.
    if items is None:
        return None
    chosen: Items = []
    for node, value in items:
        result = criteria(node, value, env)
        if result == UNKNOWN:
            return None
        if result == TRUE:
            chosen.append((node, value))
    return chosen


def _all(items: Items | None, criteria: Guard, env: Target) -> int:
    # all() holds when the criteria is true for every item; false or empty for one fails it.
    if items is None:
        return UNKNOWN
    verdict = TRUE
    for node, value in items:
        result = criteria(node, value, env)
        if result in (FALSE, EMPTY):
            return FALSE
        if result == UNKNOWN:
            verdict = UNKNOWN
    return verdict
