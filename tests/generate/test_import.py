"""A generated region imports into SQLite and PostgreSQL with no resource rejected."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time

import orjson
import pytest

from lifeline.bulk.importer import import_items
from lifeline.bulk.sources import Source
from lifeline.config import Settings
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.generate import Options, generate
from lifeline.identity.principal import OPERATOR
from tests.conftest import BACKENDS, TickingClock, dispose, fresh_repository
from tests.generate.conftest import TODAY


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_region_imports_with_nothing_rejected(backend, region, tmp_path):
    out, summary = region
    repo = fresh_repository(backend, tmp_path)
    try:
        service = FhirService(repo, Settings())
        sources = [Source(p) for p in sorted(out.glob("*.ndjson"))]
        stats = import_items(service, itertools.chain.from_iterable(s.items() for s in sources), batch_size=1000)
        for source in sources:
            source.close()
        assert stats.written == summary.resources  # an import stops at the first rejected resource
        assert stats.by_type == summary.counts
        found = service.handle(FhirRequest("search", "Patient", params=[("family", "Jensen")], principal=OPERATOR))
        assert found.status == 200
    finally:
        dispose(repo)


def test_bundles_are_transactions_the_server_accepts(tmp_path):
    out = tmp_path / "bundles"
    summary = generate(Options(6, 5, out, TODAY, bundles=True))
    region_bundle, patient_bundles = summary.files
    repo = fresh_repository("sqlite", tmp_path)
    try:
        # The bundles describe the region on the morning of TODAY: its bookings are today's or later.
        service = FhirService(repo, Settings(), clock=TickingClock(datetime.combine(TODAY, time(5), UTC)))
        # The region's Bundle (5,000 entries) is checked, not run: its resources are imported above.
        region = orjson.loads(region_bundle.read_bytes())
        assert region["type"] == "transaction"
        service.validator.validate(region, "Bundle")
        assert all(e["request"] == {"method": "PUT", "url": f"Location/{e['resource']['id']}"} for e in region["entry"]
                   if e["resource"]["resourceType"] == "Location")  # fmt: skip
        source = Source(patient_bundles)
        stats = import_items(service, source.items())
        source.close()
        assert stats.transactions == 6
        assert stats.written == summary.resources - len(region["entry"])
        again = Source(patient_bundles)
        assert import_items(service, again.items()).written == 0  # client-assigned ids: re-running writes nothing
        again.close()
    finally:
        dispose(repo)


def test_demo_users_get_logins_and_the_readme_app_is_registered(region, tmp_path, monkeypatch, capsys):
    from lifeline.cli import demo_users
    from lifeline.identity import records
    from lifeline.identity.passwords import verify_password

    out, _ = region
    repo = fresh_repository("sqlite", tmp_path)
    try:
        sources = [Source(p) for p in sorted(out.glob("*.ndjson"))]
        import_items(FhirService(repo, Settings()), itertools.chain.from_iterable(s.items() for s in sources))
        for source in sources:
            source.close()
        monkeypatch.setenv("LIFELINE_DB", repo.url)
        demo_users.main()
        demo_users.main()  # safe to re-run
        printed = capsys.readouterr().out
        for member, _, _ in demo_users.demo_users():
            user = records.get_user(repo, member.key)
            assert user is not None and user.practitioner == member.practitioner_id
            assert verify_password(user.password, demo_users.DEMO_PASSWORD)
            assert member.key in printed
            # The surgical department's surgeon leads it: the one demo login that may reduce to acute care.
            assert user.extra_roles == (["lead"] if member.role == "surgeon" else [])
        assert records.get_client(repo, demo_users.DEMO_APP) is not None
        assert "lifeline token issue --client demo-scripts" in printed
    finally:
        dispose(repo)
