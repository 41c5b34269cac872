"""Just enough FHIRPath syntax to take an invariant apart at its top-level operators.

Used by lifeline.fhir.validation.guards; anything these helpers do not recognise is left to the
FHIRPath engine. See https://hl7.org/fhirpath/N1/#grammar
"""

from __future__ import annotations

import re

_IDENT = re.compile(r"([A-Za-z][A-Za-z0-9]*)|`([A-Za-z][A-Za-z0-9]*)`")
_INTEGER = re.compile(r"-?[0-9]+")
ORDERING = ("<=", ">=", "<", ">")


def scan(expr: str) -> list[tuple[int, int]]:
    """(index, depth) of every character outside quotes; depth counts open parentheses,
    and a closing parenthesis has the depth of the one it closes."""
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


def split(expr: str, op: str) -> list[str]:
    """Split at ``op`` (e.g. " or ") where it stands outside parentheses and quotes."""
    cuts = [i for i, depth in scan(expr) if depth == 0 and expr.startswith(op, i)]
    bounds = [0, *(c for cut in cuts for c in (cut, cut + len(op))), len(expr)]
    return [expr[bounds[k] : bounds[k + 1]].strip() for k in range(0, len(bounds), 2)]


def comparison(expr: str) -> tuple[str, str, str] | None:
    """(left, operator, right) for the first top-level ``= != < <= > >=``, else None."""
    for i, depth in scan(expr):
        ch = expr[i]
        if depth != 0 or ch not in "=!<>":
            continue
        two = expr[i : i + 2]
        if two in ("!=", "<=", ">="):
            return expr[:i].strip(), two, expr[i + 2 :].strip()
        if ch in "<>":
            return expr[:i].strip(), ch, expr[i + 1 :].strip()
        if ch == "=" and (i == 0 or expr[i - 1] != "~"):
            return expr[:i].strip(), "=", expr[i + 1 :].strip()
    return None


def opening(expr: str) -> int:
    """Index of the parenthesis that the final ``)`` of ``expr`` closes, or -1."""
    depth_at = dict(scan(expr))
    last = len(expr) - 1
    if last < 0 or expr[last] != ")" or last not in depth_at:
        return -1
    for i in range(last - 1, -1, -1):
        if expr[i] == "(" and depth_at.get(i) == depth_at[last]:
            return i
    return -1


def strip_parens(expr: str) -> str:
    while expr.startswith("(") and opening(expr) == 0:
        expr = expr[1:-1].strip()
    return expr


def without_trace(expr: str) -> str:
    """Drop ``.trace(...)`` calls: trace() returns its input unchanged."""
    while True:
        starts = [i for i, _ in scan(expr) if expr.startswith(".trace(", i)]
        if not starts:
            return expr
        start = starts[0]
        end = _closing(expr, start + len(".trace"))
        if end < 0:
            return expr
        expr = expr[:start] + expr[end + 1 :]


def _closing(expr: str, open_at: int) -> int:
    depth_at = dict(scan(expr))
    depth = depth_at.get(open_at)
    for i in range(open_at + 1, len(expr)):
        if expr[i] == ")" and depth_at.get(i) == depth:
            return i
    return -1


def names(expr: str) -> list[str] | None:
    """``a.b.`c``` as ["a", "b", "c"]; None when it is not a plain path."""
    out, i = [], 0
    while True:
        match = _IDENT.match(expr, i)
        if match is None:
            return None
        out.append(match.group(1) or match.group(2))
        i = match.end()
        if i == len(expr):
            return out
        if expr[i] != ".":
            return None
        i += 1


def literal(text: str) -> str | bool | int | None:
    """The value of a string, boolean or integer literal, else None."""
    if text in ("true", "false"):
        return text == "true"
    if _INTEGER.fullmatch(text):
        return int(text)
    if len(text) >= 2 and text[0] == text[-1] == "'" and "\\" not in text and "'" not in text[1:-1]:
        return text[1:-1]
    return None
