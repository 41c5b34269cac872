r"""Search-value syntax shared by the parameter types: escaping, OR lists, prefixes, LIKE patterns.

https://hl7.org/fhir/R4/search.html#escaping — `\,` `\|` `\$` and `\\` escape the separators;
a comma separates alternatives (OR), a pipe separates system|code and value|system|code.
https://hl7.org/fhir/R4/search.html#prefix — the two-letter comparison prefixes of number, date
and quantity values.
"""

from __future__ import annotations

from lifeline.errors import BadRequest

PREFIXES = frozenset({"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"})


def split_unescaped(text: str, separator: str) -> list[str]:
    """Split at separators not escaped by a backslash; the escapes themselves are kept."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    """Remove search escapes: `a\\,b` → `a,b`; a lone trailing backslash stays."""
    if "\\" not in text:
        return text
    out: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    if escaped:
        out.append("\\")
    return "".join(out)


def split_prefix(value: str) -> tuple[str, str]:
    """("ge", "2024") from "ge2024"; ("eq", "2024") when there is no prefix."""
    if len(value) > 2 and value[:2] in PREFIXES:
        return value[:2], value[2:]
    if value[:2].isalpha():
        raise BadRequest(f"Unknown search prefix in {value!r}")
    return "eq", value


def like_pattern(text: str, *, starts: bool = True) -> str:
    r"""A LIKE pattern, `%` `_` and `\` escaped (used with ESCAPE '\'), for a normalized value."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%" if starts else "%" + escaped + "%"


LIKE_ESCAPE = "ESCAPE '\\'"
