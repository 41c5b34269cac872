"""Identity benchmarks: the cost of checking a bearer token (uncached and cached) and of a staff
password check with the chosen argon2id parameters, as logins per second per core.

Usage: python -m bench.identity. Results go to bench/results/identity.json; docs/benchmarks.md
records them. (FHIR reads with authorisation on and off are measured by `python -m bench`.)
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from bench.__main__ import RESULTS, _machine
from lifeline.config import Settings
from lifeline.identity.keys import new_kek
from lifeline.identity.node import NodeIdentity
from lifeline.identity.passwords import OWASP_ARGON2ID, hash_password, verify_password
from lifeline.storage import open_repository

console = Console()


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "identity.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    repo = open_repository(f"sqlite:///{path}")
    repo.migrate()
    identity = NodeIdentity(repo, Settings(issuer="http://bench", kek=new_kek()))
    tokens = [
        identity.issue(subject=f"user{i}", client_id="bench", scopes="user/*.rs", fhir_user=f"Practitioner/p{i}")
        for i in range(2000)
    ]
    identity.verify(tokens[0])  # the key set is read once
    started = time.perf_counter()
    for token in tokens[1:]:
        identity.verify(token)
    uncached = (time.perf_counter() - started) / (len(tokens) - 1)
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        for token in tokens:
            identity.verify("".join(token))  # a fresh string, as each request's header is
    cached = (time.perf_counter() - started) / (rounds * len(tokens))
    verifier = hash_password("correct horse battery staple")
    checks = 20
    started = time.perf_counter()
    for _ in range(checks):
        verify_password(verifier, "correct horse battery staple")
    login = (time.perf_counter() - started) / checks
    repo.close()
    argon = OWASP_ARGON2ID
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "verify_uncached_us": uncached * 1e6,
        "verify_cached_us": cached * 1e6,
        "argon2": f"argon2id m={argon.memory_cost_kib} KiB t={argon.time_cost} p={argon.parallelism}",
        "password_check_ms": login * 1e3,
        "logins_per_s_per_core": 1 / login,
    }
    (RESULTS / "identity.json").write_text(json.dumps(results, indent=2))
    console.print(
        f"token check: {results['verify_uncached_us']:.0f} µs uncached, {results['verify_cached_us']:.1f} µs cached; "
        f"{results['argon2']}: {results['password_check_ms']:.1f} ms a login, "
        f"{results['logins_per_s_per_core']:.0f} logins/s per core"
    )


if __name__ == "__main__":
    main()
