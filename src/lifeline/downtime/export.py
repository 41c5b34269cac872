"""One report run: the chosen wards, clinics and theatres (or all the record knows), each made into a PDF
and written encrypted to the downtime folder, with the label sheet and the index. Every read is
through `core`, the core acting as the operator or the site (fhir/acting.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lifeline.clock import COPENHAGEN
from lifeline.config import Settings
from lifeline.downtime import labels, pdf, read, reentry, reports, vault
from lifeline.fhir.acting import Acting

LABELS = 24  # identifiers on the sheet: eight rows of three, one A4 page


@dataclass(frozen=True)
class Made:
    """One report written: its file, what it covers, how many patients or appointments."""

    path: Path
    title: str
    count: int


def plan(
    core: Acting, wards: list[str], clinics: list[str], everything: bool, theatres: Sequence[str] = ()
) -> list[tuple[str, dict[str, Any]]]:
    """The (kind, Location) to make, the named ones checked before anything is written."""
    if not (wards or clinics or theatres or everything):
        raise read.DowntimeError("say which reports to make: --ward ID, --clinic ID, --theatre ID or --all")
    chosen = [("ward", read.place(core, w, "ward")) for w in wards]
    chosen += [("clinic", read.place(core, c, "clinic")) for c in clinics]
    chosen += [("theatre", read.place(core, t, "theatre")) for t in theatres]
    if everything:
        named = {loc["id"] for _, loc in chosen}
        chosen += [(read.kind(loc) or "", loc) for loc in read.places(core) if loc["id"] not in named]
    return chosen


def run(
    core: Acting,
    settings: Settings,
    chosen: list[tuple[str, dict[str, Any]]],
    now: datetime,
    on_made: Callable[[Made], None] = lambda made: None,
) -> list[Made]:
    """Make and store each chosen report and the label sheet (its identifiers recorded as issued,
    reentry.py), then the index."""
    key = vault.key_of(settings.downtime_key)
    folder = Path(settings.downtime_dir)
    local = now.astimezone(COPENHAGEN)
    stamp = f"{local:%d.%m.%Y %H:%M}"
    made: list[Made] = []
    for kind, location in chosen:
        name = str(location.get("name") or location["id"])
        if kind == "ward":
            patients = read.census(core, location)
            story, count = reports.ward(name, patients, local.date(), now), len(patients)
        elif kind == "theatre":
            planned = read.theatre_day(core, location, local.date())
            story, count = reports.theatre(name, local.date(), planned), len(planned)
        else:
            booked = read.clinic_day(core, location, local.date())
            story, count = reports.clinic(name, local.date(), booked), len(booked)
        path = vault.store(folder, file_name(kind, location["id"]), key, pdf.render(name, stamp, story))
        made.append(Made(path, name, count))
        on_made(made[-1])
    identifiers = labels.identifiers(settings.node_id, now, LABELS)
    reentry.issue(core.service.repo, settings.node_id, now, identifiers)  # known when re-entered
    title = f"Downtime identifiers, {settings.node_id}"
    sheet = pdf.render(title, stamp, reports.label_sheet(identifiers))
    made.append(Made(vault.store(folder, file_name("labels", settings.node_id), key, sheet), title, LABELS))
    on_made(made[-1])
    titles_file = folder / "titles.json"
    titles = json.loads(titles_file.read_text()) if titles_file.exists() else {}
    titles.update({m.path.name.removesuffix(vault.SUFFIX): m.title for m in made})
    titles_file.write_text(json.dumps(titles, ensure_ascii=False, indent=1))
    vault.write_index(folder, titles, now)
    return made


def file_name(kind: str, id_: str) -> str:
    """A report's file name: its kind and its Location's id, nothing of any patient."""
    return f"{kind}-{re.sub(r'[^A-Za-z0-9.-]', '_', id_)}"
