"""The fault-injection suite of issue 7: a real region (a central node on PostgreSQL, a site on
SQLite and a site on PostgreSQL whose clock runs 5 minutes ahead, all separate processes), each
site behind a fault-injecting proxy, and a clinician's client reading and writing at each site
while the tests kill, cut, slow and partition.

After every scenario: no clinician read failed during the fault, every write a client was told
had succeeded is at the centre with its content (once), every node converges on the same record
(one checksum over all resources), and at the end the conflicts made on purpose are listed and
every node's audit trail verifies.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest

from lifeline.storage import open_repository
from tests.conftest import database_url, dispose, require_postgres
from tests.replication.nodes import wait_until
from tests.replication.region import Region, Ward, lifeline, missing_at, patients_of

SKEW = ["faketime", "-f", "+5m"]


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    require_postgres()
    if shutil.which("faketime") is None:
        pytest.fail("faketime is needed for the clock-skew scenario (make test installs it)")
    folder = tmp_path_factory.mktemp("region")
    central_db = database_url("postgresql", folder)
    roskilde_db = database_url("postgresql", folder)
    built = Region(folder, central_db)
    try:
        built.setup()
        built.add_site("herlev", f"sqlite:///{folder / 'herlev.db'}")
        # A skewed wall clock, as on a machine whose time sync failed; its monotonic clock, which
        # timeouts use, runs true (libfaketime would otherwise fake it too, and every wait hangs).
        built.add_site("roskilde", roskilde_db, wrapper=SKEW, FAKETIME_DONT_FAKE_MONOTONIC="1")
        built.wait_converged(180)
        yield built
    finally:
        built.close()
        for db in (central_db, roskilde_db):
            dispose(open_repository(db))


def _wards(region: Region, token: Callable[[str], str] | None = None) -> dict[str, Ward]:
    patients = patients_of(region.central.db)
    wards = {
        site_id: Ward(site.url, token(site_id) if token else region.token(), patients)
        for site_id, site in region.sites.items()
    }
    for ward in wards.values():
        ward.start()
    return wards


def _through(region: Region, fault: Callable[[], None], heal: Callable[[], None], seconds: float) -> dict[str, Ward]:
    """Run the wards, break things for `seconds`, heal, stop the wards, and check everything."""
    wards = _wards(region)
    time.sleep(1)
    fault()
    time.sleep(seconds)
    heal()
    time.sleep(1)
    for ward in wards.values():
        ward.stop()
    _check(region, wards)
    return wards


def _check(region: Region, wards: dict[str, Ward]) -> None:
    for site_id, ward in wards.items():
        assert ward.reads > 0
        assert ward.read_failures == [], f"{site_id}: {len(ward.read_failures)} reads failed: {ward.read_failures[:3]}"
        assert ward.write_failures == [], f"{site_id}: writes failed: {ward.write_failures[:3]}"
        assert ward.confirmed, f"{site_id} wrote nothing"
    region.wait_converged()
    for site_id, ward in wards.items():
        assert missing_at(region.central.db, ward.confirmed) == [], f"confirmed writes at {site_id} were lost"
        _written_once(region.central.db, list(ward.confirmed))


def _written_once(db: str, ids: list[str]) -> None:
    repo = open_repository(db)
    try:
        with repo.reading() as session:
            for res_id in ids:
                assert session.count_history("Observation", res_id, None) == 1, f"Observation/{res_id} twice"
    finally:
        repo.close()


def _each_proxy(region: Region, action: str, *args: object) -> Callable[[], None]:
    return lambda: [getattr(proxy, action)(*args) for proxy in region.proxies.values()]  # type: ignore[func-returns-value]


def test_centre_killed_with_sigkill(region: Region) -> None:
    _through(region, region.central.kill, region.central.start, 5)


def test_network_cut_both_ways_with_a_conflict(region: Region) -> None:
    patient = patients_of(region.central.db, 1)[0]
    token = region.token()
    at_site = region.sites["herlev"]

    def cut_and_edit() -> None:
        for proxy in region.proxies.values():
            proxy.cut()
        time.sleep(2)  # long enough for the sites to notice
        _edit(at_site.url, token, patient, "female")
        _edit(region.central.url, token, patient, "male")

    _through(region, cut_and_edit, _each_proxy(region, "heal"), 4)
    listed = httpx.get(f"{region.central.url}/fhir/$conflicts", headers=_auth(token), timeout=10).json()
    targets = [
        p["valueReference"]["reference"]
        for entry in listed["entry"]
        for p in entry["resource"]["parameter"]
        if p["name"] == "target"
    ]
    assert f"Patient/{patient}" in targets
    # The same list at each site: the conflict replicated (a status may be a second old).
    for site in region.sites.values():
        wait_until(lambda site=site: site.status()["openConflicts"] == listed["total"], 5, "the site's status")


def test_network_cut_one_way_answers_lost(region: Region) -> None:
    # The site's requests reach the centre, which commits them, but no answer comes back: the
    # site must neither lose nor double those writes when it replays them.
    _through(region, _each_proxy(region, "cut_one_way", "to_client"), _each_proxy(region, "heal"), 4)


def test_network_cut_one_way_requests_lost(region: Region) -> None:
    _through(region, _each_proxy(region, "cut_one_way", "to_target"), _each_proxy(region, "heal"), 4)


def test_network_silently_drops_everything(region: Region) -> None:
    _through(region, _each_proxy(region, "cut", "blackhole"), _each_proxy(region, "heal"), 4)


def test_slow_and_lossy_link(region: Region) -> None:
    def degrade() -> None:
        for proxy in region.proxies.values():
            proxy.slow(0.15)
            proxy.lossy(0.2, seed=3)

    _through(region, degrade, _each_proxy(region, "heal"), 5)


def test_centre_restarted_with_an_empty_cache(region: Region) -> None:
    def restart() -> None:
        region.central.stop()
        region.central.start()

    _through(region, restart, lambda: None, 2)


def test_logins_at_a_site_while_the_centres_identity_is_unreachable(region: Region) -> None:
    """With the centre cut off, staff log in at their site (a token signed by the site's own key,
    from the users and keys it replicated), and tokens the centre signed still hold there."""
    for proxy in region.proxies.values():
        proxy.cut()
    try:
        time.sleep(2)
        wards = _wards(region, token=region.site_token)
        time.sleep(3)
        for ward in wards.values():
            ward.stop()
        for site in region.sites.values():
            centre_signed = httpx.get(f"{site.url}/fhir/Patient?_count=1", headers=_auth(region.token()), timeout=10)
            assert centre_signed.status_code == 200, centre_signed.text
    finally:
        for proxy in region.proxies.values():
            proxy.heal()
    _check(region, wards)


def test_partition_longer_than_a_token_lifetime(region: Region) -> None:
    """Tokens live a minute here; the cut lasts longer. Staff renew their login at the site (as
    an app renews before expiry), and nothing fails."""
    for proxy in region.proxies.values():
        proxy.cut()
    wards: dict[str, Ward] = {}
    try:
        started = time.monotonic()
        while time.monotonic() - started < 75:
            for ward in wards.values():
                ward.stop()
            _check_reads_only(wards)
            wards = _wards(region, token=lambda site_id: region.site_token(site_id, minutes=1))
            time.sleep(25)
        for ward in wards.values():
            ward.stop()
    finally:
        for proxy in region.proxies.values():
            proxy.heal()
    _check(region, wards)


def test_site_killed_while_healing_resumes_without_loss(region: Region) -> None:
    herlev = region.sites["herlev"]
    proxy = region.proxies["herlev"]
    wards = _wards(region)
    proxy.cut()
    time.sleep(6)
    for ward in wards.values():
        ward.stop()
    assert herlev.status()["pendingLocalChanges"] > 0
    proxy.heal()
    time.sleep(0.3)  # the replay has begun
    herlev.kill()
    herlev.start()
    _check(region, wards)


def test_every_audit_trail_verifies_and_holds_every_site(region: Region) -> None:
    report = lifeline("audit", "verify", "--db", region.central.db, env=region.env)
    for site_id in region.sites:
        assert site_id in report
    for site in region.sites.values():
        lifeline("audit", "verify", "--db", site.db, env=site.env)


def _check_reads_only(wards: dict[str, Ward]) -> None:
    for site_id, ward in wards.items():
        assert ward.read_failures == [], f"{site_id}: reads failed: {ward.read_failures[:3]}"


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "content-type": "application/fhir+json"}


def _edit(base: str, token: str, patient: str, gender: str) -> None:
    current = httpx.get(f"{base}/fhir/Patient/{patient}", headers=_auth(token), timeout=10).json()
    answer = httpx.put(
        f"{base}/fhir/Patient/{patient}",
        content=orjson.dumps({**current, "gender": gender}),
        headers=_auth(token),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
