"""`lifeline demo citizen-provider start|stop`: the demo region's patient login (issue 25).

`start` runs the demo's OpenID Connect provider on loopback in the background (demo/citizen_provider.py)
with demo citizens whose CPR numbers are those of generated patients: a mother of a newborn (the
family the generator makes, generate/grid.py `family_role`), adults with a clinic appointment,
a stay on a ward or an operation (`grid_role`), and one with a scan whose report the portal shows
(past its hold, with the scan's images in the demo PACS), read from the record as the operator at this
terminal, so the choice is on the audit trail. It prints how to log in as each. `make demo` runs
it before `lifeline serve`, and serves with the LIFELINE_CITIZEN_* settings it prints.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import orjson
import typer

from lifeline import jsontext
from lifeline.cli.common import as_operator, clear_errors, close_service, open_service, settings
from lifeline.clock import today
from lifeline.demo import citizen_provider
from lifeline.demo.citizen_provider import DemoCitizen
from lifeline.errors import FhirError
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.generate.grid import family_role, grid_role
from lifeline.generate.ids import keyed_id
from lifeline.web.pages.chart.header import cpr as shown_cpr
from lifeline.web.pages.chart.header import name as name_of

demo_app = typer.Typer(help="The demo region's extras.", no_args_is_help=True)
provider_app = typer.Typer(help="The demo's citizen identity provider (patient login).", no_args_is_help=True)
demo_app.add_typer(provider_app, name="citizen-provider")

FOLDER = typer.Option(Path("var"), "--folder", help="Where its pid file and log go")
PORT = typer.Option(citizen_provider.PORT, "--port", help="Its HTTP port on 127.0.0.1")
SEED = typer.Option(1, "--seed", help="The generator's seed of the demo region (make demo: 1)")
# The generated patients tried, in order: a mother (8; 7 is her baby), then adults of the grid.
CANDIDATES = (8, 1, 3, 6, 9, 17, 19, 22, 25)
ADULTS = 2  # besides the mother
ABOUT = {
    "mother": "a mother: her newborn's record names her as its parent",
    "clinic": "a clinic appointment in the demo days",
    "bed": "admitted to a ward",
    "theatre": "an operation in the demo days",
    "scan": "a scan with the radiologist's report and its images (Scans and reports)",
}
GENERATED_MOST = 2000  # generated patients a scan's patient is looked for among (make demo: about 200)
SCAN_AGE = timedelta(days=8)  # a report this old is past the portal's 7-day hold of imaging results
RADIOLOGY = "http://terminology.hl7.org/CodeSystem/v2-0074|RAD"


def _adult(patient: dict[str, object], on: date) -> bool:
    born = str(patient.get("birthDate") or "")
    if len(born) != 10 or patient.get("deceasedBoolean") or patient.get("deceasedDateTime"):
        return False
    birth = date.fromisoformat(born)
    return (on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))) >= 18


def demo_citizens(core: Acting, seed: int, on: date) -> list[DemoCitizen]:
    """The demo citizens: generated patients found in the record, each with their CPR number."""
    mothers: list[DemoCitizen] = []
    adults: list[DemoCitizen] = []
    for index in CANDIDATES:
        try:
            answer = core.handle(FhirRequest("read", "Patient", keyed_id(seed, "Patient", index)))
        except FhirError:
            continue  # not generated (a smaller region) or not imported
        patient = orjson.loads(answer.raw) if answer.raw is not None else dict(answer.resource or {})
        number = (shown_cpr(patient) or "").replace("-", "")
        role = family_role(index, 10**6) or (grid_role(index, 10**6) or ("", 0))[0]
        if not number or not _adult(patient, on):
            continue
        name = name_of(patient)
        subject = "-".join(name.lower().split()[:1] + [str(index)])
        (mothers if role == "mother" else adults).append(DemoCitizen(subject, number, name, ABOUT.get(role, "")))
    chosen = [*mothers[:1], *adults[:ADULTS]]
    scanned = _scanned(core, seed, on, {c.cpr for c in chosen})
    return [*chosen, *([scanned] if scanned else [])]


def _scanned(core: Acting, seed: int, on: date, taken: set[str]) -> DemoCitizen | None:
    """An adult generated patient with a radiologist's report the portal already shows (the newest
    past the hold), so that a demo citizen sees Scans and reports with images."""
    generated = {keyed_id(seed, "Patient", index): index for index in range(GENERATED_MOST)}
    params = [("category", RADIOLOGY), ("issued", f"lt{(on - SCAN_AGE).isoformat()}"), ("_sort", "-issued"),
              ("_count", "200")]  # fmt: skip
    answer = core.handle(FhirRequest("search", "DiagnosticReport", params=params))
    bundle = orjson.loads(jsontext.dumps(answer.resource or {}))
    for entry in bundle.get("entry") or []:
        reference = str(((entry.get("resource") or {}).get("subject") or {}).get("reference") or "")
        patient_id = reference.removeprefix("Patient/")
        if patient_id not in generated:
            continue
        read = core.handle(FhirRequest("read", "Patient", patient_id))
        patient = orjson.loads(read.raw) if read.raw is not None else dict(read.resource or {})
        number = (shown_cpr(patient) or "").replace("-", "")
        if number and number not in taken and _adult(patient, on):
            name = name_of(patient)
            subject = "-".join(name.lower().split()[:1] + [str(generated[patient_id])])
            return DemoCitizen(subject, number, name, ABOUT["scan"])
    return None


@provider_app.command("start")
@clear_errors
def provider_start(folder: Path = FOLDER, port: int = PORT, seed: int = SEED) -> None:
    """Start the provider in the background (or find it running) and give it the demo citizens."""
    config = settings()
    service = open_service(config)
    try:
        citizens = demo_citizens(as_operator(service, "PATRQT"), seed, today(service.clock))
    finally:
        close_service(service)
    started = citizen_provider.start(citizens, folder, port)
    issuer = citizen_provider.issuer(port)
    state = "started" if started is not None else "already running"
    typer.echo(f"Citizen login (MitID stand-in) {state} at {issuer}")
    if not citizens:
        typer.echo("  no demo patients found: generate and import the demo region first (make demo does)")
    typer.echo("Patients log in at http://127.0.0.1:8080/login, 'Log in with MitID', then press (or type) their name:")
    for citizen in citizens:
        typer.echo(f"  {citizen.subject:<16} {citizen.name}, CPR {citizen.cpr[:6]}-{citizen.cpr[6:]}: {citizen.about}")


@provider_app.command("stop")
@clear_errors
def provider_stop(folder: Path = FOLDER) -> None:
    """Stop the provider that `start` started."""
    typer.echo("citizen provider stopped" if citizen_provider.stop(folder) else "no citizen provider was running")
