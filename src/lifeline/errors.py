"""Domain errors, each carrying its HTTP status and FHIR issue code.

Storage, search, identity, the access policy and the core all raise them, so they live below
every layer (docs/architecture.md, "Which way imports go"). They are mapped to an
OperationOutcome in exactly one place (lifeline.web.errors), by walking the class hierarchy;
the core never builds HTTP responses itself.
See https://hl7.org/fhir/R4/http.html#Status-Codes and https://hl7.org/fhir/R4/valueset-issue-type.html
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Issue:
    """One OperationOutcome.issue: severity, code, human text and an optional FHIRPath location."""

    severity: str
    code: str
    diagnostics: str
    expression: list[str] = field(default_factory=list)

    def to_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = self.expression
        return issue


class FhirError(Exception):
    """Base of every error the core reports to a client."""

    status = 500
    code = "exception"

    def __init__(self, message: str, issues: list[Issue] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.issues = issues or [Issue("error", self.code, message)]


class BadRequest(FhirError):
    status = 400
    code = "invalid"


class InvalidResource(BadRequest):
    """The body is not a valid R4 resource (structure, types, cardinality, bindings)."""

    status = 400
    code = "structure"


class Unprocessable(FhirError):
    """Well-formed but breaks a business rule (for example a strict FHIRPath invariant)."""

    status = 422
    code = "processing"


class Unauthorized(FhirError):
    """No credentials, or credentials that do not hold (answered with WWW-Authenticate)."""

    status = 401
    code = "login"


class Forbidden(FhirError):
    status = 403
    code = "forbidden"


class NotFound(FhirError):
    status = 404
    code = "not-found"


class UnknownResourceType(NotFound):
    code = "not-supported"


class Gone(FhirError):
    status = 410
    code = "deleted"


class MethodNotAllowed(FhirError):
    status = 405
    code = "not-supported"


class Conflict(FhirError):
    status = 409
    code = "conflict"


class PreconditionFailed(FhirError):
    status = 412
    code = "conflict"


class MultipleMatches(PreconditionFailed):
    code = "multiple-matches"


class PayloadTooLarge(FhirError):
    status = 413
    code = "too-costly"


class UnsupportedMediaType(FhirError):
    status = 415
    code = "not-supported"


class NotAcceptable(FhirError):
    status = 406
    code = "not-supported"


class TooCostly(FhirError):
    """A statement ran past the node's time limit (LIFELINE_STATEMENT_TIMEOUT_MS) and was stopped:
    the database is not held by a search whose client has long gone. Retrying may pass at a quieter
    moment; a narrower search will."""

    status = 503
    code = "too-costly"


class ClientGone(FhirError):
    """The client disconnected while its request ran, and the request's database work was stopped
    (lifeline/cancel.py). Nobody reads the answer; the status is the audit trail's (nginx's 499)."""

    status = 499
    code = "incomplete"


class RateLimited(FhirError):
    """Past a rate limit (web/rate_limits.py): try again in `retry_after` seconds (Retry-After)."""

    status = 429
    code = "throttled"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageUnavailable(FhirError):
    """The database cannot be reached: a server-side condition, never the client's fault."""

    status = 503
    code = "transient"


class StorageCorrupt(FhirError):
    """A stored value cannot be read back (storage/packing.py: a damaged frame, or one packed with a
    dictionary this version does not ship): a server-side fault, never the client's."""

    status = 500
    code = "exception"
