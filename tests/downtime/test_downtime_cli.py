"""`lifeline downtime export|key|decrypt` (cli/downtime.py) on both backends: the documented way
to make the reports and to read one on the downtime PC; every mistake one clear line, exit 1."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from lifeline.cli.main import app
from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository
from tests.conftest import BACKENDS, database_url, dispose
from tests.downtime.helpers import KEY, Ward, admitted_patient, clinic, ward_of

KEK = new_kek()


@pytest.fixture(params=BACKENDS)
def region(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Ward, str]]:
    """A database with a ward and a clinic in it."""
    url = database_url(request.param, tmp_path)
    repo = open_repository(url)
    repo.migrate()
    service = FhirService(repo, Settings(db=url, kek=KEK))
    ward, outpatients = admitted_patient(service), clinic(service)
    yield url, ward, outpatients.id
    dispose(repo)


def lifeline(*args: str, ok: bool = True, key: str = KEY) -> str:
    result = CliRunner().invoke(app, list(args), env={"LIFELINE_KEK": KEK, "LIFELINE_DOWNTIME_KEY": key})
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def test_export_then_decrypt_with_the_documented_command(region: tuple[str, Ward, str], tmp_path: Path) -> None:
    url, ward, clinic_id = region
    out = tmp_path / "downtime"
    said = lifeline(
        "downtime", "export", "--ward", ward_of(ward), "--clinic", clinic_id, "--db", url, "--dir", str(out)
    )
    assert "3 downtime reports written" in said
    names = sorted(p.name for p in (out / "current").iterdir())
    assert names == sorted([f"clinic-{clinic_id}.pdf.enc", "labels-central.pdf.enc", f"ward-{ward_of(ward)}.pdf.enc"])
    pdf = tmp_path / "ward.pdf"
    lifeline("downtime", "decrypt", str(out / "current" / f"ward-{ward_of(ward)}.pdf.enc"), "--out", str(pdf))
    text = "\n".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "Karen Sørensen" in text and "Penicillin" in text and "Apixaban" in text
    assert (out / "index.html").exists()
    everything = lifeline("downtime", "export", "--all", "--db", url, "--dir", str(out))
    assert "downtime reports written" in everything


def test_key_prints_a_new_32_byte_key() -> None:
    first, second = lifeline("downtime", "key").strip(), lifeline("downtime", "key").strip()
    assert len(base64.b64decode(first)) == 32 and first != second


def test_mistakes_are_one_clear_line(region: tuple[str, Ward, str], tmp_path: Path) -> None:
    url, ward, clinic_id = region
    out = tmp_path / "downtime"

    def refused(*args: str, key: str = KEY) -> str:
        said = lifeline("downtime", *args, ok=False, key=key)
        assert "Traceback" not in said and said.strip().count("\n") == 0, said
        return said

    assert "--ward ID, --clinic ID, --theatre ID or --all" in refused("export", "--db", url, "--dir", str(out))
    assert "no Location 'nowhere'" in refused("export", "--ward", "nowhere", "--db", url, "--dir", str(out))
    assert "is not a ward" in refused("export", "--ward", clinic_id, "--db", url, "--dir", str(out))
    assert "no downtime key" in refused("export", "--all", "--db", url, "--dir", str(out), key="")
    lifeline("downtime", "export", "--ward", ward_of(ward), "--db", url, "--dir", str(out))
    sealed = str(out / "current" / f"ward-{ward_of(ward)}.pdf.enc")
    other = base64.b64encode(bytes(32)).decode()
    assert "wrong key" in refused("decrypt", sealed, "--out", str(tmp_path / "x.pdf"), key=other)
    assert not (tmp_path / "x.pdf").exists()
    assert "No such file" in refused("decrypt", str(tmp_path / "missing.enc"), "--out", str(tmp_path / "x.pdf"))
