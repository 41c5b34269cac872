"""Tokens for the benchmarks: the servers they start require one, as every Lifeline server does.

The benchmark registers its own app (`bench`, a backend service) and issues a token the way
`lifeline token issue` does; the server processes get the same key-encryption key through the
environment, so they can open the node's signing key."""

from __future__ import annotations

import os
from pathlib import Path

from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository


def _kept_kek() -> str:
    """The benchmarks' key-encryption key, kept beside their results: a database kept from an
    earlier run (bench/search.py keeps its million resources) holds a node key sealed with it."""
    path = Path(__file__).parent / "results" / "kek"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(new_kek())
        path.chmod(0o600)
    return path.read_text().strip()


KEK = _kept_kek()  # handed to every server the benchmarks start
SCOPES = "system/*.cruds"


def settings(url: str, **extra: object) -> Settings:
    return Settings(db=url, kek=KEK, **extra)  # type: ignore[arg-type]


# A benchmark's one token stands for many clients: the limits that keep one person or app to their
# share (web/rate_limits.py, web/admission.py) are lifted unless the benchmark sets them itself
# (bench/flood.py measures them).
_ONE_FOR_MANY = {
    "LIFELINE_RATE_LIMIT_ACCOUNT": "none",
    "LIFELINE_RATE_LIMIT_APP": "none",
    "LIFELINE_PRINCIPAL_IN_FLIGHT": "1024",
}


def server_env(port: int) -> dict[str, str]:
    """What a benchmark's `lifeline serve` needs to accept the benchmark's tokens at load."""
    lifted = {name: os.environ.get(name, value) for name, value in _ONE_FOR_MANY.items()}
    return {"LIFELINE_KEK": KEK, "LIFELINE_ISSUER": f"http://127.0.0.1:{port}", **lifted}


def token(url: str, port: int) -> str:
    service = FhirService(open_repository(url), settings(url, issuer=f"http://127.0.0.1:{port}"))
    try:
        if records.get_client(service.repo, "bench") is None:
            records.put_client(service.repo, records.Client("bench", "backend", SCOPES))
        return service.identity.issue(subject="bench", client_id="bench", scopes=SCOPES, lifetime=4 * 3600)
    finally:
        service.repo.close()
