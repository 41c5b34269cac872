"""The official FHIR R4 examples (the `hl7.fhir.r4.examples` package, 5,306 resources nobody on the
project wrote), fetched once from the npm registry and kept, and each judged through the core:
written as it is (PUT by its id), refused as invalid, or broken, and what was stored read back and
compared with what was sent, in value and in precision.

Used by tests/fhir/test_official_examples.py (a representative part, on both backends, in `make
test`) and bench/r4_examples.py (all of them, with the counts, in `make bench`).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lifeline import jsontext
from lifeline.errors import FhirError
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR

PACKAGE = "https://registry.npmjs.org/hl7.fhir.r4.examples/-/hl7.fhir.r4.examples-4.0.1.tgz"
SHA1 = "537ea7db3f3c7b3575fe2eaa7808bad21261cca3"  # the registry's shasum of that tarball
CACHE = Path(os.environ.get("LIFELINE_CACHE", Path.home() / ".cache" / "lifeline")) / "hl7.fhir.r4.examples-4.0.1"
NOT_EXAMPLES = frozenset({"package.json", ".index.json"})


def examples() -> list[Path]:
    """The example files, fetched and unpacked once (checked against the registry's checksum)."""
    if not (CACHE / "done").exists():
        tarball = httpx.get(PACKAGE, timeout=120, follow_redirects=True).raise_for_status().content
        if hashlib.sha1(tarball).hexdigest() != SHA1:  # noqa: S324 - the registry publishes SHA-1
            raise RuntimeError(f"{PACKAGE} does not have the checksum the registry gives")
        CACHE.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
            for member in archive.getmembers():
                name = Path(member.name).name
                if member.isfile() and name.endswith(".json") and name not in NOT_EXAMPLES:
                    extracted = archive.extractfile(member)
                    assert extracted is not None
                    (CACHE / name).write_bytes(extracted.read())
        (CACHE / "done").write_text(SHA1)
    return sorted(p for p in CACHE.glob("*.json"))


@dataclass(frozen=True)
class Judged:
    name: str
    kind: str  # stored | refused (the server called it invalid: 4xx) | broken (5xx or an exception)
    equal: bool = False  # stored, and read back equal in value and precision
    detail: str = ""


def judge(service: FhirService, path: Path, backend: str) -> Judged:
    """Write one example through the core as the operator and read it back."""
    sent = jsontext.loads(path.read_bytes())
    res_type, res_id = sent.get("resourceType"), sent.get("id")
    body = jsontext.loads(path.read_bytes())  # the core may tidy what it is given: compare with `sent`
    request = (
        FhirRequest("update", res_type, res_id, body=body, principal=OPERATOR)
        if res_id
        else FhirRequest("create", res_type, body=body, principal=OPERATOR)
    )
    try:
        written = service.handle(request)
        location = written.location or ""
        stored_id = res_id or location.split(f"/{res_type}/", 1)[1].split("/", 1)[0]
        read = service.handle(FhirRequest("read", res_type, stored_id, principal=OPERATOR))
    except FhirError as error:
        kind = "refused" if 400 <= error.status < 500 else "broken"
        return Judged(path.name, kind, detail=f"{error.status}: {error.message}"[:300])
    except Exception as error:  # noqa: BLE001 - a broken example is counted, never hidden
        return Judged(path.name, "broken", detail=f"{type(error).__name__}: {error}"[:300])
    back = jsontext.loads(read.raw) if read.raw is not None else read.resource
    difference = _difference(_comparable(sent), _comparable(back), res_type or "")
    return Judged(path.name, "stored", difference is None, difference or "")


def _comparable(value: Any) -> Any:
    """A resource as compared: the server's own meta left out, each decimal as the text it was written
    as, which both backends keep (PostgreSQL since migration 20; as JSONB it wrote exponents out)."""
    if isinstance(value, dict):
        out = {k: _comparable(v) for k, v in value.items()}
        if isinstance(out.get("meta"), dict):
            meta = {k: v for k, v in out["meta"].items() if k not in ("versionId", "lastUpdated")}
            if meta:
                out["meta"] = meta
            else:
                del out["meta"]
        return out
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if type(value) is jsontext.Decimal:
        return ("decimal", value.text)
    if type(value) is float:  # noqa: E721 - a float is no decimal as written: say so
        return ("float", repr(value))
    return value


def _difference(sent: Any, back: Any, where: str) -> str | None:
    """Where the two first differ, or None."""
    if isinstance(sent, dict) and isinstance(back, dict):
        for key in sorted(set(sent) | set(back)):
            if key == "id" and key not in sent:
                continue  # the id the server gave a resource sent without one
            if key not in back or key not in sent:
                return f"{where}.{key}: {'missing' if key not in back else 'added'}"
            found = _difference(sent[key], back[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(sent, list) and isinstance(back, list):
        if len(sent) != len(back):
            return f"{where}: {len(sent)} items sent, {len(back)} back"
        for i, (a, b) in enumerate(zip(sent, back, strict=True)):
            found = _difference(a, b, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if sent == back else f"{where}: sent {sent!r}, back {back!r}"[:300]
