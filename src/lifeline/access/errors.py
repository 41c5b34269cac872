"""The refusals of the access policy, as domain errors (mapped to OperationOutcomes in web/errors.py)."""

from __future__ import annotations

from lifeline.errors import Forbidden


class Withheld(Forbidden):
    """Staff asked for data that exists but that no care relationship lets them see: a 403 with
    the issue code `suppressed` (https://hl7.org/fhir/R4/codesystem-issue-type.html#issue-type-suppressed),
    saying that breaking the glass is possible. Patients get a plain 404 instead."""

    code = "suppressed"
