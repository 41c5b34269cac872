"""Parameters and links shared by history and search Bundles: _count, opaque page cursors, instants."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson

from lifeline.clock import fhir_instant
from lifeline.fhir.errors import BadRequest


def count_param(value: str | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not value.isdigit():
        raise BadRequest(f"_count must be a whole number of 0 or more, not {value!r}")
    return min(int(value), maximum)


def encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def decode_cursor(token: str) -> dict[str, Any]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise BadRequest("The paging cursor is not valid; follow the Bundle's links as given") from None
    if not isinstance(data, dict):
        raise BadRequest("The paging cursor is not valid; follow the Bundle's links as given")
    return data


def instant_param(name: str, value: str) -> str:
    """A _since/_at value as the stored lastUpdated text, for comparison (UTC, milliseconds)."""
    text = value.strip()
    try:
        if len(text) == 10:
            moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                raise ValueError("no time zone")
    except ValueError:
        raise BadRequest(f"{name} must be an instant such as 2024-03-01T12:00:00Z, not {value!r}") from None
    return fhir_instant(moment)


def link(relation: str, base: str, path: str, params: list[tuple[str, str]]) -> dict[str, str]:
    query = urlencode(params)
    return {"relation": relation, "url": f"{base}/{path}" + (f"?{query}" if query else "")}
