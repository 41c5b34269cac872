"""The one place where errors become HTTP answers: a FhirError's class gives the status and the
issue code; anything unexpected is logged and answered 500 without internals."""

from __future__ import annotations

import logging

import orjson

from lifeline.errors import FhirError, Issue
from lifeline.outcome import operation_outcome

log = logging.getLogger("lifeline.web")
FHIR_JSON = "application/fhir+json; charset=utf-8"


def error_answer(error: BaseException) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, OperationOutcome body and extra headers for any error."""
    if isinstance(error, FhirError):
        status, issues = error.status, error.issues
    else:
        log.exception("unexpected error", exc_info=error)
        status, issues = 500, [Issue("fatal", "exception", "Internal server error; the request was not completed")]
    headers = [(b"retry-after", b"5")] if status == 503 else []
    if status == 401:
        # RFC 6750 §3: how to authenticate, and (when a token was sent) why it was refused.
        headers.append((b"www-authenticate", b'Bearer realm="lifeline", error="invalid_token"'))
    return status, orjson.dumps(operation_outcome(issues)), headers
