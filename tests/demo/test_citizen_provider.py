"""The demo's citizen identity provider (issue 25): `start` runs it as a background process with the
demo citizens, Lifeline's relying party logs one in and gets their CPR number, `stop` ends it; and
the CLI picks the demo citizens from the generated patients in the record (a mother, adults)."""

from __future__ import annotations

import socket
from datetime import date
from pathlib import Path

import httpx
import pytest

from lifeline.cli.demo import demo_citizens
from lifeline.demo import citizen_provider
from lifeline.demo.citizen_provider import DemoCitizen
from lifeline.fhir.service import FhirService
from lifeline.generate.ids import keyed_id
from lifeline.identity.citizen import CitizenLogin, CitizenLoginConfig
from lifeline.identity.principal import SYSTEM, Principal
from lifeline.identity.scopes import ScopeSet
from tests.identity.citizen_provider import PROVIDER_WARNINGS, _FormReader
from tests.web.pages.test_chart import put

pytestmark = PROVIDER_WARNINGS
CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_provider_runs_in_the_background_and_vouches_for_a_demo_citizen(tmp_path: Path) -> None:
    port = free_port()
    citizen = DemoCitizen("anna-1", "0101801234", "Anna Demo", "")
    process = citizen_provider.start([citizen], tmp_path, port)
    assert process is not None
    try:
        assert citizen_provider.start([citizen], tmp_path, port) is None  # already running: users again
        issuer = citizen_provider.issuer(port)
        config = CitizenLoginConfig(issuer, citizen_provider.CLIENT_ID, citizen_provider.CLIENT_SECRET,
                                    "http://127.0.0.1:8080/login/citizen/callback")  # fmt: skip
        with CitizenLogin(config) as login, httpx.Client(timeout=5) as browser:
            start = login.begin()
            page = browser.get(start.url)
            reader = _FormReader()
            reader.feed(page.text)
            assert ("sub", "anna-1") in [b for form in reader.forms for b in form.buttons]  # a button per citizen
            back = browser.post(page.url, data={"sub": "anna-1"})
            params = dict(httpx.URL(back.headers["location"]).params)
            identity = login.finish(params, start.state)
        assert identity.cpr == "0101801234"  # the name comes only with the profile scope, not asked for
    finally:
        assert citizen_provider.stop(tmp_path, process) is True
    assert not citizen_provider.answers(port)
    assert citizen_provider.stop(tmp_path) is False


@pytest.mark.parametrize("seed", [7919])
def test_the_demo_citizens_are_a_mother_and_adults_of_the_record(service: FhirService, seed: int) -> None:
    born = {8: "1990-03-01", 1: "2015-06-01", 3: "1950-01-01", 6: "1970-05-05", 9: "1980-01-01"}
    for index, birth in born.items():
        put(service, {
            "resourceType": "Patient", "id": keyed_id(seed, "Patient", index), "birthDate": birth,
            "name": [{"given": [f"Person{index}"], "family": "Demo"}],
            "identifier": [{"system": CPR_SYSTEM, "value": f"01019{index}1234"[:10]}],
        })  # fmt: skip
    reader = Principal(SYSTEM, "demo-test", "tests", ScopeSet.parse("system/*.rs"))
    chosen = demo_citizens(service.as_user(reader, None, "PATRQT"), seed, date(2026, 12, 6))
    assert [c.subject for c in chosen] == ["person8-8", "person3-3", "person6-6"]  # the child (1) is left out
    assert chosen[0].about.startswith("a mother") and chosen[1].cpr == "0101931234"
