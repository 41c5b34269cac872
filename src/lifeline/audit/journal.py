"""The node-local audit journal: where an answer's access record is made durable before the
answer leaves, and from where it is folded into the node's hash chain in the database behind the
answers (issue 6: "no clinical data leaves the server without its audit record being durable").

Why: appending to the chain in the database costs a transaction a group of records — the head's
lock, two round trips and a WAL flush, about 4 ms under load here — and every answer waited for
one. A journal append is one `write` and one `fdatasync` of a file only this process writes. The
chain then grows by folds of hundreds of records a transaction, with the same hash rule
(audit/chain.py); what `lifeline audit verify` checks is unchanged.

The files: one per server process, in the journal directory (`LIFELINE_AUDIT_JOURNAL`), named by
a random id and locked (`flock`) for as long as the process lives. The first line names the node;
each later line is one record, `recorded <TAB> canonical AuditEvent JSON` (canonical JSON has no
raw tab or newline). How far a journal is folded is kept in the database (`audit_journal`), in the
same transaction as the records folded, so a crash between a fold and anything after it never
folds a record twice. A journal whose lock is free belongs to a process that is gone: the next
recorder to start folds what is left of it and removes it. A last line without its newline was
being written when the process died; its answer never left, and it is not folded.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from pathlib import Path

import orjson

from lifeline.audit.store import append_records_in
from lifeline.config import SettingError, Settings
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession

SUFFIX = ".journal"
FOLD_RECORDS = 2000  # records folded a transaction, at most
ROTATE_BYTES = 64 * 1024 * 1024  # a fully folded journal larger than this is replaced by a new one


def directory(settings: Settings) -> Path | None:
    """Where this node's journals live; None when records go straight to the database
    (`LIFELINE_AUDIT_JOURNAL=off`, or an in-memory SQLite database, which no journal outlives)."""
    if settings.audit_journal == "off":
        return None
    if settings.audit_journal:
        return Path(settings.audit_journal)
    if settings.db.startswith("sqlite:///"):
        path = settings.db[len("sqlite:///") :].split("?", 1)[0]
        if not path or path == ":memory:":
            return None
        return Path(path + ".audit-journal")
    # A server database: one folder per database under var/, so that servers of different
    # databases on one machine never fold each other's records.
    return Path("var/audit-journal") / hashlib.sha256(settings.db.encode()).hexdigest()[:16]


def check_directory(path: Path) -> None:
    """Create the folder if need be and prove a journal can be written there: one clear line if not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SettingError(
            f"LIFELINE_AUDIT_JOURNAL: cannot keep the audit journal in {path}: {exc.strerror or exc}"
        ) from None


class Journal:
    """This process's journal: appended to by the recorder's writer thread, read by its folder."""

    def __init__(self, folder: Path, node_id: str) -> None:
        check_directory(folder)
        self.name = uuid.uuid4().hex
        self.path = folder / (self.name + SUFFIX)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        header = orjson.dumps({"lifeline-audit-journal": 1, "node": node_id}) + b"\n"
        os.write(self.fd, header)
        os.fdatasync(self.fd)
        _sync_folder(folder)  # the file's name is durable too
        self.start = len(header)  # where the records begin
        self.written = self.start  # bytes made durable

    def append(self, lines: list[bytes]) -> None:
        """Make `lines` durable: one write, one flush."""
        data = b"".join(lines)
        os.write(self.fd, data)
        os.fdatasync(self.fd)
        self.written += len(data)

    def read(self, start: int, end: int) -> list[tuple[str, str, int]]:
        """The records between two offsets: (recorded, content, offset after the line)."""
        return _lines(os.pread(self.fd, end - start, start), start)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        os.close(self.fd)


def line(recorded: str, content: str) -> bytes:
    return f"{recorded}\t{content}\n".encode()


def fold(repo: Repository, node_id: str, name: str, records: list[tuple[str, str]], end: int) -> None:
    """Append `records` to the node's chain and note the journal folded up to `end`, in one
    transaction."""

    def work(session: WriteSession) -> None:
        append_records_in(session, node_id, records)
        session.put_journal_folded(name, node_id, end)

    repo.write(work)


def fold_orphans(repo: Repository, folder: Path) -> int:
    """Fold and remove every journal in `folder` whose process is gone; how many records."""
    if not folder.is_dir():
        return 0
    total = 0
    for path in sorted(folder.glob("*" + SUFFIX)):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # another recorder folded it first
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process's journal
            if os.fstat(fd).st_nlink == 0:
                continue  # folded and removed by another recorder while this one waited to open it
            total += _fold_file(repo, path, fd)
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
        _forget(repo, path.stem)
    return total


def _forget(repo: Repository, name: str) -> None:
    def work(session: WriteSession) -> None:
        session.forget_journal(name)

    repo.write(work)


def _fold_file(repo: Repository, path: Path, fd: int) -> int:
    data = os.pread(fd, os.fstat(fd).st_size, 0)
    header_end = data.find(b"\n") + 1
    if header_end == 0:
        return 0  # the process died while writing the header: no record was ever acknowledged
    try:
        node_id = str(orjson.loads(data[:header_end])["node"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise RuntimeError(f"{path} is not a Lifeline audit journal; move it away and start again") from None
    with repo.reading() as session:
        folded = session.journal_folded(path.stem)
    position = max(folded or 0, header_end)
    lines = _lines(data[position:], position)
    for first in range(0, len(lines), FOLD_RECORDS):
        chunk = lines[first : first + FOLD_RECORDS]
        fold(repo, node_id, path.stem, [(recorded, content) for recorded, content, _ in chunk], chunk[-1][2])
    return len(lines)


def _lines(data: bytes, start: int) -> list[tuple[str, str, int]]:
    """The complete lines of `data` (read from offset `start`): (recorded, content, the offset
    just after the line)."""
    out = []
    position = 0
    while (newline := data.find(b"\n", position)) >= 0:
        recorded, _, content = data[position:newline].decode().partition("\t")
        position = newline + 1
        out.append((recorded, content, start + position))
    return out


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
