"""The background work of a Bulk Data export (bulk/export_jobs.py): the current resources it asks
for, read in one snapshot taken at its transactionTime, written as NDJSON parts.

A job is taken by a conditional update of its heartbeat, so two processes never both run it;
the runner beats after each part, and a job whose runner stopped beating (the process ended) is
taken again by whichever process is polled next, and walked again from the start with a new
transactionTime. A cancelled or expired job makes the beat fail and the walk stop. The resources'
JSON is written as stored: the exact text, decimals and all.
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from lifeline import jsontext
from lifeline.bulk.export_jobs import ExportJob, ignored_outcome
from lifeline.clock import fhir_instant
from lifeline.search.query.export_scope import export_match

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService
    from lifeline.storage.session import Session

log = logging.getLogger("lifeline.bulk.export")
PAGE = 2000  # resources read at a time, and lines in one stored part of a file
STALE = timedelta(minutes=5)  # a runner silent this long has stopped: its job is taken again


class _Stopped(Exception):
    """The job was cancelled, expired or taken by another runner while it ran."""


def start_in_background(service: FhirService, job: ExportJob) -> None:
    """Run the job in a thread of its own if nobody runs it (a new job, or one whose runner stopped)."""
    if job.status == "accepted" or (job.status == "running" and _stale(service, job.heartbeat)):
        threading.Thread(target=run, args=(service, job), name=f"export-{job.id[:8]}", daemon=True).start()


def _stale(service: FhirService, heartbeat: str | None) -> bool:
    return heartbeat is None or heartbeat.split(" ")[0] < fhir_instant(service.clock() - STALE)


class _Runner:
    """One runner's hold on a job: each beat names the runner, so only the holder may go on."""

    def __init__(self, service: FhirService, job: ExportJob) -> None:
        self.service, self.job = service, job
        self.name = secrets.token_hex(6)
        self.last = ""

    def beat(self) -> str:
        return f"{fhir_instant(self.service.clock())} {self.name}"

    def take(self, transaction_time: str) -> bool:
        beat = self.beat()
        taken, _ = self.service.repo.write(
            lambda s: s.claim_export_job(self.job.id, self.job.heartbeat, beat, transaction_time)
        )
        self.last = beat
        return bool(taken)

    def put(self, part: tuple[object, ...], progress: str) -> None:
        """Write one part with a beat: a job no longer held writes nothing more."""
        beat = self.beat()

        def work(session: Session) -> None:
            if not session.beat_export_job(self.job.id, self.last, beat, progress):
                raise _Stopped
            session.insert_export_part(part)

        self.service.repo.write(work)
        self.last = beat

    def finish(self, status: str, error: str | None) -> None:
        self.service.repo.write(lambda s: s.finish_export_job(self.job.id, self.last, status, error))


def run(service: FhirService, job: ExportJob) -> bool:
    """Take the job and walk it; False if another runner has it. Failures end the job as failed."""
    runner = _Runner(service, job)
    transaction_time = fhir_instant(service.clock())
    if not runner.take(transaction_time):
        return False
    try:
        service.repo.write(lambda s: s.clear_export_parts(job.id))
        _walk(service, runner, transaction_time)
    except _Stopped:
        return True
    except Exception as error:  # noqa: BLE001 - the client is told through the status URL
        log.exception("bulk export %s failed", job.id)
        runner.finish("failed", f"The export failed: {error}")
        return True
    runner.finish("complete", None)
    return True


def _walk(service: FhirService, runner: _Runner, transaction_time: str) -> None:
    job = runner.job
    asked = job.parameters
    file_lines = max(1, service.settings.export_file_lines)
    file_no = 0
    exported = 0
    if asked["ignored"]:
        file_no += 1
        outcome = jsontext.dumps(ignored_outcome(tuple(asked["ignored"]))).decode() + "\n"
        runner.put((job.id, file_no, 1, "OperationOutcome", 1, outcome), "warnings written")
    with service.repo.reading(snapshot=True) as session:
        patients = _members(session, asked["group"]) if asked["level"] == "group" else None
        for res_type in asked["types"]:
            match = export_match(
                service.registry,
                res_type,
                patients=patients,
                compartments=asked["level"] != "system",
                until=transaction_time,
                since=asked["since"],
            )
            after: str | None = None
            in_file = file_lines  # a new type starts a new file
            part_no = 0
            while True:
                page = session.search(res_type, match, after_key=after, limit=min(PAGE, file_lines))
                if not page:
                    break
                after = f"{res_type}/{page[-1].res_id}"
                start = 0
                while start < len(page):
                    if in_file >= file_lines:
                        file_no, in_file, part_no = file_no + 1, 0, 0
                    chunk = page[start : start + file_lines - in_file]
                    start += len(chunk)
                    in_file += len(chunk)
                    part_no += 1
                    exported += len(chunk)
                    text = "".join((stored.content or "") + "\n" for stored in chunk)
                    part = (job.id, file_no, part_no, res_type, len(chunk), text)
                    runner.put(part, f"{exported} resources exported, now {res_type}")


def _members(session: Session, group_id: str) -> list[str]:
    """The Group's active member Patients' ids, as the snapshot has the Group."""
    group = session.read("Group", group_id)
    if group is None or group.deleted or not group.content:
        return []
    members: list[str] = []
    for member in jsontext.loads(group.content).get("member", []):
        reference = (member.get("entity") or {}).get("reference", "")
        if reference.startswith("Patient/") and not member.get("inactive"):
            members.append(reference[len("Patient/") :])
    return sorted(set(members))
