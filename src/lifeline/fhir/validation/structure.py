"""The structural pass: walk a resource's JSON against the compiled R4 model, collecting all errors.

Checks unknown elements, choice types, cardinality, JSON arrays vs single values, nulls and empty
values, primitive types, required bindings, ele-1 and ext-1, contained and nested resources, and
collects the nodes whose FHIRPath invariants are evaluated afterwards.
See https://hl7.org/fhir/R4/json.html and https://hl7.org/fhir/R4/element.html#invs
"""

from __future__ import annotations

from typing import Any, NamedTuple

from lifeline.errors import Issue
from lifeline.fhir.validation.model import (
    COMPLEX,
    PRIMITIVE,
    PRIMITIVE_EXTENSION,
    RESOURCE,
    Constraint,
    Model,
    Node,
    Prop,
)


class Target(NamedTuple):
    """A value whose invariants are still to be evaluated, with its FHIRPath environment."""

    constraints: tuple[Constraint, ...]
    base: str  # FHIRPath type path of the value, e.g. "Period" or "Observation.referenceRange"
    node: Node | None  # the value's Node when it is an object
    value: Any
    loc: str
    resource: dict[str, Any]  # %resource
    root: dict[str, Any]  # %rootResource (the container of a contained resource)


class StructureCheck:
    """One walk over one resource; ``errors`` and ``targets`` hold the outcome."""

    __slots__ = ("model", "errors", "targets", "_resource", "_root")

    def __init__(self, model: Model, collect_targets: bool) -> None:
        self.model = model
        self.errors: list[Issue] = []
        self.targets: list[Target] | None = [] if collect_targets else None
        self._resource: dict[str, Any] = {}
        self._root: dict[str, Any] = {}

    def error(self, code: str, loc: str, message: str) -> None:
        self.errors.append(Issue("error", code, message, [loc]))

    def resource(self, obj: Any, loc: str, contained: bool = False) -> None:
        """Check a resource: the body, a contained resource, or a Bundle entry's resource."""
        if type(obj) is not dict:
            self.error("structure", loc, "A resource must be a JSON object")
            return
        resource_type = obj.get("resourceType")
        if resource_type is None:
            self.error("structure", loc, "The resource has no resourceType")
            return
        if not isinstance(resource_type, str) or resource_type not in self.model.resource_types:
            self.error("not-supported", loc, f"Unknown resourceType {resource_type!r}: not an R4 resource type")
            return
        outer = self._resource, self._root
        self._resource = obj
        if not contained:
            self._root = obj
        try:
            self.object(self.model.node(resource_type), obj, loc)
        finally:
            self._resource, self._root = outer

    def object(self, node: Node, obj: dict[str, Any], loc: str) -> None:
        """Check a JSON object against a Node: every property, then the required ones."""
        props = node.props
        choices: dict[str, str] | None = None
        for key, value in obj.items():
            prop = props.get(key)
            if prop is None:
                self._unknown(node, key, loc)
                continue
            if prop.choice is not None:
                choices = choices if choices is not None else {}
                variant = prop.value_key or key
                first = choices.setdefault(prop.choice, variant)
                if first != variant:
                    self.error(
                        "structure", f"{loc}.{key}", f"Only one {prop.choice}[x] is allowed: both {first} and {variant}"
                    )
            if value is None:
                self.error("structure", f"{loc}.{key}", f"'{key}' is null: FHIR JSON leaves out absent elements")
            elif prop.forbidden:
                self.error("structure", f"{loc}.{key}", f"'{key}' is not allowed in {node.path} (max 0)")
            elif prop.kind == PRIMITIVE_EXTENSION:
                self._primitive_extension(prop, value, obj.get(prop.value_key), f"{loc}.{prop.element}")
            elif prop.array:
                if type(value) is not list:
                    self.error("structure", f"{loc}.{key}", f"'{key}' repeats: it must be a JSON array")
                elif not value:
                    self.error("structure", f"{loc}.{key}", f"'{key}' is an empty array: leave it out instead")
                elif prop.kind == PRIMITIVE:
                    self._primitive_list(prop, value, obj.get("_" + key), f"{loc}.{key}")
                else:
                    for i, item in enumerate(value):
                        if item is None:
                            self.error("structure", f"{loc}.{key}[{i}]", f"'{key}' contains null")
                        else:
                            self.value(prop, item, f"{loc}.{key}[{i}]")
            elif type(value) is list:
                self.error("structure", f"{loc}.{key}", f"'{key}' has at most one value: it must not be an array")
            else:
                self.value(prop, value, f"{loc}.{key}")
        for element, keys in node.required:
            for key in keys:
                if key in obj:
                    break
            else:
                self.error("required", f"{loc}.{element}", f"Missing required element '{element}' in {node.path}")
        if node.hook is not None:
            node.hook(obj, loc, self.errors)
        if node.is_extension:
            self._ext_1(obj, loc)
        if node.constraints and self.targets is not None:
            self.targets.append(Target(node.constraints, node.base, node, obj, loc, self._resource, self._root))

    def value(self, prop: Prop, value: Any, loc: str) -> None:
        """Check one (non-null) value of a property."""
        kind = prop.kind
        if kind == PRIMITIVE:
            problem = prop.check(value)  # type: ignore[misc]
            if problem is not None:
                self.error("value", loc, f"'{prop.key}' {problem}")
            elif prop.codes is not None and value not in prop.codes:
                self.error("code-invalid", loc, f"'{value}' is not a valid code for '{prop.key}' (required binding)")
        elif kind == COMPLEX:
            if type(value) is not dict:
                self.error("structure", loc, f"'{prop.key}' must be a JSON object ({prop.type})")
                return
            if not value:
                self.error("structure", loc, f"'{prop.key}' is an empty object: leave it out instead")
                return
            if len(value) == 1 and "id" in value:
                self.error("invariant", loc, "ele-1: All FHIR elements must have a @value or children")
            self.object(prop.node, value, loc)  # type: ignore[arg-type]
        elif kind == RESOURCE:
            self.resource(value, loc, contained=prop.key == "contained")
            return
        if prop.constraints and self.targets is not None:
            node = prop.node if kind == COMPLEX else None
            self.targets.append(Target(prop.constraints, prop.base, node, value, loc, self._resource, self._root))

    def _primitive_list(self, prop: Prop, values: list[Any], extensions: Any, loc: str) -> None:
        # A null value is allowed only where the aligned "_x" entry carries its extensions.
        aligned = extensions if type(extensions) is list else []
        for i, item in enumerate(values):
            if item is None:
                if i >= len(aligned) or aligned[i] is None:
                    self.error("structure", f"{loc}[{i}]", f"'{prop.key}' contains null without extensions")
            else:
                self.value(prop, item, f"{loc}[{i}]")

    def _primitive_extension(self, prop: Prop, ext: Any, values: Any, loc: str) -> None:
        """``_x``: the id and extensions of primitive ``x``, aligned item by item when it repeats."""
        if not prop.array:
            if type(ext) is list:
                self.error("structure", loc, f"'{prop.key}' must not be an array")
            else:
                self._element(prop, ext, values is not None, loc)
            return
        if type(ext) is not list:
            self.error("structure", loc, f"'{prop.key}' must be a JSON array aligned with '{prop.value_key}'")
            return
        aligned = values if type(values) is list else []
        if values is not None and len(aligned) != len(ext):
            self.error("structure", loc, f"'{prop.key}' must have as many items as '{prop.value_key}'")
        for i, item in enumerate(ext):
            has_value = i < len(aligned) and aligned[i] is not None
            if item is None:
                if not has_value:
                    self.error("structure", f"{loc}[{i}]", f"'{prop.key}' contains null without a value")
            else:
                self._element(prop, item, has_value, f"{loc}[{i}]")

    def _element(self, prop: Prop, ext: Any, has_value: bool, loc: str) -> None:
        if type(ext) is not dict:
            self.error("structure", loc, f"'{prop.key}' must be a JSON object with id and extension")
        elif not ext:
            self.error("structure", loc, f"'{prop.key}' is an empty object: leave it out instead")
        else:
            self.object(self.model.element, ext, loc)
            if not has_value and "extension" not in ext:
                self.error("invariant", loc, "ele-1: All FHIR elements must have a @value or children")

    def _ext_1(self, ext: dict[str, Any], loc: str) -> None:
        has_value = any(key.startswith(("value", "_value")) for key in ext)
        if has_value == ("extension" in ext):
            self.error("invariant", loc, "ext-1: Must have either extensions or value[x], not both")

    def _unknown(self, node: Node, key: str, loc: str) -> None:
        if key == "resourceType":
            if not node.is_resource:
                self.error("structure", f"{loc}.{key}", "resourceType is only allowed at the root of a resource")
        elif key == "fhir_comments":
            self.error("structure", f"{loc}.{key}", "fhir_comments is not allowed in R4 JSON")
        elif key.startswith("_") and key[1:] in node.props:
            why = "cannot carry extensions" if node.props[key[1:]].kind == PRIMITIVE else "is not a primitive element"
            self.error("structure", f"{loc}.{key}", f"'{key}' is not allowed: '{key[1:]}' {why}")
        elif key in node.by_name:  # the bare name of a choice element, e.g. "value"
            variants = ", ".join(k for k in node.by_name[key] if not k.startswith("_"))
            self.error("structure", f"{loc}.{key}", f"Unknown element '{key}' in {node.path}: use one of {variants}")
        else:
            self.error("structure", f"{loc}.{key}", f"Unknown element '{key}' in {node.path}")
