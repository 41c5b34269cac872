"""Decide the simple cases of FHIRPath invariants natively, before asking the FHIRPath engine.

Most R4 invariants are guards such as ``value.empty() or system.exists()`` or
``reference.startsWith('#').not() or (...)``; on typical data one side decides the whole
expression. Evaluating them through fhirpathpy costs 20-130 µs each (and per Bundle entry for
``entry.all(...)``), so a guard compiled here answers when it is sure and says UNKNOWN otherwise,
and then fhirpathpy evaluates the expression. Answers follow FHIRPath's three-valued logic, with
EMPTY for the empty collection. Understood: ``and or xor implies``, ``not()``, ``=``/``!=``
against a literal or between two booleans, and paths from ``$this``, ``%resource`` or
``%rootResource`` ending in ``exists() empty() hasValue() startsWith() contains() all()``.
See https://hl7.org/fhirpath/N1/#boolean-logic
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lifeline.fhir.validation.model import COMPLEX, PRIMITIVE_EXTENSION, RESOURCE, Model, Node
from lifeline.fhir.validation.structure import Target

FALSE, TRUE, EMPTY, UNKNOWN = 0, 1, 2, 3
Items = list[tuple[Node | None, Any]]
Guard = Callable[[Node | None, Any, Target], int]
Path = Callable[[Node | None, Any, Target], Items | None]

_IDENT = re.compile(r"([A-Za-z][A-Za-z0-9]*)|`([A-Za-z][A-Za-z0-9]*)`")
_ROOTS = {"%resource": "resource", "%rootResource": "root"}
# Functions that map an empty input to an empty output, so "absent" survives them.
_EMPTY_PRESERVING = {"where", "select", "trace", "first", "distinct"}


def _unknown(node: Node | None, value: Any, env: Target) -> int:
    return UNKNOWN


def _short_circuit(guards: list[Guard], decisive: int, combine: Callable[[list[int]], int]) -> Guard:
    """``or`` stops at the first TRUE, ``and`` at the first FALSE."""

    def guard(node: Node | None, value: Any, env: Target) -> int:
        values = []
        for g in guards:
            result = g(node, value, env)
            if result == decisive:
                return decisive
            values.append(result)
        return combine(values)

    return guard


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


def _implies(a: int, b: int) -> int:
    if a == FALSE or b == TRUE:
        return TRUE
    if a == TRUE:
        return b
    return UNKNOWN if UNKNOWN in (a, b) else EMPTY


def _equal(a: int, b: int) -> int:
    if UNKNOWN in (a, b):
        return UNKNOWN
    return EMPTY if EMPTY in (a, b) else int(a == b)


class Guards:
    """Compiles expressions to guards that look values up through the model's Nodes."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def compile(self, expression: str) -> Guard | None:
        """A guard for the expression, or None when no part of it can be decided natively."""
        guard = self._boolean(expression)
        return None if guard is _unknown else guard

    def _boolean(self, expr: str) -> Guard:
        expr = _strip_parens(expr.strip())
        parts = _split(expr, " implies ")
        if len(parts) > 2:
            return _unknown
        if len(parts) == 2:
            a, b = self._boolean(parts[0]), self._boolean(parts[1])
            return self._combine(lambda vs: _implies(vs[0], vs[1]), [a, b])
        if len(_split(expr, " or ")) > 1 and len(_split(expr, " xor ")) > 1:
            return _unknown  # mixed or/xor: left-associative, not worth modelling
        for op, combine in ((" or ", _or), (" xor ", _xor), (" and ", _and)):
            parts = _split(expr, op)
            if len(parts) > 1:
                if op == " xor " and len(parts) != 2:
                    return _unknown
                guards = [self._boolean(p) for p in parts]
                if op == " xor " or all(g is _unknown for g in guards):
                    return self._combine(combine, guards)
                return _short_circuit(guards, TRUE if op == " or " else FALSE, combine)
        comparison = _comparison(expr)
        if comparison is not None:
            return self._compare(*comparison)
        if expr.endswith(".not()"):
            inner = self._boolean(expr[: -len(".not()")])
            return self._combine(lambda vs: _not(vs[0]), [inner])
        return self._function(expr)

    @staticmethod
    def _combine(combine: Callable[[list[int]], int], guards: list[Guard]) -> Guard:
        if all(g is _unknown for g in guards):
            return _unknown
        return lambda n, v, env: combine([g(n, v, env) for g in guards])

    def _compare(self, left: str, op: str, right: str) -> Guard:
        literal = _literal(right)
        if literal is None:  # two booleans, e.g. request.exists() = (%resource.type = 'batch')
            a, b = self._boolean(left), self._boolean(right)
            equal = self._combine(lambda vs: _equal(vs[0], vs[1]), [a, b])
            return equal if op == "=" or equal is _unknown else lambda n, v, env: _not(equal(n, v, env))
        path = self._path(left)
        if path is None:
            return _unknown
        negate = op == "!="

        def guard(node: Node | None, value: Any, env: Target) -> int:
            items = path(node, value, env)
            if items is None or len(items) > 1:
                return UNKNOWN
            if not items:
                return EMPTY
            if type(items[0][1]) is not type(literal):
                return UNKNOWN
            return int((items[0][1] == literal) != negate)

        return guard

    def _function(self, expr: str) -> Guard:
        """``<path>.<fn>(...)``: the end of an invocation chain that yields a boolean."""
        if not expr.endswith(")"):
            return _unknown
        start = _opening(expr)
        dot = expr.rfind(".", 0, start)
        if start < 0 or dot < 0:
            return _unknown
        name, args = expr[dot + 1 : start], expr[start + 1 : -1].strip()
        prefix = expr[:dot]
        if name in ("exists", "empty") and not args:
            exists = name == "exists"
            # After where()/select() only "absent" is certain: strip them, remembering it.
            exact = True
            while prefix.endswith(")"):
                open_ = _opening(prefix)
                dot = prefix.rfind(".", 0, open_)
                if open_ < 0 or dot < 0 or prefix[dot + 1 : open_] not in _EMPTY_PRESERVING:
                    return _unknown
                prefix, exact = prefix[:dot], False
            parsed = _parse_path(prefix)
            if parsed is None:
                return _unknown
            if parsed[0] is None and len(parsed[1]) == 1 and exact:
                name = parsed[1][0]  # the common case, e.g. system.exists(), without building lists
                return lambda n, v, env: _presence_of(n, v, name, exists)
            path = self._resolver(*parsed)
            return lambda n, v, env: _presence(path(n, v, env), exists, exact)
        path = self._path(prefix)
        if path is None:
            return _unknown
        if name == "hasValue" and not args:
            return lambda n, v, env: _has_value(path(n, v, env))
        if name == "all" and args:
            criteria = self._boolean(args)
            if criteria is _unknown:
                return _unknown
            return lambda n, v, env: _all(path(n, v, env), criteria, env)
        literal = _literal(args)
        if name in ("startsWith", "contains") and isinstance(literal, str):
            test = str.startswith if name == "startsWith" else str.__contains__
            return lambda n, v, env: _string_test(path(n, v, env), lambda s: test(s, literal))
        return _unknown

    def _path(self, expr: str) -> Path | None:
        """A resolver for ``a.b.c`` from $this, %resource or %rootResource; None if not a plain path."""
        parsed = _parse_path(expr)
        return None if parsed is None else self._resolver(*parsed)

    def _resolver(self, root: str | None, names: list[str]) -> Path:
        resolve = self._resolve
        if root is None:
            return lambda n, v, env: resolve(n, v, names)
        model = self.model
        return lambda n, v, env: resolve(
            model.node(getattr(env, root)["resourceType"]), getattr(env, root), names
        )

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


def _parse_path(expr: str) -> tuple[str | None, list[str]] | None:
    """(root attribute of the Target or None for $this, child names) of a plain path."""
    root = None
    for prefix, attr in _ROOTS.items():
        if expr == prefix or expr.startswith(prefix + "."):
            root, expr = attr, expr[len(prefix) + 1 :]
            break
    names = _names(expr) if expr else []
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
    if items is None or len(items) > 1:
        return UNKNOWN
    if not items:
        return FALSE
    return TRUE if type(items[0][1]) in (str, int, float, bool) else UNKNOWN


def _string_test(items: Items | None, test: Callable[[str], bool]) -> int:
    if items is None or len(items) > 1:
        return UNKNOWN
    if not items:
        return EMPTY
    return int(test(items[0][1])) if type(items[0][1]) is str else UNKNOWN


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


def _scan(expr: str) -> list[tuple[int, int]]:
    """(index, depth) of every character outside quotes; depth counts open parentheses."""
    out, depth, quote, i = [], 0, "", 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'`":
            quote = ch
        else:
            if ch == ")":
                depth -= 1
            out.append((i, depth))
            if ch == "(":
                depth += 1
        i += 1
    return out


def _split(expr: str, op: str) -> list[str]:
    """Split at ``op`` where it stands outside parentheses and quotes."""
    cuts = [i for i, depth in _scan(expr) if depth == 0 and expr.startswith(op, i)]
    bounds = [0, *(c for cut in cuts for c in (cut, cut + len(op))), len(expr)]
    return [expr[bounds[k] : bounds[k + 1]].strip() for k in range(0, len(bounds), 2)]


def _comparison(expr: str) -> tuple[str, str, str] | None:
    """``left = right`` or ``left != right`` at the top level (not <=, >=, ~)."""
    for i, depth in _scan(expr):
        if depth == 0 and expr[i] == "=" and (i == 0 or expr[i - 1] not in "<>~"):
            if i > 0 and expr[i - 1] == "!":
                return expr[: i - 1].strip(), "!=", expr[i + 1 :].strip()
            return expr[:i].strip(), "=", expr[i + 1 :].strip()
    return None


def _opening(expr: str) -> int:
    """Index of the parenthesis that the final ``)`` of ``expr`` closes, or -1."""
    depth_at = dict(_scan(expr))
    last = len(expr) - 1
    if depth_at.get(last) is None:
        return -1
    for i in range(last - 1, -1, -1):
        if expr[i] == "(" and depth_at.get(i) == depth_at[last]:
            return i
    return -1


def _strip_parens(expr: str) -> str:
    while expr.startswith("(") and expr.endswith(")") and _opening(expr) == 0:
        expr = expr[1:-1].strip()
    return expr


def _names(expr: str) -> list[str] | None:
    names, i = [], 0
    while True:
        match = _IDENT.match(expr, i)
        if match is None:
            return None
        names.append(match.group(1) or match.group(2))
        i = match.end()
        if i == len(expr):
            return names
        if expr[i] != ".":
            return None
        i += 1


def _literal(text: str) -> str | bool | None:
    if text in ("true", "false"):
        return text == "true"
    if len(text) >= 2 and text[0] == text[-1] == "'" and "\\" not in text and "'" not in text[1:-1]:
        return text[1:-1]
    return None
