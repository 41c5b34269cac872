"""Typed search-index entries: what a resource contributes to each search-index table.

Extraction (lifeline.search.extract) turns a resource into an IndexEntries; the storage layer
writes the rows, adding the owning resource's type and id, in the same transaction as the
resource itself. One table per search-parameter type (see lifeline/storage/migrations.py):

  search_string    (res_type, res_id, param, normalized, exact)
  search_token     (res_type, res_id, param, system, code, text)
  search_date      (res_type, res_id, param, low, high)            -- microseconds since 1970 UTC, inclusive
  search_number    (res_type, res_id, param, value, low, high)
  search_quantity  (res_type, res_id, param, value, low, high, system, code, unit)
  search_reference (res_type, res_id, param, target_type, target_id, url)
  search_uri       (res_type, res_id, param, value)

Only the current version of a resource is indexed; a delete removes its rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Open ends of a date range (a Period without start or end).
DATE_MIN = -(2**62)
DATE_MAX = 2**62


@dataclass(frozen=True, slots=True)
class StringEntry:
    param: str
    normalized: str  # case-folded, accents folded (Danish æ ø å kept as letters)
    exact: str


@dataclass(frozen=True, slots=True)
class TokenEntry:
    param: str
    system: str | None
    code: str | None
    text: str | None = None  # normalized display/text for :text


@dataclass(frozen=True, slots=True)
class DateEntry:
    param: str
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class NumberEntry:
    param: str
    value: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class QuantityEntry:
    param: str
    value: float
    low: float
    high: float
    system: str | None
    code: str | None
    unit: str | None


@dataclass(frozen=True, slots=True)
class ReferenceEntry:
    param: str
    target_type: str | None
    target_id: str | None
    url: str | None  # absolute or canonical URL when the target is not a local Type/id


@dataclass(frozen=True, slots=True)
class UriEntry:
    param: str
    value: str


@dataclass(slots=True)
class IndexEntries:
    strings: list[StringEntry] = field(default_factory=list)
    tokens: list[TokenEntry] = field(default_factory=list)
    dates: list[DateEntry] = field(default_factory=list)
    numbers: list[NumberEntry] = field(default_factory=list)
    quantities: list[QuantityEntry] = field(default_factory=list)
    references: list[ReferenceEntry] = field(default_factory=list)
    uris: list[UriEntry] = field(default_factory=list)
