"""The R4 structure compiled into lookup tables: one Node per type or backbone element.

A Node maps each JSON property name it allows (``valueQuantity``, ``_birthDate``) to a Prop that
says how to check the value. Datatypes are linked on first use, resources lazily per type; the
compiled definitions come from ``lifeline/definitions/structure.json.gz``.
See https://hl7.org/fhir/R4/elementdefinition.html and https://hl7.org/fhir/R4/json.html
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lifeline.definitions import load
from lifeline.errors import Issue
from lifeline.fhir.validation.primitives import Checker, build_checkers

# Prop kinds.
PRIMITIVE, COMPLEX, RESOURCE, PRIMITIVE_EXTENSION = range(4)
# Checked natively by the walker, so never handed to the FHIRPath engine.
NATIVE_CONSTRAINTS = frozenset({"ele-1", "ext-1"})
# Profiles compiled as types of their own, and the base type FHIRPath knows them by.
PROFILE_BASES = {"SimpleQuantity": "Quantity", "MoneyQuantity": "Quantity"}

Hook = Callable[[dict[str, Any], str, list[Issue]], None]


@dataclass(frozen=True, slots=True)
class Constraint:
    """An ElementDefinition.constraint: a FHIRPath invariant."""

    key: str
    severity: str
    human: str
    expression: str


class Node:
    """A JSON object's allowed properties: a datatype, a resource or a backbone element."""

    __slots__ = ("path", "base", "props", "required", "by_name", "constraints", "is_resource", "is_extension", "hook")

    def __init__(self, path: str, is_resource: bool = False) -> None:
        self.path = path
        self.base = PROFILE_BASES.get(path, path)  # the type path FHIRPath knows it by
        self.props: dict[str, Prop] = {}
        self.required: list[tuple[str, tuple[str, ...]]] = []  # element name, JSON keys that satisfy it
        self.by_name: dict[str, tuple[str, ...]] = {}  # element name (FHIRPath) -> JSON keys
        self.constraints: tuple[Constraint, ...] = ()
        self.is_resource = is_resource
        self.is_extension = path == "Extension"
        self.hook: Hook | None = None


class Prop:
    """One JSON property of a Node and how to check its value."""

    __slots__ = (
        "key", "element", "kind", "array", "forbidden", "type", "check", "codes", "node",
        "constraints", "base", "choice", "value_key",
    )  # fmt: skip

    def __init__(self, key: str, element: str, kind: int, array: bool, type_: str) -> None:
        self.key = key
        self.element = element  # the element name without [x], e.g. "value" for valueQuantity
        self.kind = kind
        self.array = array
        self.forbidden = False  # max = 0 in a profile (SimpleQuantity.comparator)
        self.type = type_
        self.check: Checker | None = None
        self.codes: frozenset[str] | None = None  # required binding, when enumerable
        self.node: Node | None = None
        self.constraints: tuple[Constraint, ...] = ()
        self.base = type_  # FHIRPath type path for element constraints
        self.choice: str | None = None  # element name when one of several [x] variants
        self.value_key = ""  # for "_x": the key "x" holding the primitive value


@lru_cache(maxsize=1)
def definitions() -> dict[str, Any]:
    """The compiled R4 definitions, parsed once per process."""
    data: dict[str, Any] = load("structure")
    return data


class Model:
    """Compiles and caches the Nodes of the R4 types."""

    def __init__(self, hooks: dict[str, Hook] | None = None) -> None:
        data = definitions()
        self.fhir_version: str = data["fhirVersion"]
        self.checkers = build_checkers(data["primitives"])
        self.resource_types = frozenset(data["resources"])
        self._types: dict[str, Any] = data["types"]
        self._constraints = [Constraint(**c) for c in data["constraints"]]
        self._valuesets = {url: frozenset(codes) for url, codes in data["valuesets"].items()}
        self._hooks = hooks or {}
        self._nodes: dict[str, Node] = {}  # complete Nodes only: read without the lock
        self._pending: dict[str, Node] = {}  # Nodes being linked, seen only by the compiling thread
        self._depth = 0
        # Validation may run in worker threads: a half-built Node must never be visible.
        self._lock = threading.RLock()
        self.element = self._element_node()
        # Extension.value[x] reaches every datatype: all of them are compiled here, once.
        self.element.props["extension"].node = self.node("Extension")

    def node(self, path: str) -> Node:
        """The Node of a type or backbone path (``Patient``, ``Questionnaire.item``)."""
        node = self._nodes.get(path)
        if node is not None:
            return node
        with self._lock:
            node = self._nodes.get(path) or self._pending.get(path)
            if node is not None:
                return node  # already published, or being linked further up this thread's stack
            self._depth += 1
            try:
                self._compile(path.split(".", 1)[0])
                node = self._pending[path]
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._nodes.update(self._pending)
                    self._pending.clear()
            return node

    def _element_node(self) -> Node:
        """The object form of a primitive's id and extensions (``_birthDate``)."""
        node = Node("Element")
        ident = Prop("id", "id", PRIMITIVE, False, "string")
        ident.check = self.checkers["string"]
        extension = Prop("extension", "extension", COMPLEX, True, "Extension")
        node.props = {"id": ident, "extension": extension}
        node.by_name = {"id": ("id",), "extension": ("extension",)}
        return node

    def _compile(self, name: str) -> None:
        spec = self._types.get(name)
        if spec is None:
            raise KeyError(f"no R4 definition for type {name!r}")
        elements = spec["elements"]
        root = Node(name, is_resource=spec["kind"] == "resource")
        root.hook = self._hooks.get(name)
        nodes = {name: root}
        for el in elements[1:]:
            if el.get("types") in (["BackboneElement"], ["Element"]):
                nodes[el["path"]] = Node(el["path"])
        # Register before linking so that recursive types (Extension.extension) find themselves.
        self._pending.update(nodes)
        root.constraints = self._constraints_of(elements[0])
        by_path = {el["path"]: el for el in elements}
        for el in elements[1:]:
            parent, element = el["path"].rsplit(".", 1)
            constraints = self._constraints_of(el)
            if "contentReference" in el:  # Questionnaire.item.item obeys Questionnaire.item's rules
                constraints += self._constraints_of(by_path[el["contentReference"]])
            self._add_element(nodes[parent], element, el, nodes, constraints)

    def _constraints_of(self, el: dict[str, Any]) -> tuple[Constraint, ...]:
        refs = (self._constraints[i] for i in el.get("constraints", ()))
        return tuple(c for c in refs if c.key not in NATIVE_CONSTRAINTS)

    def _add_element(
        self, node: Node, element: str, el: dict[str, Any], nodes: dict[str, Node], constraints: tuple[Constraint, ...]
    ) -> None:
        array = el["max"] not in ("0", "1")
        codes = self._valuesets.get(el.get("binding", ""))
        if "choices" in el:
            element = element[:-3]
            variants = list(el["choices"].items())
        else:
            variants = [(element, el["types"][0] if "types" in el else "")]
        keys: list[str] = []
        for key, type_ in variants:
            prop = self._prop(key, element, array, type_, el, nodes)
            prop.forbidden = el["max"] == "0"
            prop.constraints = constraints
            prop.codes = codes if prop.kind == PRIMITIVE else None
            if "choices" in el:
                prop.choice = element
            elif prop.kind == COMPLEX and prop.node is not None and "." in prop.node.path:
                prop.base = prop.node.path  # a backbone element: FHIRPath knows it by its path
            node.props[key] = prop
            keys.append(key)
            if prop.kind == PRIMITIVE and not el.get("attribute"):
                ext = Prop("_" + key, element, PRIMITIVE_EXTENSION, array, type_)
                ext.choice, ext.value_key, ext.forbidden = prop.choice, key, prop.forbidden
                node.props[ext.key] = ext
                keys.append(ext.key)
        node.by_name[element] = tuple(keys)
        if el["min"] > 0:
            node.required.append((element, tuple(keys)))

    def _prop(
        self, key: str, element: str, array: bool, type_: str, el: dict[str, Any], nodes: dict[str, Node]
    ) -> Prop:
        if "contentReference" in el:
            prop = Prop(key, element, COMPLEX, array, el["contentReference"])
            prop.node = nodes[el["contentReference"]]
            return prop
        if type_ in self.checkers:
            prop = Prop(key, element, PRIMITIVE, array, type_)
            prop.check = self.checkers[type_]
            return prop
        if type_ == "Resource":
            return Prop(key, element, RESOURCE, array, type_)
        prop = Prop(key, element, COMPLEX, array, type_)
        if type_ in ("BackboneElement", "Element"):
            prop.node = nodes[el["path"]]
        else:
            prop.node = self.node(type_)
            prop.base = PROFILE_BASES.get(type_, type_)
        return prop
