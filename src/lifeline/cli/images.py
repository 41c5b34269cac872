"""`lifeline images pacs start|stop`, `lifeline images load` and `lifeline images copy`: the image
store (issue 22).

`pacs start` runs Orthanc (Debian's PACS, with its DICOMweb plugin) over a folder, on loopback,
in the background; `make demo` starts it and points LIFELINE_PACS_URL at it. `load` sends a
folder of DICOM (the generator writes one under <region>/dicom) to the PACS by STOW-RS after
checking every file and every study against its ImagingStudy (imaging/load.py); it can be run
again at any time: what the PACS holds whole is skipped. `copy` runs one round of a site's copies
of its patients' recent studies now (imaging/copies.py), read as the operator at this terminal.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lifeline.cli.common import DB_OPTION, as_operator, clear_errors, close_service, console, open_service, settings
from lifeline.errors import Unprocessable
from lifeline.fhir.acting import Exchanged
from lifeline.imaging import load as loading
from lifeline.imaging.copies import ImageCopies
from lifeline.imaging.orthanc import Orthanc
from lifeline.imaging.pacs import Pacs

images_app = typer.Typer(help="The image store (PACS): run one, load DICOM into it.", no_args_is_help=True)
pacs_app = typer.Typer(help="Run Orthanc over a folder, on loopback, for the demo and tests.", no_args_is_help=True)
images_app.add_typer(pacs_app, name="pacs")

FOLDER = typer.Option(Path("var/pacs"), "--folder", help="Where Orthanc keeps its database and files")
PORT = typer.Option(8142, "--port", help="Orthanc's HTTP port on 127.0.0.1")


@pacs_app.command("start")
@clear_errors
def pacs_start(folder: Path = FOLDER, port: int = PORT) -> None:
    """Start Orthanc in the background (nothing happens if it already runs there)."""
    orthanc = Orthanc(folder, port)
    started = orthanc.start()
    state = "started" if started is not None else "already running"
    typer.echo(f"PACS {state}: LIFELINE_PACS_URL={orthanc.url} (files in {folder})")


@pacs_app.command("stop")
@clear_errors
def pacs_stop(folder: Path = FOLDER, port: int = PORT) -> None:
    """Stop the Orthanc that `pacs start` started over this folder."""
    stopped = Orthanc(folder, port).stop()
    typer.echo("PACS stopped" if stopped else f"no PACS was running over {folder}")


@images_app.command("load")
@clear_errors
def images_load(
    folder: Path = typer.Argument(..., help="A folder of DICOM files (the generator's <region>/dicom)"),
    pacs_url: str = typer.Option("", "--pacs", help="The PACS's DICOMweb base [default: LIFELINE_PACS_URL]"),
    db: str = DB_OPTION,
) -> None:
    """Check a folder of DICOM against the record, then send it to the PACS by STOW-RS."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    config = settings(db=db)
    url = pacs_url or config.pacs_url
    if not url.startswith(("http://", "https://")):
        raise Unprocessable("name the PACS: --pacs http://127.0.0.1:8142/dicom-web (or LIFELINE_PACS_URL)")
    pacs = Pacs(url, max(config.pacs_timeout_ms / 1000, 60.0))  # a study of a few hundred MB takes time
    service = open_service(config)
    try:
        operator = as_operator(service)
        total = sum(1 for _ in loading.files_of(folder))
        with _progress() as progress:
            reading = progress.add_task("reading files", total=total)
            found = loading.read_folder(folder, lambda n: progress.advance(reading, n))

        def checked() -> Exchanged:
            problems = loading.check(operator, found)
            uids = sorted(found.studies)
            return Exchanged(problems, query=f"checked {len(uids)} DICOM studies in {folder} for the PACS")

        problems = [*found.problems, *operator.exchange("images-load", checked)]
        if problems:
            for line in problems[: loading.SHOWN_PROBLEMS]:
                console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
            more = len(problems) - loading.SHOWN_PROBLEMS
            if more > 0:
                console.print(f"  … and {more} more", markup=False)
            raise Unprocessable(f"{len(problems)} problem(s) in {folder}; nothing was sent to the PACS")
        with _progress() as progress:
            sending = progress.add_task("studies to the PACS", total=len(found.studies))
            loaded = loading.load(pacs, found, lambda uid, n: progress.advance(sending, 1))
    finally:
        close_service(service)
    typer.echo(
        f"{loaded.stored} studies ({loaded.instances:,} images, {loaded.bytes / 1e6:,.0f} MB) sent to {url};"
        f" {loaded.skipped} already there"
    )


@images_app.command("copy")
@clear_errors
def images_copy(
    pacs_url: str = typer.Option("", "--pacs", help="The region's PACS [default: LIFELINE_PACS_URL]"),
    site_pacs_url: str = typer.Option("", "--site-pacs", help="This site's own PACS [default: LIFELINE_SITE_PACS_URL]"),
    db: str = DB_OPTION,
) -> None:
    """One round of a site's copies of its patients' recent studies, now (the node does one a minute)."""
    overrides = {"pacs_url": pacs_url or None, "site_pacs_url": site_pacs_url or None}
    config = settings(db=db, **{name: value for name, value in overrides.items() if value})
    for url, option, env in ((config.pacs_url, "--pacs", "LIFELINE_PACS_URL"),
                             (config.site_pacs_url, "--site-pacs", "LIFELINE_SITE_PACS_URL")):  # fmt: skip
        if not url.startswith(("http://", "https://")):
            raise Unprocessable(f"name both image stores: {option} http://127.0.0.1:8142/dicom-web (or {env})")
    service = open_service(config)
    try:
        done = ImageCopies(service, config).copy_once(as_operator(service))
    finally:
        close_service(service)
    for uid in done.copied:
        typer.echo(f"copied {uid}")
    for uid in done.failed:
        typer.echo(f"failed {uid}")
    typer.echo(done.summary())


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
