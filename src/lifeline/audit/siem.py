"""Shipping the audit trail to a SIEM (issue 6): RFC 5424 syslog over TLS, or a file of NDJSON.

Message format (RFC 5424 section 6, framed per RFC 5425 section 4.3 by octet counting)::

    LEN SP <PRI>1 TIMESTAMP HOSTNAME lifeline - MSGID [lifeline@32473 node=".." seq=".." hash=".."] BOM JSON

- Facility 10 (security/authorization): what IHE ATNA (ITI-20) asks of audit messages, so
  collectors that already route healthcare audit trails pick these up; severity follows the
  AuditEvent's outcome (0 informational, 4 warning, 8 and 12 error).
- TIMESTAMP is the instant the record was written to the chain, not the time it was shipped.
- PROCID is the nil value: the record was made by whatever server process wrote it, not by us.
- 32473 is the documentation enterprise number of RFC 5612; a deployment with its own IANA
  private enterprise number should put it in `SD_ID`.

Delivery is at-least-once, never at-most-once. Every node's chain is shipped in seq order, a
batch at a time, and the per-node cursor (node-local state `siem-cursor:<sink name>`) moves
only after the sink took the whole batch: for NDJSON, after fsync; for syslog, after the batch
was written to a TLS connection that was still open afterwards. A crash or failure in between
ships that batch again on the next run. RFC 5425 has no application acknowledgement, so a
collector that dies while holding bytes it has not processed can still lose them.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson

from lifeline import jsontext
from lifeline.audit import store
from lifeline.audit.chain import AuditRecord
from lifeline.clock import epoch_clock
from lifeline.identity.state import NodeState
from lifeline.storage.repository import Repository

FACILITY = 10  # security/authorization messages, as IHE ATNA asks
APP_NAME = "lifeline"
SD_ID = "lifeline@32473"
BOM = b"\xef\xbb\xbf"
BATCH = 500
# AuditEvent.outcome (http://hl7.org/fhir/audit-event-outcome) -> RFC 5424 severity
SEVERITY = {"0": 6, "4": 4, "8": 3, "12": 3}

Cursor = dict[str, int]  # node id -> last seq shipped


class SiemError(OSError):
    """A record could not be delivered; the cursor stays where it was."""


def to_syslog(record: AuditRecord, hostname: str = "-") -> bytes:
    """One record as an RFC 5424 message (unframed; see `frame`)."""
    event: dict[str, Any] = orjson.loads(record.content)
    severity = SEVERITY.get(str(event.get("outcome", "0")), 6)
    sd = f'[{SD_ID} node="{_sd_value(record.node_id)}" seq="{record.seq}" hash="{_sd_value(record.hash)}"]'
    header = f"<{FACILITY * 8 + severity}>1 {record.recorded} {_printable(hostname, 255)} {APP_NAME} - "
    return f"{header}{_printable(_interaction(event), 32)} {sd} ".encode() + BOM + record.content.encode()


def frame(message: bytes) -> bytes:
    """Octet-counting framing for syslog over TLS (RFC 5425 section 4.3): `MSG-LEN SP MSG`."""
    return b"%d " % len(message) + message


def _interaction(event: dict[str, Any]) -> str:
    """The MSGID: the REST interaction (subtype) or the event type, else "audit"."""
    for coding in [*event.get("subtype", []), event.get("type") or {}]:
        if isinstance(coding, dict) and coding.get("code"):
            return str(coding["code"])
    return "audit"


def _printable(text: str, limit: int) -> str:
    """A header field: PRINTUSASCII only (RFC 5424 section 6.2), else the nil value."""
    cleaned = "".join(c for c in text if 33 <= ord(c) <= 126)[:limit]
    return cleaned or "-"


def _sd_value(text: str) -> str:
    """A PARAM-VALUE with `"`, `\\` and `]` escaped (RFC 5424 section 6.3.3)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


class Sink(Protocol):
    name: str

    def send(self, records: Sequence[AuditRecord]) -> None:
        """Deliver a batch, or raise SiemError; returning means the cursor may move past it."""

    def close(self) -> None: ...


class NdjsonSink:
    """Appends one JSON object a line; fsync at the end of each batch."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"ndjson:{self.path.resolve()}"

    def send(self, records: Sequence[AuditRecord]) -> None:
        lines = b"".join(
            jsontext.dumps(
                {
                    "node": r.node_id,
                    "seq": r.seq,
                    "hash": r.hash,
                    "prev_hash": r.prev_hash,
                    "recorded": r.recorded,
                    "event": orjson.Fragment(r.content),  # the stored canonical text, as it is
                }
            )
            + b"\n"
            for r in records
        )
        try:
            with open(self.path, "ab") as file:
                file.write(lines)
                file.flush()
                os.fsync(file.fileno())
        except OSError as error:
            raise SiemError(f"cannot write the NDJSON file {self.path}: {error.strerror or error}") from error

    def close(self) -> None:
        pass


class SyslogTlsSink:
    """Syslog over TLS (RFC 5425): the server's certificate is checked against `ca_file` (or the
    system's trust store) and must name `host`; a client certificate is optional. A dropped
    connection is opened again, up to `attempts` tries per batch; certificate failures are not
    retried."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ca_file: str | Path | None = None,
        cert_file: str | Path | None = None,
        key_file: str | Path | None = None,
        timeout: float = 10.0,
        attempts: int = 3,
        retry_delay: float = 1.0,
        hostname: str | None = None,
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.attempts, self.retry_delay = max(1, attempts), retry_delay
        self.hostname = hostname or socket.gethostname()
        self.name = f"syslog:{host}:{port}"
        try:
            self.context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            self.context.minimum_version = ssl.TLSVersion.TLSv1_2
            if cert_file:
                self.context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
        except (OSError, ssl.SSLError) as error:
            raise SiemError(f"cannot load the TLS certificates: {error}") from error
        self._conn: ssl.SSLSocket | None = None

    def connect(self) -> None:
        if self._conn is not None and self._alive(self._conn):
            return
        self.close()
        raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
        try:
            self._conn = self.context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise

    def send(self, records: Sequence[AuditRecord]) -> None:
        data = b"".join(frame(to_syslog(r, self.hostname)) for r in records)
        for attempt in range(1, self.attempts + 1):
            try:
                self.connect()
                assert self._conn is not None
                self._conn.sendall(data)
                if not self._alive(self._conn):
                    raise ConnectionResetError("the collector closed the connection")
                return
            except ssl.SSLCertVerificationError as error:
                self.close()
                raise SiemError(f"TLS failure with {self.host}:{self.port}: {error.verify_message}") from error
            except OSError as error:  # refused, reset, timed out, TLS alerts: try again, a bounded number of times
                self.close()
                if attempt == self.attempts:
                    raise SiemError(
                        f"cannot deliver to the syslog collector {self.host}:{self.port}"
                        f" after {attempt} attempt(s): {_reason(error)}"
                    ) from error
                time.sleep(self.retry_delay)

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    @staticmethod
    def _alive(conn: ssl.SSLSocket) -> bool:
        """Whether the collector has not closed its end (it never sends us anything else)."""
        timeout = conn.gettimeout()
        conn.settimeout(0)
        try:
            return conn.recv(1) != b""
        except ssl.SSLWantReadError:
            return True
        except OSError:
            return False
        finally:
            conn.settimeout(timeout)

    def __enter__(self) -> SyslogTlsSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reason(error: OSError) -> str:
    if isinstance(error, ssl.SSLError):
        return f"TLS failure: {error.reason or error}"
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    return error.strerror or str(error) or type(error).__name__


def export(
    repo: Repository,
    sink: Sink,
    cursor: Cursor,
    *,
    batch: int = BATCH,
    on_batch: Callable[[Cursor, int], None] = lambda cursor, n: None,
) -> Cursor:
    """Ship every record after `cursor`, node by node in seq order; the new cursor.

    `on_batch` hears of each delivered batch with the cursor past it (where to save it)."""
    position = dict(cursor)
    for node in nodes(repo):
        while records := store.events_after(repo, node, position.get(node, 0), batch):
            sink.send(records)
            position[node] = records[-1].seq
            on_batch(dict(position), len(records))
    return position


def nodes(repo: Repository) -> list[str]:
    found: list[str] = []
    with repo.reading() as session:
        node = session.audit_nodes_after("")
        while node is not None:
            found.append(node)
            node = session.audit_nodes_after(node)
    return found


def pending(repo: Repository, cursor: Cursor) -> int:
    """How many records the heads announce beyond `cursor` (a progress bar's total)."""
    total = 0
    for node in nodes(repo):
        head = store.head(repo, node)
        total += max(0, head[0] - cursor.get(node, 0)) if head else 0
    return total


def cursor_name(sink: Sink) -> str:
    return f"siem-cursor:{sink.name}"


def load_cursor(repo: Repository, sink: Sink) -> Cursor:
    stored = NodeState(repo).get(cursor_name(sink), epoch_clock())
    return {str(node): int(seq) for node, seq in (stored or {}).items()}


def ship(
    repo: Repository, sink: Sink, *, batch: int = BATCH, on_progress: Callable[[int], None] = lambda n: None
) -> int:
    """Export from the cursor kept in node-local state, saving it after every batch; how many
    records were shipped."""
    state = NodeState(repo)
    shipped = 0

    def delivered(position: Cursor, count: int) -> None:
        nonlocal shipped
        state.put(cursor_name(sink), position)
        shipped += count
        on_progress(count)

    export(repo, sink, load_cursor(repo, sink), batch=batch, on_batch=delivered)
    return shipped
