"""`GET /fhir/metadata` as a public, cacheable HTTP answer (issue 28, "public answers cached").

The core makes the CapabilityStatement's JSON text once (fhir/interactions/capabilities.py);
here its bytes, a gzip copy and a strong ETag (a hash of the bytes) are kept beside it, so that a
flood of requests for it costs a lookup, not a serialisation and 800 KB on the wire each:

- `ETag`, and `If-None-Match` naming it answered 304 with no body (RFC 9110 §13.1.2: weak
  comparison, so a `W/` form matches too);
- `Content-Encoding: gzip` when the request's Accept-Encoding allows it (RFC 9110 §12.5.3),
  with `Vary: Accept-Encoding`;
- `Cache-Control: public, max-age=300`: the statement holds no one's data and is the same for
  every caller, so a shared cache may keep it. Only this answer says so: every other FHIR answer
  keeps what it says today.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache

CACHE_CONTROL = (b"cache-control", b"public, max-age=300")
VARY = (b"vary", b"Accept-Encoding")
_GZIP = (b"content-encoding", b"gzip")


@dataclass(frozen=True)
class Encoded:
    body: bytes
    gzipped: bytes
    etag: bytes  # strong: "<sha-256 of body, 32 hex digits>"


@lru_cache(maxsize=32)  # the core keeps as many texts (capabilities._MOST_KEPT), the same objects
def encoded(text: str) -> Encoded:
    body = text.encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'.encode()
    return Encoded(body, gzip.compress(body, compresslevel=6, mtime=0), etag)


def answer(text: str, if_none_match: str, accept_encoding: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, body and headers (no Content-Type, no Content-Length) for the statement `text`."""
    kept = encoded(text)
    headers = [(b"etag", kept.etag), CACHE_CONTROL, VARY]
    if if_none_match and _matches(if_none_match, kept.etag.decode()):
        return 304, b"", headers
    if _accepts_gzip(accept_encoding):
        return 200, kept.gzipped, [*headers, _GZIP]
    return 200, kept.body, headers


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _accepts_gzip(accept_encoding: str) -> bool:
    """gzip, x-gzip or * with a q-value above 0, unless gzip itself is refused (q=0)."""
    given: dict[str, float] = {}
    for item in accept_encoding.lower().split(","):
        coding, *parameters = (part.strip() for part in item.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding:
            given[coding] = quality
    for coding in ("gzip", "x-gzip"):
        if coding in given:
            return given[coding] > 0
    return given.get("*", 0.0) > 0
