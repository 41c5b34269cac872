"""A real PostgreSQL streaming replica on loopback (issue 28, "Scale out"): two clusters made
for the test (initdb, then pg_basebackup of it into a second one on another port, streaming).
Reads and searches of requests that only read go to the replica; the person who wrote reads
their own write at once (from the primary until the replica has it, in any process: the fence
is in the database); a replica that is down sends the reads back to the primary."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
import pytest

from lifeline.config import SettingError, from_environment
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.storage import open_repository
from tests.conftest import TEST_SETTINGS
from tests.replication.nodes import free_port, wait_until

BIN = next(Path("/usr/lib/postgresql").glob("*/bin"), Path("/usr/lib/postgresql/bin"))
WRITER = replace(OPERATOR, subject="ward-clerk")
READER = replace(OPERATOR, subject="night-doctor")


@dataclass
class Clusters:
    primary: str
    replica: str
    replica_folder: Path

    def on_replica(self, sql: str) -> object:
        with psycopg.connect(self.replica, autocommit=True) as conn:
            row = conn.execute(sql).fetchone()
        return row[0] if row else None


def _as_postgres(*command: str) -> None:
    """PostgreSQL's programs refuse to run as root: as the postgres user then."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{command[0]}: {done.stderr or done.stdout}"


@pytest.fixture(scope="module")
def clusters() -> Iterator[Clusters]:
    root = Path(tempfile.mkdtemp(prefix="lifeline-replica-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    primary, standby = root / "primary", root / "replica"
    ports = free_port(), free_port()
    common = f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\nfsync = off\n"
    try:
        _as_postgres(str(BIN / "initdb"), "-D", str(primary), "-U", "postgres", "-A", "trust", "--no-sync")
        with (primary / "postgresql.conf").open("a") as conf:  # initdb's pg_hba lets loopback replicate
            conf.write(f"{common}port = {ports[0]}\nwal_level = replica\nmax_wal_senders = 4\n")
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(primary), "-l", str(root / "primary.log"), "-w", "start")
        _as_postgres(
            str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(ports[0]), "-U", "postgres",
            "-D", str(standby), "-R", "-X", "stream", "--no-sync",
        )  # fmt: skip
        with (standby / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {ports[1]}\nhot_standby = on\n")
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(standby), "-l", str(root / "replica.log"), "-w", "start")
        yield Clusters(
            f"postgresql://postgres@127.0.0.1:{ports[0]}/postgres",
            f"postgresql://postgres@127.0.0.1:{ports[1]}/postgres",
            standby,
        )
    finally:
        for folder in (standby, primary):
            if (folder / "postmaster.pid").exists():
                subprocess.run(
                    [*(["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []),
                     str(BIN / "pg_ctl"), "-D", str(folder), "-m", "immediate", "stop"],
                    capture_output=True, timeout=60, check=False,
                )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def service(clusters: Clusters) -> Iterator[FhirService]:
    repo = open_repository(clusters.primary, replica_url=clusters.replica)
    repo.migrate()
    service = FhirService(repo, replace(TEST_SETTINGS, db=clusters.primary, db_replica=clusters.replica))
    wait_until(
        lambda: clusters.on_replica("SELECT to_regclass('read_fence') IS NOT NULL"),
        30,
        what="the schema to reach the replica",
    )
    yield service
    recorder = service.__dict__.get("auditor")
    if recorder is not None:
        recorder.close()
    repo.close()


def _found(service: FhirService, who: object, patient_id: str) -> bool:
    answer = service.as_user(who).handle(FhirRequest("search", "Patient", params=[("_id", patient_id)]))  # type: ignore[arg-type]
    return bool((answer.resource or {}).get("entry"))


def _create(service: FhirService, family: str) -> str:
    body = {"resourceType": "Patient", "name": [{"family": family}]}
    answer = service.as_user(WRITER).handle(FhirRequest("create", "Patient", body=body))
    return str(answer.resource["id"]) if answer.resource else str(answer.location).split("/")[-1]


def test_reads_go_to_the_replica_and_a_writer_reads_their_own_write(clusters: Clusters, service: FhirService) -> None:
    clusters.on_replica("SELECT pg_wal_replay_pause()")  # the replica falls behind, as under load
    try:
        patient = _create(service, "Holm")
        assert _found(service, WRITER, patient), "the writer did not see their own write"
        # Another person's search went to the replica, which has not replayed the write yet.
        assert not _found(service, READER, patient), "the search did not go to the replica"
    finally:
        clusters.on_replica("SELECT pg_wal_replay_resume()")
    wait_until(lambda: _found(service, READER, patient), 30, what="the replica to catch up")
    # Once the replica has the write, the writer's reads go there too; both see it.
    assert _found(service, WRITER, patient)


def test_a_replica_that_is_down_sends_the_reads_to_the_primary(clusters: Clusters, service: FhirService) -> None:
    _found(service, READER, _create(service, "Berg"))  # the replica's pool is open and in use
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, str(BIN / "pg_ctl"), "-D", str(clusters.replica_folder), "-m", "fast", "stop"],
                   capture_output=True, timeout=60, check=True)  # fmt: skip
    patient = _create(service, "Lund")
    assert _found(service, READER, patient), "a reader saw nothing while the replica was down"


def test_the_replica_setting_is_checked() -> None:
    assert (
        from_environment(
            {"LIFELINE_DB": "postgresql://db/x", "LIFELINE_DB_REPLICA": "postgresql://replica/x"}
        ).db_replica
        == "postgresql://replica/x"
    )
    with pytest.raises(SettingError, match="both must be postgresql:// URLs"):
        from_environment({"LIFELINE_DB": "sqlite:///var/x.db", "LIFELINE_DB_REPLICA": "postgresql://replica/x"})
