"""Audit trail benchmark: append records in group commits (SQLite), then time `verify` over the
whole trail (issue 6 target: 1 million records verified in under 30 seconds).

Usage: python -m bench.audit [--records 1000000] [--batch 1000]. Results go to
bench/results/audit.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from bench.__main__ import RESULTS, _machine
from lifeline.audit import store
from lifeline.audit.checkpoint import audit_key_ring
from lifeline.audit.verify import verify
from lifeline.storage import open_repository

console = Console()


def _event(n: int) -> dict[str, object]:
    """An AuditEvent of about the size a read of one patient's record makes (BALP "read")."""
    return {
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
        "action": "R",
        "recorded": "2026-11-22T08:00:00.000Z",
        "outcome": "0",
        "agent": [{"who": {"reference": f"Practitioner/pr{n % 500}"}, "requestor": True}],
        "source": {"observer": {"display": "central"}},
        "entity": [{"what": {"reference": f"Patient/p{n}"}}],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "audit.db"
    for suffix in ("", "-wal", "-shm", ".writer-lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    repo = open_repository(f"sqlite:///{path}")
    repo.migrate()
    started = time.perf_counter()
    for start in range(0, args.records, args.batch):
        store.append(repo, "central", [_event(n) for n in range(start, min(start + args.batch, args.records))])
    appended = time.perf_counter() - started
    started = time.perf_counter()
    report = verify(repo, audit_key_ring(repo))
    verified = time.perf_counter() - started
    repo.close()
    assert report.ok and report.records == args.records, report.first_problem
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "records": args.records,
        "batch": args.batch,
        "append_records_per_s": args.records / appended,
        "verify_seconds": verified,
        "verify_records_per_s": args.records / verified,
    }
    (RESULTS / "audit.json").write_text(json.dumps(results, indent=2))
    console.print(
        f"appended {args.records:,} records in batches of {args.batch}: {results['append_records_per_s']:,.0f}/s; "
        f"verified in {verified:.2f} s: {results['verify_records_per_s']:,.0f} records/s"
    )


if __name__ == "__main__":
    main()
