"""A record a patient may not see is, to them, exactly an absent one (issue 19, medium findings):
the same 404, the same message, and the same database work, so that not even the time an
answer takes tells whether it exists."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from lifeline.errors import NotFound
from lifeline.fhir import urls
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import principal_from_token
from lifeline.storage.session import Session


def _as_patient(service: FhirService, world: dict[str, Any], path: str) -> tuple[str, list[str]]:
    """The refusal's message and the statements the core ran to reach it."""
    token = world["patient_h"]("enc")["Authorization"].split(" ", 1)[1]
    request = urls.parse("GET", path, [], "http://testserver/fhir")
    request.principal = principal_from_token(service.identity.verify(token))
    statements: list[str] = []
    one, every = Session._one, Session._all
    mine = threading.get_ident()  # not the audit writer's or the indexer's statements

    def counted_one(self: Session, sql: str, params: Any = ()) -> Any:
        if threading.get_ident() == mine:
            statements.append(sql.split(" WHERE ")[0])
        return one(self, sql, params)

    def counted_all(self: Session, sql: str, params: Any = ()) -> Any:
        if threading.get_ident() == mine:
            statements.append(sql.split(" WHERE ")[0])
        return every(self, sql, params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Session, "_one", counted_one)
        patch.setattr(Session, "_all", counted_all)
        with pytest.raises(NotFound) as refused:
            service.handle(request)
    return str(refused.value).replace(path.split("/")[1], "ID"), statements


@pytest.mark.parametrize("tail", ["", "/_history/1"])
def test_a_hidden_patient_is_an_absent_one(service: FhirService, world: dict[str, Any], tail: str) -> None:
    hidden = _as_patient(service, world, f"Patient/{world['old']}{tail}")
    absent = _as_patient(service, world, f"Patient/no-such-{world['tag']}{tail}")
    assert hidden[0] == absent[0]
    assert len(hidden[1]) == len(absent[1]), (hidden[1], absent[1])
