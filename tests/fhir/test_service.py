"""The FHIR core without HTTP: settings that change what a write does."""

from __future__ import annotations

import pytest

from lifeline.config import Settings
from lifeline.errors import Unprocessable
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from tests.conftest import TickingClock, dispose, fresh_repository, new_patient


@pytest.mark.parametrize("mode", ["warn", "strict"])
def test_invariants_warn_or_enforce(mode, tmp_path):
    repo = fresh_repository("sqlite", tmp_path)
    service = FhirService(repo, Settings(invariants=mode), clock=TickingClock())
    breaks_pat_1 = new_patient(contact=[{"gender": "male"}])
    request = FhirRequest("create", "Patient", body=breaks_pat_1, principal=OPERATOR)
    try:
        if mode == "strict":
            with pytest.raises(Unprocessable):
                service.handle(request)
            assert repo.changes_after(0) == []
        else:
            response = service.handle(request)
            assert response.status == 201
            assert any(i.code == "invariant" and i.severity == "warning" for i in response.issues)
    finally:
        dispose(repo)
