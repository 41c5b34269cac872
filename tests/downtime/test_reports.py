"""Downtime reports (downtime/, issue 23) on both backends: a ward's census and each patient's
allergies, medication, vital signs, results and orders as the record holds them; a clinic's day;
the label sheet's identifiers; the encrypted files, the previous generation and the index; a
wrong key refused; the first page rendered by poppler; the run on the audit trail as the
operator's reads."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from lifeline.audit.store import events_after
from lifeline.clock import COPENHAGEN
from lifeline.downtime import export, labels, read, vault
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from tests.downtime.helpers import KEY, Clinic, Ward, admitted_patient, clinic, pdf_text, theatre, ward_of
from tests.web.pages.test_chart import location, put

NOW = datetime(2026, 11, 22, 11, 15, tzinfo=COPENHAGEN)


@pytest.fixture
def ward(service: FhirService) -> Ward:
    return admitted_patient(service)


@pytest.fixture
def outpatients(service: FhirService) -> Clinic:
    return clinic(service)


def operator(service: FhirService, name: str = "operator:nurse-it"):  # type: ignore[no-untyped-def]
    return service.as_user(replace(OPERATOR, subject=name), None, "HOPERAT")


def make(service: FhirService, folder: Path, wards: list[str], clinics: list[str], who: str = "operator:nurse-it",  # type: ignore[no-untyped-def]
         theatres: tuple[str, ...] = ()):  # fmt: skip
    settings = replace(service.settings, downtime_dir=str(folder), downtime_key=KEY, node_id="herlev")
    core = operator(service, who)
    return export.run(core, settings, export.plan(core, wards, clinics, False, theatres), NOW)


def test_a_wards_report_holds_the_census_and_each_patients_record(
    service: FhirService, ward: Ward, tmp_path: Path
) -> None:
    made = make(service, tmp_path, [ward_of(ward)], [])
    report = tmp_path / "current" / f"ward-{ward_of(ward)}.pdf.enc"
    assert made[0].path == report and made[0].count == 1
    assert not report.read_bytes().startswith(b"%PDF")  # encrypted at rest
    text = pdf_text(report)
    assert f"Sengeafsnit K{ward.tag}" in text
    assert "DOWNTIME COPY — valid as of 22.11.2026 11:15" in text and "Page 1 of" in text
    # The census: bed, name, CPR, age, sex, admitted since.
    assert "Seng 7" in text and "Karen Sørensen" in text and "250758-2065" in text
    assert "68 y" in text and "20.11.2026 08:00" in text
    # Allergies with severity; active medication with dose, the stopped one not.
    assert "Penicillin" in text and "SEVERE" in text and "Urticaria" in text
    assert "Apixaban" in text and "5 mg 2 gange dagligt" in text
    assert "Metoprolol" in text and "50 mg, once per day" in text and "as prescribed" in text
    assert "Ibuprofen" not in text
    # The newest pulse only; the abnormal results first; the open order.
    assert "71 /min" in text and "88 /min" not in text
    assert "Kalium" in text and "5,9 mmol/L" in text and "Hæmoglobin" in text
    assert text.index("Kalium") < text.index("Natrium") and "HIGH" in text and "LOW" in text
    assert "Ablation" in text and "10.12.2026 08:00" in text
    # A patient of another ward is not on it.
    assert ward.theirs_name not in text


def test_a_clinics_report_holds_todays_appointments(service: FhirService, outpatients: Clinic, tmp_path: Path) -> None:
    made = make(service, tmp_path, [], [outpatients.id])
    text = pdf_text(made[0].path)
    assert outpatients.name in text
    assert "10:30" in text and "Jens Holm" in text and "010170-1235" in text
    assert "Ambulant kontrol, atrieflimren" in text and "+45 20 30 40 50" in text
    assert "Næste dags tid" not in text


def test_a_theatres_report_holds_todays_planned_operations(service: FhirService, tmp_path: Path) -> None:
    planned = theatre(service)
    made = make(service, tmp_path, [], [], theatres=(planned.id,))
    assert made[0].path == tmp_path / "current" / f"theatre-{planned.id}.pdf.enc" and made[0].count == 1
    text = pdf_text(made[0].path)
    assert planned.name in text and "Planned operations 22.11.2026: 1" in text
    assert "13:00–14:00" in text and "Birthe Lund" in text and "120354-1238" in text and "+45 31 41 59 26" in text, text
    assert "Appendektomi" in text and "Urgent" in text and "Per Kirurg" in text
    assert "08:00" not in text  # tomorrow's is not on today's list
    everything = {loc["id"]: kind for kind, loc in export.plan(operator(service), [], [], True)}
    assert everything[planned.id] == "theatre"
    index = (tmp_path / "index.html").read_text()
    assert f"current/theatre-{planned.id}.pdf.enc" in index and planned.name in index and "Birthe" not in index


def test_the_label_sheet_has_unique_identifiers_with_valid_check_digits(
    service: FhirService, ward: Ward, tmp_path: Path
) -> None:
    made = make(service, tmp_path, [ward_of(ward)], [])
    sheet = made[-1].path
    assert sheet.name == "labels-herlev.pdf.enc"
    found = [word for word in pdf_text(sheet).split() if word.startswith("DT-")]
    assert len(found) == export.LABELS == len(set(found))
    assert all(labels.valid(i) and i.startswith("DT-HERLEV-20261122-1115") for i in found), found
    broken = found[0][:-1] + str((int(found[0][-1]) + 1) % 10)
    assert not labels.valid(broken)


def test_the_previous_generation_is_kept_and_the_index_holds_no_patient_data(
    service: FhirService, ward: Ward, tmp_path: Path
) -> None:
    first = make(service, tmp_path, [ward_of(ward)], [])[0].path.read_bytes()
    make(service, tmp_path, [ward_of(ward)], [])
    name = f"ward-{ward_of(ward)}.pdf.enc"
    assert (tmp_path / "previous" / name).read_bytes() == first
    assert (tmp_path / "current" / name).read_bytes() != first
    index = (tmp_path / "index.html").read_text()
    assert f"current/{name}" in index and f"previous/{name}" in index and f"Sengeafsnit K{ward.tag}" in index
    assert "Karen" not in index and "250758" not in index and "lifeline downtime decrypt" in index


def test_a_wrong_key_or_a_damaged_file_is_refused(service: FhirService, ward: Ward, tmp_path: Path) -> None:
    report = make(service, tmp_path, [ward_of(ward)], [])[0].path
    with pytest.raises(read.DowntimeError, match="wrong key"):
        pdf_text(report, vault.new_key())
    damaged = bytearray(report.read_bytes())
    damaged[-1] ^= 1
    with pytest.raises(read.DowntimeError, match="wrong key .* or a damaged file"):
        vault.decrypt(vault.key_of(KEY), bytes(damaged))
    with pytest.raises(read.DowntimeError, match="not a Lifeline downtime file"):
        vault.decrypt(vault.key_of(KEY), b"%PDF-1.4 plain")
    for bad in ("", "not base64!", "c2hvcnQ="):
        with pytest.raises(read.DowntimeError, match="LIFELINE_DOWNTIME_KEY"):
            vault.key_of(bad)


def test_a_ward_or_clinic_that_is_not_one_is_refused(service: FhirService, ward: Ward, outpatients: Clinic) -> None:
    core = operator(service)
    with pytest.raises(read.DowntimeError, match="no Location 'nowhere'"):
        export.plan(core, ["nowhere"], [], False)
    with pytest.raises(read.DowntimeError, match="is not a ward"):
        export.plan(core, [outpatients.id], [], False)
    with pytest.raises(read.DowntimeError, match="is not a theatre"):
        export.plan(core, [], [], False, [outpatients.id])
    with pytest.raises(read.DowntimeError, match="--ward ID, --clinic ID, --theatre ID or --all"):
        export.plan(core, [], [], False)
    everything = {loc["id"]: kind for kind, loc in export.plan(core, [], [], True)}
    assert everything[ward_of(ward)] == "ward" and everything[outpatients.id] == "clinic"
    assert f"bed-{ward.tag}" not in everything


def test_the_run_is_on_the_audit_trail_as_the_operators_reads(service: FhirService, ward: Ward, tmp_path: Path) -> None:
    who = f"operator:audit-{ward.tag}"
    make(service, tmp_path, [ward_of(ward)], [], who=who)
    events = [orjson.loads(r.content) for r in events_after(service.repo, service.settings.node_id, 0, 1_000_000)]
    mine = [e for e in events if any(a.get("altId") == who for a in e["agent"])]
    about = [
        e
        for e in mine
        if any(x.get("what", {}).get("reference") == f"Patient/{ward.mine}" for x in e.get("entity", []))
    ]
    assert len(about) >= 5, len(mine)  # the census, allergies, medication, vital signs, results, orders
    assert all(e["outcome"] == "0" for e in about)


def test_the_first_page_renders(service: FhirService, ward: Ward, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI"):
            pytest.fail("pdftoppm (poppler-utils) is required in CI: make browser installs it")
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    report = make(service, tmp_path, [ward_of(ward)], [])[0].path
    plain = tmp_path / "ward.pdf"
    plain.write_bytes(vault.decrypt(vault.key_of(KEY), report.read_bytes()))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(plain), str(tmp_path / "page")], check=True
    )
    page = next(tmp_path.glob("page*.png"))
    assert page.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and page.stat().st_size > 5000


def test_every_ward_is_found_however_many_locations_the_region_holds(
    service: FhirService, ward: Ward, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A region holds thousands of Locations (beds, rooms, theatres): the wards are found on every
    page of them, not only the first (with pages of two here, the ward is never on the first)."""
    more = [f"more-{ward.tag}-{n}" for n in range(3)]
    for id_ in more:
        put(service, location(id_, f"Sengeafsnit {id_}", "wa"))
    monkeypatch.setattr(read, "MOST", 2)
    found = {loc["id"] for loc in read.places(operator(service))}
    assert {ward_of(ward), *more} <= found  # five wards at least: three pages of two
    monkeypatch.setattr(read, "MOST", 1000)
    assert found == {loc["id"] for loc in read.places(operator(service))}
