"""Search parameters by number: how index rows name their parameter (issue 27).

Every index row says which parameter of its resource type it answers. As the code's text
(`identifier`, `value-quantity`) it filled about 10 bytes of each row and, with the resource type
in front, about 25 of each lookup-index entry. Since migration 22 a row holds a SMALLINT instead,
one number per resource type and parameter code, so that the number alone says both and the
lookup indexes begin with it: on the generated region that took 200 bytes from each stored
resource, 4,126 to 3,926 (docs/benchmarks.md).

The numbers are given once and kept for good, in the order of
lifeline/definitions/search-parameter-numbers.json (tools/number_search_parameters.py appends a
new release's parameters at its end). The same list fills the `search_param` table, so that a
person reading the database can join a number back to its name; Lifeline itself reads the numbers
from the package, never from that table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources

NUMBERS_FILE = "search-parameter-numbers.json"


@cache
def _numbered() -> tuple[tuple[str, str], ...]:
    text = resources.files("lifeline.definitions").joinpath(NUMBERS_FILE).read_text()
    return tuple((str(res_type), str(code)) for res_type, code in json.loads(text))


@cache
def _by_pair() -> dict[tuple[str, str], int]:
    return {pair: number for number, pair in enumerate(_numbered(), start=1)}


@cache
def _by_code() -> dict[str, tuple[int, ...]]:
    found: dict[str, list[int]] = {}
    for number, (_, code) in enumerate(_numbered(), start=1):
        found.setdefault(code, []).append(number)
    return {code: tuple(numbers) for code, numbers in found.items()}


@cache
def of_type(res_type: str) -> dict[str, int]:
    """The numbers of `res_type`'s parameters by code (what a writer looks its rows' numbers up in)."""
    return {code: number for (t, code), number in _by_pair().items() if t == res_type}


def number(res_type: str, code: str) -> int:
    """The number of parameter `code` of `res_type` (KeyError for one the release does not know)."""
    return _by_pair()[res_type, code]


def has(res_type: str, code: str) -> bool:
    """Whether `res_type` has a parameter `code` (a number)."""
    return (res_type, code) in _by_pair()


def numbers_of_code(code: str) -> tuple[int, ...]:
    """The numbers of parameter `code` on every resource type that has it (a search of every type)."""
    return _by_code().get(code, ())


def parameter(pid: int) -> tuple[str, str]:
    """The resource type and code of number `pid`."""
    return _numbered()[pid - 1]


def numbered() -> tuple[tuple[str, str], ...]:
    """Every (resource type, code) in number order (number 1 first)."""
    return _numbered()


def of(pairs: Iterable[tuple[str, str]]) -> list[int]:
    """The numbers of (resource type, code) pairs, in their order."""
    by_pair = _by_pair()
    return [by_pair[pair] for pair in pairs]


def condition(alias: str, numbers: Sequence[int]) -> tuple[str, list[object]]:
    """`alias.pid = ?` or `alias.pid IN (?, …)` over index rows, with its arguments (none: false)."""
    if not numbers:
        return "1 = 0", []
    if len(numbers) == 1:
        return f"{alias}.pid = ?", [numbers[0]]
    return f"{alias}.pid IN ({', '.join('?' for _ in numbers)})", list(numbers)
