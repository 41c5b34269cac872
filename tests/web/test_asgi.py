"""A `lifeline serve` worker's app (web/asgi.py `app_of`): its definitions are built before the
first request, and what lives as long as the worker is out of the cycle collector's way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_WORKER = """
import gc, sys
from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository
from lifeline.web.asgi import app_of

repo = open_repository(sys.argv[1])
repo.migrate()
service = FhirService(repo, Settings(db=sys.argv[1], kek=new_kek()))
frozen_before = gc.get_freeze_count()
app_of(service)
print(frozen_before, gc.get_freeze_count(), "validator" in service.__dict__, "registry" in service.__dict__)
"""


def test_a_workers_long_lived_objects_are_frozen_once_its_app_is_built(tmp_path: Path) -> None:
    # In a process of its own, as each worker is: freezing this test process would keep its garbage.
    url = f"sqlite:///{tmp_path / 'lifeline.db'}"
    out = subprocess.run([sys.executable, "-c", _WORKER, url], capture_output=True, text=True, timeout=120, check=True)
    before, after, validator, registry = out.stdout.split()
    assert (before, validator, registry) == ("0", "True", "True")
    assert int(after) > 50_000  # the definitions alone are more than that
