"""String search values: plain strings, HumanName and Address parts.

https://hl7.org/fhir/R4/search.html#string — a HumanName is searched on family, given, prefix,
suffix and text, an Address on line, city, district, state, postalCode, country and text; each
part is its own entry so that `name=sør` finds "Søren" as a given name. `normalized` feeds the
default starts-with and :contains searches, `exact` the :exact one.
"""

from __future__ import annotations

from typing import Any

from lifeline.search.normalize import normalize
from lifeline.storage.index_rows import StringEntry

# HumanName and Address parts together: the two types share only `text`, `use` and `period`.
_PARTS = ("family", "given", "prefix", "suffix", "text", "line", "city", "district", "state", "postalCode", "country")


# Entries are immutable and names, cities and codes repeat across resources: reuse them.
# Bounded (a few MB); when full it starts over rather than tracking recency.
_MEMO_SIZE = 32_768
_memo: dict[tuple[str, str], StringEntry] = {}


def _add_text(param: str, text: Any, out: list[StringEntry]) -> None:
    if type(text) is str and text:
        key = (param, text)
        entry = _memo.get(key)
        if entry is None:
            if len(_memo) >= _MEMO_SIZE:
                _memo.clear()
            entry = _memo[key] = StringEntry(param, normalize(text), text)
        out.append(entry)


def add(param: str, values: list[Any], out: list[StringEntry]) -> None:
    for value in values:
        if type(value) is str:
            _add_text(param, value, out)
        elif type(value) is dict:
            for part in _PARTS:
                item = value.get(part)
                if item is None:
                    continue
                if type(item) is list:
                    for text in item:
                        _add_text(param, text, out)
                else:
                    _add_text(param, item, out)
