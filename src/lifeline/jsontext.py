"""JSON in and out with every decimal kept as it was written.

R4 (https://hl7.org/fhir/R4/datatypes.html#decimal): "decimal values SHALL NOT be stored or
processed as IEEE floating point types"; a lab value's trailing zero is its precision. A JSON
parser that makes floats turns `0.40` into 0.4, `105.00` into 105.0, `1e2` into 100.0 and
`3.141592653589793238462643` into 3.141592653589793.

`loads` gives each decimal as a `Decimal`: a float (so comparisons, arithmetic, charts, FHIRPath
and number formatting work unchanged) that carries the text it was written as; `str()` and
`repr()` give that text. `dumps` writes a `Decimal` back as that text. A `Decimal` handed to
plain `orjson.dumps` is refused (orjson serialises no float subclass), so a place that would
lose the digits fails loudly rather than silently.

`loads` parses with orjson first (its errors, its strictness: UTF-8, no NaN, no lone surrogates)
and only a document holding a decimal is parsed again, by the standard library with
`parse_float`: a Patient costs what it did, an Observation about 10 µs more.
"""

from __future__ import annotations

import decimal
import json
from typing import Any

import orjson

__all__ = ["Decimal", "loads", "dumps", "number", "of_decimal"]


class Decimal(float):
    """A JSON decimal: its value as a float, its text as written."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> Decimal:
        self = super().__new__(cls, text)
        self.text = text
        return self

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    def __reduce__(self) -> tuple[type[Decimal], tuple[str]]:  # copies and pickles keep the text
        return (Decimal, (self.text,))


def number(text: str) -> int | Decimal:
    """A number typed in a form, as JSON would hold it: `5` an int, `5.40` a Decimal "5.40"."""
    parsed = json.loads(text.strip(), parse_float=Decimal)
    if type(parsed) is not int and type(parsed) is not Decimal:
        raise ValueError(f"not a number: {text!r}")
    return parsed


def of_decimal(value: decimal.Decimal) -> int | Decimal:
    """A checked decimal.Decimal (a dose or a measurement from a form) with the digits it was
    typed with: `37.0` stays 37.0, `5` is 5."""
    text = str(value)
    if value.as_tuple().exponent == 0 and "E" not in text:  # type: ignore[comparison-overlap]
        return int(text)
    return Decimal(text)


def _has_float(value: Any) -> bool:
    if type(value) is dict:
        return any(_has_float(v) for v in value.values())
    if type(value) is list:
        return any(_has_float(v) for v in value)
    return type(value) is float


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON (raising orjson.JSONDecodeError as orjson.loads does), decimals as `Decimal`."""
    parsed = orjson.loads(data)
    if not _has_float(parsed):
        return parsed
    return json.loads(bytes(data) if not isinstance(data, str) else data, parse_float=Decimal)


def _exact(value: Any) -> Any:
    if type(value) is Decimal:
        return orjson.Fragment(value.text)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(value: Any, option: int | None = None) -> bytes:
    """orjson.dumps that writes each `Decimal` as the text it was read as."""
    return orjson.dumps(value, default=_exact, option=option)
