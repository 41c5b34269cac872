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
  search_composite (res_type, res_id, param, c1_…, c2_…, c3_…)      -- see COMPOSITE_LAYOUT
  search_subject_code (res_type, res_id, subject_type, subject_id, system, code, latest)
                                                                   -- see SubjectCodeEntry

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


# https://hl7.org/fhir/R4/search.html#composite — one search_composite row per combination of
# component values found in the same element. Component k (1-based) fills the columns c{k}_…
# of its type; the entry field → column suffix pairs per position and type:
COMPOSITE_LAYOUT: tuple[dict[str, tuple[tuple[str, str], ...]], ...] = (
    {
        "token": (("system", "system"), ("code", "code")),
        "reference": (("target_type", "target_type"), ("target_id", "target_id"), ("url", "url")),
    },
    {
        "token": (("system", "system"), ("code", "code")),
        "number": (("value", "value"), ("low", "low"), ("high", "high")),
        "quantity": (
            ("value", "value"),
            ("low", "low"),
            ("high", "high"),
            ("system", "system"),
            ("code", "code"),
            ("unit", "unit"),
        ),
        "date": (("low", "date_low"), ("high", "date_high")),
        "string": (("normalized", "normalized"), ("exact", "exact")),
        "reference": (("target_type", "target_type"), ("target_id", "target_id"), ("url", "url")),
        "uri": (("value", "uri"),),
    },
    {"number": (("value", "value"), ("low", "low"), ("high", "high"))},
)


def _composite_columns() -> tuple[str, ...]:
    columns: dict[str, None] = {}
    for position, by_type in enumerate(COMPOSITE_LAYOUT, start=1):
        for pairs in by_type.values():
            columns.update((f"c{position}_{suffix}", None) for _, suffix in pairs)
    return tuple(columns)


# The value columns of search_composite in table order (after res_type, res_id, param).
COMPOSITE_COLUMNS = _composite_columns()

ComponentEntry = StringEntry | TokenEntry | DateEntry | NumberEntry | QuantityEntry | ReferenceEntry | UriEntry

_ENTRY_TYPES: dict[type, str] = {
    StringEntry: "string",
    TokenEntry: "token",
    DateEntry: "date",
    NumberEntry: "number",
    QuantityEntry: "quantity",
    ReferenceEntry: "reference",
    UriEntry: "uri",
}


# (position, component type) → (entry field, index in COMPOSITE_COLUMNS) of each of its columns
_COLUMN_OF = {column: i for i, column in enumerate(COMPOSITE_COLUMNS)}
_PLACES = {
    (position, kind): tuple((name, _COLUMN_OF[f"c{position}_{suffix}"]) for name, suffix in pairs)
    for position, by_type in enumerate(COMPOSITE_LAYOUT, start=1)
    for kind, pairs in by_type.items()
}


@dataclass(frozen=True, slots=True)
class CompositeEntry:
    """The values of a composite parameter's components taken from one element, in order."""

    param: str
    components: tuple[ComponentEntry, ...]

    def values(self) -> tuple[object, ...]:
        """The COMPOSITE_COLUMNS values of this entry's row (None where another type's column)."""
        row: list[object] = [None] * len(COMPOSITE_COLUMNS)
        for position, component in enumerate(self.components, start=1):
            for name, index in _PLACES[position, _ENTRY_TYPES[type(component)]]:
                row[index] = getattr(component, name)
        return tuple(row)


def composite_fits(types: tuple[str | None, ...]) -> bool:
    """Whether components of these types (in order) have columns in search_composite."""
    return 2 <= len(types) <= len(COMPOSITE_LAYOUT) and all(t in COMPOSITE_LAYOUT[i] for i, t in enumerate(types))


# A resource without a `date` value: below every date, so that it comes last in date order.
NO_DATE = DATE_MIN - 1


@dataclass(frozen=True, slots=True)
class SubjectCodeEntry:
    """One subject and one coded concept of a resource, with the resource's latest date: a row of
    search_subject_code, whose index answers "this patient's results of this code, newest first"
    a page at a time (lifeline.search.extract.subject_code, issue 27)."""

    subject_type: str
    subject_id: str
    system: str
    code: str
    latest: int  # the largest `high` of the resource's `date` values; NO_DATE without one


@dataclass(slots=True)
class IndexEntries:
    strings: list[StringEntry] = field(default_factory=list)
    tokens: list[TokenEntry] = field(default_factory=list)
    dates: list[DateEntry] = field(default_factory=list)
    numbers: list[NumberEntry] = field(default_factory=list)
    quantities: list[QuantityEntry] = field(default_factory=list)
    references: list[ReferenceEntry] = field(default_factory=list)
    uris: list[UriEntry] = field(default_factory=list)
    composites: list[CompositeEntry] = field(default_factory=list)
    subject_codes: list[SubjectCodeEntry] = field(default_factory=list)
