"""Shipping the audit trail to a SIEM (audit/siem.py): the RFC 5424 message parsed back, NDJSON
with a cursor, and syslog over a real TLS connection to a collector in a thread."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lifeline.audit import store
from lifeline.audit.chain import AuditRecord, canonical, record_hash
from lifeline.audit.siem import NdjsonSink, SiemError, SyslogTlsSink, frame, load_cursor, ship, to_syslog
from lifeline.storage.repository import Repository
from tests.conftest import BACKENDS, dispose, fresh_repository

BOM = b"\xef\xbb\xbf"
SYSLOG = re.compile(rb"<(\d{1,3})>(\d) (\S+) (\S+) (\S+) (\S+) (\S+) (\[(?:[^\]\\]|\\.)*\]) (.*)", re.DOTALL)
SD_PARAM = re.compile(r'(\w+)="((?:[^"\\\]]|\\.)*)"')


def record(event: dict[str, Any], node: str = "central", seq: int = 1) -> AuditRecord:
    content, recorded = canonical(event), "2026-11-22T08:00:01.250000Z"
    return AuditRecord(node, seq, recorded, content, "0" * 64, record_hash("0" * 64, node, seq, recorded, content))


def parse(message: bytes) -> tuple[int, int, dt.datetime, list[str], dict[str, str], bytes]:
    """(PRI, version, timestamp, [hostname, app, procid, msgid], SD params, MSG) of an RFC 5424 message."""
    match = SYSLOG.fullmatch(message)
    assert match is not None, message
    pri, version, stamp, *header, sd, msg = match.groups()
    sd_text = sd.decode()
    assert sd_text.startswith("[lifeline@32473 ")
    params = {name: re.sub(r"\\(.)", r"\1", value) for name, value in SD_PARAM.findall(sd_text)}
    return int(pri), int(version), dt.datetime.fromisoformat(stamp.decode()), [h.decode() for h in header], params, msg


def unframe(data: bytes) -> list[bytes]:
    """Split an RFC 5425 octet-counted stream into messages."""
    messages = []
    while data:
        length, _, rest = data.partition(b" ")
        assert length.isdigit(), data[:20]
        messages.append(rest[: int(length)])
        data = rest[int(length) :]
    return messages


def test_a_record_is_an_rfc_5424_message_with_escaped_structured_data() -> None:
    node = 'site "b\\c]'
    event = {"resourceType": "AuditEvent", "outcome": "8", "subtype": [{"code": "read"}], "text": "Zoë"}
    rec = record(event, node=node, seq=42)
    pri, version, stamp, header, params, msg = parse(to_syslog(rec, "vm-1"))
    assert (pri, version) == (10 * 8 + 3, 1)  # authpriv, error
    assert stamp == dt.datetime(2026, 11, 22, 8, 0, 1, 250000, tzinfo=dt.UTC)
    assert header == ["vm-1", "lifeline", "-", "read"]
    assert params == {"node": node, "seq": "42", "hash": rec.hash}
    assert msg.startswith(BOM) and orjson.loads(msg[len(BOM) :]) == event
    assert b'node="site \\"b\\\\c\\]"' in to_syslog(rec, "vm-1")


@pytest.mark.parametrize(("outcome", "severity"), [("0", 6), ("4", 4), ("8", 3), ("12", 3), (None, 6)])
def test_severity_follows_the_outcome(outcome: str | None, severity: int) -> None:
    event: dict[str, object] = {"resourceType": "AuditEvent"}
    if outcome is not None:
        event["outcome"] = outcome
    pri, *_, header, _, _ = parse(to_syslog(record(event), "host"))
    assert pri == 80 + severity
    assert header[3] == "audit"  # no subtype, no type


def test_frames_count_octets_not_characters() -> None:
    messages = [to_syslog(record({"text": 'Zoë ] " \\'}, seq=n), "host name\twith spaces") for n in (1, 2)]
    stream = b"".join(frame(m) for m in messages)
    assert stream.startswith(b"%d <" % len(messages[0]))
    assert unframe(stream) == messages
    assert parse(messages[0])[3][0] == "hostnamewithspaces"  # PRINTUSASCII only


@dataclass(frozen=True)
class Pki:
    ca: Path
    other_ca: Path
    cert: Path  # the collector's, for 127.0.0.1, issued by `ca`
    key: Path
    foreign_cert: Path  # for 127.0.0.1 too, but issued by `other_ca`
    foreign_key: Path


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _issue(folder: Path, stem: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None) -> tuple:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(stem))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.issuer_name(_name(stem)).add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        cert = builder.sign(key, hashes.SHA256())
    else:
        builder = builder.issuer_name(issuer[0].subject)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), False
        )
        cert = builder.sign(issuer[1], hashes.SHA256())
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert, key, cert_path, key_path


def make_pki(folder: Path) -> Pki:
    ca = _issue(folder, "ca", None)
    other = _issue(folder, "other-ca", None)
    server = _issue(folder, "collector", (ca[0], ca[1]))
    foreign = _issue(folder, "foreign", (other[0], other[1]))
    return Pki(ca[2], other[2], server[2], server[3], foreign[2], foreign[3])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


class Collector:
    """A syslog-over-TLS collector on 127.0.0.1, in a thread: for each step of `script` it takes
    one connection and either reads it to the end ("read") or closes it at once ("drop"); then
    it stops listening."""

    def __init__(self, cert: Path, key: Path, script: tuple[str, ...] = ("read",)) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.script = script
        self.received = bytearray()
        self.errors: list[BaseException] = []
        self.dropped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            for step in self.script:
                raw, _ = self.listener.accept()
                raw.settimeout(10)
                try:
                    conn = self.context.wrap_socket(raw, server_side=True)
                except OSError as error:  # the client refused our certificate
                    raw.close()
                    self.errors.append(error)
                    continue
                with conn:
                    while step == "read" and (chunk := conn.recv(65536)):
                        self.received += chunk
                if step == "drop":
                    self.dropped.set()  # once closed: a client told earlier could still write into it
        except OSError as error:
            self.errors.append(error)
        finally:
            self.listener.close()

    def join(self) -> None:
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


@pytest.fixture(params=BACKENDS)
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    repo = fresh_repository(request.param, tmp_path)
    subtypes = ["read", "search", "update"]
    store.append(
        repo,
        "central",
        [{"resourceType": "AuditEvent", "outcome": "0", "subtype": [{"code": s}], "id": s} for s in subtypes],
    )
    store.append(repo, "site-b", [{"resourceType": "AuditEvent", "outcome": "4", "id": str(i)} for i in range(2)])
    yield repo
    dispose(repo)


def every_record(repo: Repository) -> list[AuditRecord]:
    return [*store.events_after(repo, "central", 0, 100), *store.events_after(repo, "site-b", 0, 100)]


def test_ndjson_export_writes_every_record_once_and_resumes_from_the_cursor(repo: Repository, tmp_path: Path) -> None:
    path = tmp_path / "audit.ndjson"
    sink = NdjsonSink(path)
    assert ship(repo, sink, batch=2) == 5
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [(line["node"], line["seq"]) for line in lines] == [(r.node_id, r.seq) for r in every_record(repo)]
    first = every_record(repo)[0]
    assert lines[0] == {
        "node": "central",
        "seq": 1,
        "hash": first.hash,
        "prev_hash": first.prev_hash,
        "recorded": first.recorded,
        "event": orjson.loads(first.content),
    }
    assert load_cursor(repo, sink) == {"central": 3, "site-b": 2}

    assert ship(repo, sink) == 0  # nothing new: nothing written
    assert len(path.read_bytes().splitlines()) == 5
    store.append(repo, "site-b", [{"resourceType": "AuditEvent", "id": "late"}])
    assert ship(repo, sink) == 1
    last = orjson.loads(path.read_bytes().splitlines()[-1])
    assert (last["node"], last["seq"], last["event"]["id"]) == ("site-b", 3, "late")


def test_an_unwritable_file_is_a_clear_error_and_moves_no_cursor(repo: Repository, tmp_path: Path) -> None:
    sink = NdjsonSink(tmp_path / "no-such-folder" / "audit.ndjson")
    with pytest.raises(SiemError, match="cannot write the NDJSON file .*audit.ndjson: No such file"):
        ship(repo, sink)
    assert load_cursor(repo, sink) == {}


def test_syslog_over_tls_delivers_exactly_the_framed_messages(repo: Repository, pki: Pki) -> None:
    collector = Collector(pki.cert, pki.key)
    with SyslogTlsSink("127.0.0.1", collector.port, ca_file=pki.ca, timeout=5, hostname="vm-test") as sink:
        assert ship(repo, sink, batch=2) == 5
        cursor = load_cursor(repo, sink)
    collector.join()
    expected = [frame(to_syslog(r, "vm-test")) for r in every_record(repo)]
    assert bytes(collector.received) == b"".join(expected)
    assert [parse(m)[0] for m in unframe(bytes(collector.received))] == [86, 86, 86, 84, 84]
    assert cursor == {"central": 3, "site-b": 2}
    assert collector.errors == []


def test_a_collector_certificate_from_another_ca_is_refused(repo: Repository, pki: Pki) -> None:
    collector = Collector(pki.foreign_cert, pki.foreign_key)
    with SyslogTlsSink("127.0.0.1", collector.port, ca_file=pki.ca, timeout=5, retry_delay=0) as sink:
        with pytest.raises(SiemError, match=r"TLS failure with 127\.0\.0\.1:\d+: .*certificate"):
            ship(repo, sink)
        assert load_cursor(repo, sink) == {}
    collector.join()
    assert collector.received == b""


def test_a_closed_collector_is_a_clear_error_and_nothing_is_marked_sent(repo: Repository, pki: Pki) -> None:
    collector = Collector(pki.cert, pki.key, script=("drop",))  # closes the connection, then stops listening
    with SyslogTlsSink("127.0.0.1", collector.port, ca_file=pki.ca, timeout=5, attempts=2, retry_delay=0) as sink:
        sink.connect()
        assert collector.dropped.wait(10)
        collector.join()
        with pytest.raises(SiemError, match=r"cannot deliver .* after 2 attempt\(s\): .*refused"):
            ship(repo, sink)
        assert load_cursor(repo, sink) == {}


def test_a_dropped_connection_is_opened_again(repo: Repository, pki: Pki) -> None:
    collector = Collector(pki.cert, pki.key, script=("drop", "read"))
    with SyslogTlsSink("127.0.0.1", collector.port, ca_file=pki.ca, timeout=5, retry_delay=0, hostname="h") as sink:
        sink.connect()
        assert collector.dropped.wait(10)
        assert ship(repo, sink) == 5
    collector.join()
    assert unframe(bytes(collector.received)) == [to_syslog(r, "h") for r in every_record(repo)]
