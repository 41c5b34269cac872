"""The HTTP-free shape of one FHIR interaction, and of its outcome.

Adapters (the ASGI routes, the CLI importer, transaction bundles, tests) build a `FhirRequest`;
the core answers with a `FhirResponse`. Nothing here knows about HTTP libraries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lifeline.errors import Issue

if TYPE_CHECKING:
    from lifeline.identity.principal import Principal


@dataclass
class FhirRequest:
    interaction: str  # read vread create update patch delete history search capabilities operation transaction
    resource_type: str | None = None
    id: str | None = None
    version_id: str | None = None
    operation: str | None = None  # "$validate" ...
    body: Any = None  # parsed JSON (a resource, a JSON Patch list, a Bundle)
    params: list[tuple[str, str]] = field(default_factory=list)
    if_match: str | None = None
    if_none_exist: str | None = None
    # If-None-Match on a write (RFC 9110 §13.1.2): `*` or ETags; a match refuses it (412).
    if_none_match: str | None = None
    # The body's media type where it decides the meaning: a PATCH's JSON Patch or JSON Merge Patch.
    body_format: str | None = None
    prefer_return: str = "representation"  # minimal | representation | OperationOutcome
    prefer_handling: str = "lenient"  # lenient | strict
    base: str = "http://localhost/fhir"
    compartment: tuple[str, str] | None = None  # (type, id) of a compartment search: Patient/1/Observation
    # Filled by the core's pre-transaction step: the validator's warnings for `body`.
    warnings: list[Issue] | None = None
    # Who asks (identity/principal.py); None when nobody logged in.
    principal: Principal | None = None
    # From where: the client's network address, for the audit record.
    address: str | None = None
    # Why: a v3 ActReason code (TREAT, ETREAT, HOPERAT, PATRQT …) for the audit record, if known.
    purpose: str | None = None

    @property
    def conditional(self) -> bool:
        return self.id is None and bool(self.params)


@dataclass
class FhirResponse:
    status: int
    resource: dict[str, Any] | None = None
    raw: str | None = None  # a stored resource's JSON text, sent as it is
    version_id: int | None = None
    last_updated: str | None = None
    location: str | None = None
    issues: list[Issue] = field(default_factory=list)
    # What the answer holds, for its audit record (filled by FhirService.handle, fhir/accessed.py):
    # every resource it returned or wrote, and every patient whose data is in it or whom it was
    # asked about.
    accessed: list[tuple[str, str]] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)
    whose: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # by resource: its patients
    # True when the writes' own transactions recorded all of it (audit/outbox.py): the record is
    # durable with the write, and nothing is left to record.
    recorded: bool = False

    @property
    def has_body(self) -> bool:
        return self.resource is not None or self.raw is not None
