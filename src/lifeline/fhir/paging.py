"""Parameters and links shared by history and search Bundles: _count, sealed page cursors, instants.

A cursor (`_page`) holds where the previous page ended: sort values, type and id, or a write id.
Those values may be what the reader is not shown (the street of a protected patient that a sort
ran on), so a cursor is sealed: encrypted and authenticated with AES-SIV (RFC 5297) under a key
derived by HKDF from the region's key-encryption key, so every node of a region opens every
node's cursors. The seal binds the search (its path and its parameters but `_page`) and who asked,
as associated data: a cursor reveals nothing, cannot be forged or altered, and means nothing for
another query or another person. AES-SIV is deterministic: the same page of the same search for
the same person has the same links, whatever else the database holds.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from lifeline import jsontext
from lifeline.clock import fhir_instant
from lifeline.errors import BadRequest

if TYPE_CHECKING:
    from lifeline.identity.principal import Principal

INVALID_CURSOR = "The paging cursor is not valid; follow the Bundle's links as given"
_CURSOR_KEY_INFO = b"lifeline paging cursor v1"


def count_param(value: str | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not value.isdecimal():
        raise BadRequest(f"_count must be a whole number of 0 or more, not {value!r}")
    return min(int(value), maximum)


@lru_cache(maxsize=4)
def _cipher(kek: bytes) -> AESSIV:
    key = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_CURSOR_KEY_INFO).derive(kek)
    return AESSIV(key)


@dataclass(frozen=True)
class CursorSeal:
    """Seals and opens the cursors of one person's requests (`who`: kind and subject, "" for none)."""

    kek: bytes
    who: str

    @classmethod
    def of(cls, kek: bytes, principal: Principal | None) -> CursorSeal:
        return cls(kek, "" if principal is None else f"{principal.kind}:{principal.subject}")

    def seal(self, path: str, params: Iterable[tuple[str, str]], data: dict[str, Any]) -> str:
        sealed = _cipher(self.kek).encrypt(jsontext.dumps(data), [self._binding(path, params)])
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, path: str, params: Iterable[tuple[str, str]], token: str) -> dict[str, Any]:
        """The cursor's data; BadRequest (400) for anything this node did not seal for this
        search and this person."""
        try:
            sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = orjson.loads(_cipher(self.kek).decrypt(sealed, [self._binding(path, params)]))
        except (ValueError, binascii.Error, InvalidTag, orjson.JSONDecodeError):
            raise BadRequest(INVALID_CURSOR) from None
        if not isinstance(data, dict):
            raise BadRequest(INVALID_CURSOR)
        return data

    def _binding(self, path: str, params: Iterable[tuple[str, str]]) -> bytes:
        # Sorted by name only: a client may reorder parameters, never the values of one name
        # (the keys of `_sort=a&_sort=b` are an order).
        kept = sorted(((k, v) for k, v in params if k != "_page"), key=lambda item: item[0])
        return jsontext.dumps([self.who, path, kept])


def encode_cursor(data: dict[str, Any]) -> str:
    """An unsealed cursor, for positions that are the reader's to see anyway (AuditEvent pages)."""
    return base64.urlsafe_b64encode(jsontext.dumps(data)).decode().rstrip("=")


def decode_cursor(token: str) -> dict[str, Any]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise BadRequest(INVALID_CURSOR) from None
    if not isinstance(data, dict):
        raise BadRequest(INVALID_CURSOR)
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


def types_param(params: Iterable[tuple[str, str]], known: frozenset[str]) -> tuple[str, ...] | None:
    """The resource types a system-level search or history names in `_type` (every `_type`
    given, as the scope gate reads them), None when it names none; 400 for an unknown type."""
    named = sorted({t for key, value in params if key == "_type" for t in value.split(",") if t})
    if not named:
        return None
    unknown = [t for t in named if t not in known]
    if unknown:
        raise BadRequest(f"_type names unknown resource types: {', '.join(repr(t) for t in unknown)}")
    return tuple(named)


def link(relation: str, base: str, path: str, params: list[tuple[str, str]]) -> dict[str, str]:
    query = urlencode(params)
    return {"relation": relation, "url": f"{base}/{path}" + (f"?{query}" if query else "")}
