"""URI search values: uri, url and canonical elements, indexed verbatim.

https://hl7.org/fhir/R4/search.html#uri — matching is exact and case-sensitive.
"""

from __future__ import annotations

from typing import Any

from lifeline.storage.index_rows import UriEntry


def add(param: str, values: list[Any], out: list[UriEntry]) -> None:
    for value in values:
        if type(value) is str and value:
            out.append(UriEntry(param, value))
