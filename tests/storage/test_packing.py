"""Each stored resource's JSON is packed on its own with a shipped dictionary (storage/packing.py,
issue 27), and comes back as the exact text that was written, on both backends, through every
read (read, vread, history, the change feed), whatever wrote it; Lifeline's own records and JSON
that would not shrink stay as they are; a database written before packing reads as it did, and
`lifeline db repack` packs it without changing what any version says."""

from __future__ import annotations

import base64
import logging
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard

from lifeline.errors import StorageCorrupt
from lifeline.search.extract import extract_index
from lifeline.storage import open_repository, packing
from lifeline.storage.packing import PACK_JSON_STATE
from lifeline.storage.records import PendingVersion
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession
from tests.conftest import database_url, dispose
from tests.storage.writes import INSTANT, as_of_migration, put

# Written as a laboratory sends them: the trailing zeros are the value's precision, and the
# text must come back byte for byte (issue 26), non-ASCII letters too.
OBSERVATION = (
    '{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org",'
    '"code":"2345-7"}]},"subject":{"reference":"Patient/p1"},"valueQuantity":{"value":5.40,'
    '"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"},"note":[{"text":"Prøven er hæmolyseret"}],'
    '"referenceRange":[{"low":{"value":4.00},"high":{"value":6.0E0}}]}'
)


def stored(repo: Repository, table: str = "resource", res_id: str = "o1") -> list[str | None]:
    """The content column itself, as the database holds it."""
    with repo.reading() as session:
        rows = session._all(f"SELECT content FROM {table} WHERE res_id = ? ORDER BY 1", (res_id,))
    return [row[0] for row in rows]


def test_a_resource_is_stored_packed_and_read_back_as_written() -> None:
    text = OBSERVATION
    packed = packing.pack("Observation", text)
    assert packed is not None and packed.startswith(packing.PACKED)
    assert len(packed) < len(text) / 2
    assert packing.unpack(packed) == text
    # The frame names the dictionary it was made with and carries a checksum.
    frame = b"\x28\xb5\x2f\xfd" + base64.b64decode(packed[1:])
    parameters = zstandard.get_frame_parameters(frame)
    assert (parameters.dict_id, parameters.has_checksum) == (packing.WRITE_DICTIONARY, True)


def test_what_stays_as_it_is() -> None:
    conflict = '{"resourceType":"_Conflict","id":"c1","status":"open"}'
    assert packing.pack("_Conflict", conflict) == conflict  # SQL reads its status
    noise = base64.b64encode(os.urandom(3000)).decode()
    binary = f'{{"resourceType":"Binary","id":"b","contentType":"application/pdf","data":"{noise}"}}'
    assert packing.pack("Binary", binary) == binary  # packing would not make it shorter
    assert packing.pack("Patient", None) is None  # a delete
    assert packing.unpack(OBSERVATION) == OBSERVATION  # text stored before packing


def test_a_damaged_or_unknown_frame_is_refused_not_misread(caplog: pytest.LogCaptureFixture) -> None:
    packed = packing.pack("Observation", OBSERVATION)
    assert packed is not None
    raw = bytearray(base64.b64decode(packed[1:]))
    raw[len(raw) // 2] ^= 0x01
    with caplog.at_level(logging.ERROR, "lifeline.storage"), pytest.raises(StorageCorrupt, match="cannot be read"):
        packing.unpack(packing.PACKED + base64.b64encode(bytes(raw)).decode())
    assert "packed JSON cannot be read" in caplog.text  # the operators' log says so, not only the answer
    with pytest.raises(StorageCorrupt, match="cannot be read"):
        packing.unpack(packing.PACKED + "not base64!")
    # A frame made with a dictionary this version does not ship (a newer version's, id 99).
    newer = bytearray(packing.dictionary(1).as_bytes())
    newer[4:8] = (99).to_bytes(4, "little")  # https://datatracker.ietf.org/doc/html/rfc8878#section-5
    frame = zstandard.ZstdCompressor(dict_data=zstandard.ZstdCompressionDict(bytes(newer))).compress(b"{}")
    assert zstandard.get_frame_parameters(frame).dict_id == 99
    with pytest.raises(StorageCorrupt, match="JSON dictionary 99, which this version does not ship"):
        packing.unpack(packing.PACKED + base64.b64encode(frame[4:]).decode())


def packing_off(repo: Repository) -> None:
    """The database as one that held resources before this version: its writes do not pack."""
    repo.write(lambda session: session.take_state(PACK_JSON_STATE, int(time.time())))
    repo._packs_json = None  # read the switch again now, not within PACK_JSON_CHECK_SECONDS


def test_every_read_gives_back_each_version_as_written(repo: Repository) -> None:
    first = OBSERVATION
    second = OBSERVATION.replace('"final"', '"amended"').replace("5.40", "5.50")
    repo.write(lambda session: _put_text(session, first, 1))
    repo.write(lambda session: _put_text(session, second, 2))
    current, older = stored(repo)[0], [c for c in stored(repo, "resource_version") if c is not None]
    assert current is not None and current.startswith(packing.PACKED)
    assert len(older) == 1 and older[0].startswith(packing.PACKED)  # version 1, moved from `resource`
    with repo.reading() as session:
        read = session.read("Observation", "o1")
        vread = session.vread("Observation", "o1", 1)
        history = session.history("Observation", "o1", since=None, at=None, before=None, limit=10)
    assert read is not None and read.content == second
    assert vread is not None and vread.content == first
    assert [v.content for v in history] == [second, first]
    assert [v.content for v in repo.changes_after(0) if v.res_id == "o1"] == [first, second]


def _put_text(session: WriteSession, text: str, version: int) -> None:
    """Write `text` itself as the version's content (`put` would write orjson's rendering)."""
    pending = PendingVersion("Observation", "o1", version, INSTANT, False, text, "PUT")
    session.put(pending, extract_index(orjson.loads(text)), replaces=version > 1)


def test_a_database_written_before_packing_reads_and_repacks(repo: Repository) -> None:
    packing_off(repo)
    for n in (1, 2):
        repo.write(lambda session, n=n: put(session, _patient(n), n))
    conflict = PendingVersion("_Conflict", "c", 1, INSTANT, False, '{"status":"open"}', "PUT")
    repo.write(lambda session: session.put(conflict, None, replaces=False))
    assert stored(repo, res_id="p")[0] == orjson.dumps(_patient(2)).decode()
    with repo.reading() as session:
        before = session.vread("Patient", "p", 1), session.read("Patient", "p")
        assert session.open_conflict_count() == 1
    read, packed, last = repo.write(lambda session: session.repack(None, 500))[0]
    assert (read, packed) == (2, 2)  # the Patient's current row and its version 1; not the conflict
    assert repo.write(lambda session: session.repack(last, 500))[0] == (0, 0, None)
    assert stored(repo, res_id="p")[0].startswith(packing.PACKED)
    assert stored(repo, res_id="c")[0].startswith("{")
    with repo.reading() as session:
        assert (session.vread("Patient", "p", 1), session.read("Patient", "p")) == before
        assert session.open_conflict_count() == 1
    # Run again, it finds nothing left to pack.
    assert repo.write(lambda session: session.repack(None, 500))[0] == (2, 0, last)


def _patient(n: int) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p", "name": [{"family": f"Jørgensen{n}", "given": ["Åse"]}]}


def test_a_database_that_held_resources_packs_only_once_repack_turns_it_on(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Upgraded in place, it may still be served by processes of the version before, which cannot
    # read packed JSON (a rolling upgrade): migration 21 leaves packing off there.
    repo = open_repository(database_url(backend, tmp_path))
    try:
        with as_of_migration(monkeypatch, repo, 20):
            repo.write(lambda session: put(session, _patient(1)))
        assert repo.migrate() == [21, 22]
        repo._packs_json = None
        repo.write(lambda session: put(session, _patient(2), 2))
        assert stored(repo, res_id="p")[0] == orjson.dumps(_patient(2)).decode()
        assert repo.start_packing() is True  # `lifeline db repack` turns it on
        assert repo.start_packing() is False
        repo.write(lambda session: put(session, _patient(3), 3))
        assert stored(repo, res_id="p")[0].startswith(packing.PACKED)
    finally:
        dispose(repo)


def test_a_new_database_packs_from_the_start(backend: str, tmp_path: Path) -> None:
    repo = open_repository(database_url(backend, tmp_path))
    try:
        repo.migrate()
        assert repo.packs_json() is True
    finally:
        dispose(repo)


def test_the_command_repacks_a_database_and_says_how_much(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    repo = open_repository(url)
    try:
        repo.migrate()
        packing_off(repo)
        repo.write(lambda session: [put(session, _patient(1) | {"id": f"p{i}"}) for i in range(7)])
    finally:
        repo.close()
    done = subprocess.run(
        [sys.executable, "-m", "lifeline.cli", "db", "repack", "--db", url, "--batch-size", "3"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "packing turned on" in done.stdout + done.stderr
    assert "packed 7 stored versions of 7 resources" in done.stdout + done.stderr
    with sqlite3.connect(tmp_path / "old.db") as conn:
        contents = [row[0] for row in conn.execute("SELECT content FROM resource")]
    assert len(contents) == 7 and all(c.startswith(packing.PACKED) for c in contents)
    assert {orjson.loads(packing.unpack(c) or "")["id"] for c in contents} == {f"p{i}" for i in range(7)}


def test_the_shipped_dictionary_is_whole() -> None:
    data = (packing.DICTIONARIES / f"{packing.WRITE_DICTIONARY}.zdict").read_bytes()
    assert zstandard.ZstdCompressionDict(data).dict_id() == packing.WRITE_DICTIONARY


def test_a_batch_sent_by_copy_is_packed_and_reads_back_whole(repo: Repository) -> None:
    # 300 resources in one transaction: PostgreSQL sends their rows by COPY (storage/postgres.py),
    # whose text format must carry the packed text as it is.
    texts = {
        f"o{i}": OBSERVATION.replace('"id":"o1"', f'"id":"o{i}"').replace("5.40", f"{i}.{i % 7}0") for i in range(300)
    }

    def work(session: WriteSession) -> None:
        for res_id, text in texts.items():
            pending = PendingVersion("Observation", res_id, 1, INSTANT, False, text, "PUT")
            session.put(pending, extract_index(orjson.loads(text)), replaces=False)

    repo.write(work)
    with repo.reading() as session:
        rows = session._all("SELECT res_id, content FROM resource WHERE res_type = 'Observation'", ())
        read = session.read_many([("Observation", res_id) for res_id in texts])
    assert len(rows) == 300 and all(str(content).startswith(packing.PACKED) for _, content in rows)
    assert {version.res_id: version.content for version in read} == texts
