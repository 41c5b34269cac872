"""A Binary in its own format over HTTP (https://hl7.org/fhir/R4/binary.html#rest,
https://hl7.org/fhir/R4/http.html#binary).

- A create or update of a Binary whose body is not FHIR JSON is the content itself: it is stored
  as a Binary with the request's Content-Type as `contentType`, the bytes as `data`, and the
  `X-Security-Context` header (a reference) as `securityContext`, which decides who else may see
  it (access/ties.py).
- A read or vread of a Binary answers the content itself, with its own type, unless the request
  asks for FHIR JSON (`Accept: application/fhir+json`, `_format=json`); an Accept that neither
  the content's type nor FHIR JSON satisfies gets 406. The content carries the version's ETag
  and Last-Modified, and `X-Security-Context` when it has one.

Only the change of body is here: the core stores, judges and audits a Binary like any resource.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from lifeline.errors import BadRequest, NotAcceptable
from lifeline.fhir.request import FhirRequest, FhirResponse

# Media types whose body is a FHIR resource (or a patch, or a search form), never a raw content.
FHIR_BODY_TYPES = frozenset(
    {
        "application/fhir+json",
        "application/json",
        "application/json+fhir",
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/x-www-form-urlencoded",
        "application/fhir+xml",  # refused as FHIR XML (Lifeline speaks JSON), not stored as a content
        "application/xml+fhir",
    }
)
_FHIR_JSON = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
_JSON_FORMATS = frozenset({"json", *_FHIR_JSON})
# A reference: `Type/id`, or an absolute URL ending in one.
_REFERENCE = re.compile(r"(?:[^\s/]+:/[^\s]*/)?[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}")
# A media type as HTTP carries it (RFC 9110 §8.3.1), parameters included.
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*;[\x20-\x7e]*)?")
# Types a browser shows in place without running anything of theirs; the rest run sandboxed.
_SHOWN_AS_IS = ("application/pdf",)
NO_TYPE = (
    "A Binary's raw body needs a Content-Type: send the content's own type (for example application/pdf)"
    " to store it as it is, or application/fhir+json with a Binary resource"
)


@dataclass
class Content:
    """A Binary's content as the answer's body, with the headers that describe it."""

    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def is_binary_write(method: str, path: str) -> bool:
    """POST Binary, or PUT Binary/{id} (or a conditional PUT Binary?…)."""
    parts = path.strip("/").split("/")
    return parts[0] == "Binary" and ((method == "POST" and len(parts) == 1) or (method == "PUT" and len(parts) <= 2))


def is_binary_read(method: str, path: str) -> bool:
    """GET Binary/{id} or Binary/{id}/_history/{vid}."""
    parts = path.strip("/").split("/")
    return (
        method == "GET" and parts[0] == "Binary" and (len(parts) == 2 or (len(parts) == 4 and parts[2] == "_history"))
    )


def is_raw_upload(method: str, path: str, content_type: str) -> bool:
    """Whether the body is a Binary's content itself (its type is not one of FHIR's)."""
    return bool(content_type) and content_type not in FHIR_BODY_TYPES and is_binary_write(method, path)


def from_upload(body: bytes, content_type: str, security_context: str | None, path: str) -> dict[str, Any]:
    """The Binary resource a raw upload stores; `content_type` as the request sent it."""
    if not _MEDIA_TYPE.fullmatch(content_type):
        raise BadRequest(f"Content-Type {content_type!r} is not a media type")
    resource: dict[str, Any] = {"resourceType": "Binary"}
    parts = path.strip("/").split("/")
    if len(parts) == 2:
        resource["id"] = parts[1]
    resource["contentType"] = content_type
    if security_context is not None:
        reference = security_context.strip()
        if not _REFERENCE.fullmatch(reference):
            raise BadRequest(
                f"X-Security-Context {security_context!r} is not a reference; send the resource the content"
                " belongs to, such as DocumentReference/123 or Patient/456"
            )
        resource["securityContext"] = {"reference": reference}
    if body:
        resource["data"] = base64.b64encode(body).decode("ascii")
    return resource


def content_answer(request: FhirRequest, response: FhirResponse, accept: str) -> Content | None:
    """The content of a Binary read or vread as the request asks for it; None: answer FHIR JSON."""
    if request.resource_type != "Binary" or request.interaction not in ("read", "vread"):
        return None
    if response.status != 200 or not response.has_body or _asks_fhir_json(request.params, accept):
        return None
    resource = response.resource if response.resource is not None else _parsed(response.raw or "{}")
    content_type = str(resource.get("contentType") or "")
    if not _MEDIA_TYPE.fullmatch(content_type):
        content_type = "application/octet-stream"  # a stored code HTTP cannot carry as it is
    if accept.strip() and not _accepts(accept, content_type):
        raise NotAcceptable(
            f"Binary/{request.id} is {content_type}; Accept {accept!r} asks for neither that nor application/fhir+json"
        )
    try:
        body = binascii.a2b_base64(resource.get("data") or "")  # from the text, without an ASCII copy first
    except (binascii.Error, ValueError):
        body = b""  # never stored so: base64Binary is checked at write
    headers = [(b"content-type", content_type.encode("ascii")), (b"x-content-type-options", b"nosniff")]
    headers.append((b"cache-control", b"no-store"))  # someone's record: never in a shared cache
    if content_type.split(";")[0].strip().lower() not in _SHOWN_AS_IS:
        headers.append((b"content-security-policy", b"sandbox"))  # an HTML or SVG upload runs nothing here
    reference = (resource.get("securityContext") or {}).get("reference")
    if isinstance(reference, str) and _REFERENCE.fullmatch(reference):
        headers.append((b"x-security-context", reference.encode("ascii")))
    return Content(body, headers)


def _parsed(text: str) -> dict[str, Any]:
    """A stored Binary's JSON. By the standard library's parser, not `jsontext.loads` (orjson): that
    reserves about 13 times a document that is one long string (173 MB for a 10 MB scan), this
    about its size; and a Binary holds no decimal whose digits could be lost."""
    parsed = json.loads(text)
    return parsed if isinstance(parsed, dict) else {}


def _ranges(accept: str) -> list[str]:
    """The media ranges of an Accept header that it does not refuse (q=0), lower-case."""
    found = []
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        refused = any(p.replace(" ", "").lower() in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
        if media and not refused:
            found.append(media.lower())
    return found


def _asks_fhir_json(params: list[tuple[str, str]], accept: str) -> bool:
    if any(key == "_format" and value.strip().lower() in _JSON_FORMATS for key, value in params):
        return True
    return any(media in _FHIR_JSON for media in _ranges(accept))


def _accepts(accept: str, content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    major = media.split("/")[0]
    return any(r in ("*/*", f"{major}/*", media) for r in _ranges(accept))
