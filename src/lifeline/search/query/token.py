"""Token search: code, system|code, |code, system|, and the :not and :text modifiers.

https://hl7.org/fhir/R4/search.html#token — `[code]` matches the code in any system,
`[system]|[code]` both, `|[code]` a code without a system, `[system]|` any code of the system.
:not finds resources with no matching token (those without a value included; the caller wraps
the match in NOT EXISTS). :text matches the start of the normalized display or text.
Codes are compared exactly: case-insensitive code systems are not special-cased.
"""

from __future__ import annotations

from lifeline.errors import BadRequest
from lifeline.search.normalize import normalize
from lifeline.search.query.values import LIKE_ESCAPE, like_pattern, split_unescaped, unescape
from lifeline.search.registry import SearchParameter

TABLE = "search_token"
MODIFIERS = frozenset({"not", "text"})

Token = tuple[str | None, str | None, bool]  # system, code, whether a system part was given


def parse(value: str, modifier: str | None, param: SearchParameter) -> Token | str:
    if modifier == "text":
        return unescape(value)
    parts = split_unescaped(value, "|")
    if len(parts) == 1:
        return None, unescape(parts[0]), False
    if len(parts) > 2:
        raise BadRequest(f"Invalid token {value!r} for search parameter {param.code!r}")
    system, code = unescape(parts[0]), unescape(parts[1])
    if not system and not code:
        raise BadRequest(f"Invalid token {value!r} for search parameter {param.code!r}")
    return system or None, code or None, True


def condition(token: Token | str, modifier: str | None, now_us: int) -> tuple[str, list[object]]:
    if isinstance(token, str):
        return f"s.text LIKE ? {LIKE_ESCAPE}", [like_pattern(normalize(token))]
    system, code, has_system_part = token
    if not has_system_part:
        return "s.code = ?", [code]
    if system is None:
        return "s.system IS NULL AND s.code = ?", [code]
    if code is None:
        return "s.system = ?", [system]
    return "s.system = ? AND s.code = ?", [system, code]
