"""Compile the FHIRPath shapes used by search parameters into plain Python path walkers.

Search-parameter expressions (https://hl7.org/fhir/R4/searchparameter.html, FHIRPath subset
https://hl7.org/fhirpath/N1/) are evaluated for every parameter of every resource
written, so a general FHIRPath engine is far too slow on the write path. Nearly all R4
expressions are one of a few shapes, compiled here into closures over JSON dicts and lists:

  Patient.name.given                       dotted paths (a leading type name is the root)
  A | B                                    unions
  (Observation.value.ofType(Quantity))     ofType/as on a choice element → valueQuantity
  Observation.value as Quantity            the infix form of the same
  X.where(resolve() is Patient)            references whose target type is Patient
  X.where(system='email')                  equality filters on a child
  X.extension('http://…')                  extensions by URL
  Bundle.entry[0].resource, X.first()      indexers
  X.exists() and X != false                the boolean shape of Patient-deceased

Anything else raises Unsupported and the caller falls back to fhirpathpy.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from lifeline.search.extract.reference import reference_type

Walker = Callable[[dict[str, Any]], list[Any]]
_Step = Callable[[list[Any]], list[Any]]


class Unsupported(Exception):
    """The expression is outside the compiled subset."""


# The top-level keys a walker reads first, where it gives nothing on a resource without any of
# them (see `root_keys`). Walkers are plain closures, so this is kept beside them.
_ROOT_KEYS: weakref.WeakKeyDictionary[Walker, frozenset[str]] = weakref.WeakKeyDictionary()


def root_keys(walker: Walker) -> frozenset[str] | None:
    """The resource keys `walker` starts from: on a resource holding none of them it returns
    nothing, so extraction may skip it (a resource has a few of its type's dozens of elements).
    None when that is not known (a bare root, a function first, the boolean shape, fhirpathpy)."""
    return _ROOT_KEYS.get(walker)


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>\d+)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>!=|[.|()\[\]=]))"
)
_BOOLEAN_SHAPE = re.compile(r"^\s*(?P<path>[A-Za-z][A-Za-z0-9_.]*)\.exists\(\)\s+and\s+(?P=path)\s*!=\s*false\s*$")


def _tokens(expression: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    expression = expression.rstrip()
    while pos < len(expression):
        m = _TOKEN.match(expression, pos)
        if not m:
            raise Unsupported(f"cannot tokenize at {expression[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Field:
    """Child `name` of every object node, arrays flattened; a choice element found by its key."""

    __slots__ = ("name", "choice_keys")

    def __init__(self, name: str, choice_keys: frozenset[str] | None) -> None:
        self.name = name
        self.choice_keys = choice_keys

    def get(self, node: dict[str, Any]) -> Any:
        value = node.get(self.name)
        if value is None and self.choice_keys:
            # A choice element has one key such as valueQuantity; JSON never holds two.
            for key in node:
                if key in self.choice_keys:
                    return node[key]
        return value

    def __call__(self, nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            if type(node) is dict:
                value = self.get(node)
                if value is None:
                    continue
                if type(value) is list:
                    out.extend(value)
                else:
                    out.append(value)
        return out


def _root(resource: dict[str, Any]) -> list[Any]:
    return [resource]


def _index(i: int) -> _Step:
    return lambda nodes: nodes[i : i + 1]


def _where_field_equals(field: str, literal: str) -> _Step:
    return lambda nodes: [n for n in nodes if type(n) is dict and n.get(field) == literal]


def _where_resolves_to(resource_type: str) -> _Step:
    def step(nodes: list[Any]) -> list[Any]:
        out = []
        for n in nodes:
            if type(n) is not dict:
                continue
            ref = n.get("reference")
            if n.get("type") == resource_type or (type(ref) is str and reference_type(ref) == resource_type):
                out.append(n)
        return out

    return step


def _extension(url: str) -> _Step:
    def step(nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for n in nodes:
            if type(n) is dict:
                out.extend(e for e in n.get("extension", ()) if type(e) is dict and e.get("url") == url)
        return out

    return step


class _Parser:
    """Recursive descent over the token list; builds a Walker or raises Unsupported."""

    def __init__(self, expression: str, resource_type: str, choices: Mapping[str, frozenset[str]]) -> None:
        self.tokens = _tokens(expression)
        self.pos = 0
        self.resource_type = resource_type
        self.choices = choices

    def peek(self, offset: int = 0) -> tuple[str, str]:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        k, v = self.peek()
        if (value is not None and v != value) or (kind is not None and k != kind):
            raise Unsupported(f"expected {value or kind}, found {v!r}")
        self.pos += 1
        return v

    def parse(self) -> Walker:
        walker = self.union()
        if self.peek()[0] != "end":
            raise Unsupported(f"unexpected {self.peek()[1]!r}")
        return walker

    def union(self) -> Walker:
        terms = [self.term()]
        while self.peek()[1] == "|":
            self.take("|")
            terms.append(self.term())
        if len(terms) == 1:
            return terms[0]

        def walk_union(resource: dict[str, Any]) -> list[Any]:
            return [v for t in terms for v in t(resource)]

        keys = [root_keys(t) for t in terms]
        if all(k is not None for k in keys):
            _ROOT_KEYS[walk_union] = frozenset().union(*(k for k in keys if k is not None))
        return walk_union

    def term(self) -> Walker:
        steps: list[_Step] = []
        last_field: str | None = None  # the field an ofType()/as may qualify
        kind, value = self.peek()
        if value == "(":
            self.take("(")
            start: Walker = self.union()
            self.take(")")
        elif kind == "id":
            start = self.root_or_field(steps)
            last_field = None if value[:1].isupper() else value
        else:
            raise Unsupported(f"unexpected {value!r}")
        while True:
            token = self.peek()[1]
            if token == "[":
                self.take("[")
                steps.append(_index(int(self.take(kind="num"))))
                self.take("]")
                last_field = None
            elif token == "as":  # infix `X as Type`
                self.take("as")
                steps[-1:] = [self.typed_field(steps, last_field, self.take(kind="id"))]
                last_field = None
            elif token == ".":
                self.take(".")
                name = self.take(kind="id")
                if self.peek()[1] != "(":
                    steps.append(_Field(name, self.choices.get(name)))
                    last_field = name
                    continue
                self.take("(")
                if name in ("ofType", "as"):
                    steps[-1:] = [self.typed_field(steps, last_field, self.take(kind="id"))]
                else:
                    steps.append(self.function(name))
                self.take(")")
                last_field = None
            else:
                return _chain(start, steps)

    def root_or_field(self, steps: list[_Step]) -> Walker:
        name = self.take(kind="id")
        if name[:1].isupper():
            if name not in (self.resource_type, "Resource", "DomainResource"):
                raise Unsupported(f"root {name} is not {self.resource_type}")
        else:  # a relative path such as `name | alias`
            steps.append(_Field(name, self.choices.get(name)))
        return _root

    def typed_field(self, steps: list[_Step], field: str | None, type_name: str) -> _Step:
        """`value.ofType(Quantity)` reads the JSON key valueQuantity instead of value."""
        if not steps or field is None or field not in self.choices:
            raise Unsupported(f"type filter on non-choice element {field}")
        return _Field(field + type_name[:1].upper() + type_name[1:], None)

    def function(self, name: str) -> _Step:
        if name == "first":
            return _index(0)
        if name == "extension":
            return _extension(self.take(kind="str")[1:-1])
        if name == "where":
            first = self.take(kind="id")
            if first == "resolve":
                self.take("(")
                self.take(")")
                self.take("is")
                return _where_resolves_to(self.take(kind="id"))
            self.take("=")
            return _where_field_equals(first, self.take(kind="str")[1:-1].replace("\\'", "'"))
        raise Unsupported(f"function {name}()")


def _chain(start: Walker, steps: list[_Step]) -> Walker:
    if not steps:
        return start
    if start is _root and isinstance(steps[0], _Field):
        # The common shape: read the first field straight off the resource, most often absent.
        first, rest = steps[0], tuple(steps[1:])
        name, choice_keys = first.name, first.choice_keys

        def walk_fields(resource: dict[str, Any]) -> list[Any]:
            value = resource.get(name)
            if value is None:
                if choice_keys is None:
                    return []
                value = first.get(resource)
                if value is None:
                    return []
            nodes = value if type(value) is list else [value]
            for step in rest:
                nodes = step(nodes)
                if not nodes:
                    break
            return nodes

        _ROOT_KEYS[walk_fields] = frozenset({name, *(choice_keys or ())})
        return walk_fields
    steps_t = tuple(steps)

    def walk(resource: dict[str, Any]) -> list[Any]:
        nodes = start(resource)
        for step in steps_t:
            if not nodes:
                return nodes
            nodes = step(nodes)
        return nodes

    start_keys = root_keys(start)  # a parenthesised union and what follows it
    if start_keys is not None:
        _ROOT_KEYS[walk] = start_keys
    return walk


def _boolean_shape(path: str, resource_type: str, choices: Mapping[str, frozenset[str]]) -> Walker:
    inner = _Parser(path, resource_type, choices).parse()

    def walk(resource: dict[str, Any]) -> list[Any]:
        # FHIRPath: `X.exists() and X != false` is false when X is absent, true unless X is false.
        values = inner(resource)
        return [bool(values) and values != [False]]

    return walk


def compile_path(expression: str, resource_type: str, choices: Mapping[str, frozenset[str]]) -> Walker:
    """A walker returning the JSON values the expression selects; Unsupported if not compilable."""
    m = _BOOLEAN_SHAPE.match(expression)
    if m:
        return _boolean_shape(m.group("path"), resource_type, choices)
    return _Parser(expression, resource_type, choices).parse()
