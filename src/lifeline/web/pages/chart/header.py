"""The chart's header: who the patient is (name, CPR, age, sex), what must never be missed
(allergies with their severity; deceased, name and address protection, isolation and other flags),
where they are now (the current stay: ward and bed) and who treats them. Built from resources the
core returned to the clinician; nothing here reads anything itself."""

from __future__ import annotations

from datetime import date
from typing import Any

from lifeline.cpr import CPR_SYSTEM, format_cpr
from lifeline.web.pages.chart import words

CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
# SNOMED CT's "no known allergy" findings: a record that says so, not merely an empty list.
NO_KNOWN_ALLERGY = frozenset({"716186003", "409137002", "428607008", "429625007", "428197003"})
INACTIVE_ALLERGY = frozenset({"inactive", "resolved"})
NOT_AN_ALLERGY = frozenset({"refuted", "entered-in-error"})
SEVERITY_ORDER = {"severe": 3, "moderate": 2, "mild": 1}
CRITICALITY_ORDER = {"high": 3, "unable-to-assess": 2, "low": 1}


def person(patient: dict[str, Any], today: date, language: str) -> dict[str, Any]:
    born = patient.get("birthDate")
    deceased = patient.get("deceasedDateTime")
    died = words.when(deceased, language) if deceased else None
    shown: dict[str, Any] = {
        "id": patient.get("id"),
        "name": name(patient),
        "cpr": cpr(patient),
        "sex": patient.get("gender") or "unknown",
        "birthDate": words.when(born, language),
        "age": None,
        "deceased": bool(deceased or patient.get("deceasedBoolean")),
        "died": died,
    }
    if born and len(born) == 10:
        on = today
        if deceased and len(deceased) >= 10:
            on = date.fromisoformat(deceased[:10])  # the age they reached
        shown["age"] = words.age(date.fromisoformat(born), on)
    return shown


def name(patient: dict[str, Any]) -> str:
    names = patient.get("name") or []
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    if chosen.get("text"):
        return str(chosen["text"])
    return " ".join([*chosen.get("given", []), chosen.get("family", "")]).strip()


def cpr(patient: dict[str, Any]) -> str | None:
    for identifier in patient.get("identifier") or []:
        if identifier.get("system") == CPR_SYSTEM and identifier.get("value"):
            value = str(identifier["value"])
            try:
                return format_cpr(value)
            except ValueError:
                return value  # shown as recorded: a wrong number is still the one on file
    return None


def allergies(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The patient's allergies and intolerances, the most dangerous first; whether the record
    says there are none ("none-known") or merely holds none ("none-recorded")."""
    items: list[dict[str, Any]] = []
    none_known = False
    for allergy in resources:
        status = set(words.codes(allergy.get("clinicalStatus")))
        verification = set(words.codes(allergy.get("verificationStatus")))
        if status & INACTIVE_ALLERGY or verification & NOT_AN_ALLERGY:
            continue
        if set(words.codes(allergy.get("code"))) & NO_KNOWN_ALLERGY:
            none_known = True
            continue
        reactions = allergy.get("reaction") or []
        severities = [r["severity"] for r in reactions if r.get("severity") in SEVERITY_ORDER]
        items.append(
            {
                "substance": words.concept(allergy.get("code")) or "?",
                "type": allergy.get("type"),  # allergy | intolerance
                "criticality": allergy.get("criticality"),  # low | high | unable-to-assess
                "severity": max(severities, key=SEVERITY_ORDER.__getitem__) if severities else None,
                "reactions": sorted({words.concept(m) for r in reactions for m in r.get("manifestation") or []} - {""}),
                "unconfirmed": "unconfirmed" in verification,
            }
        )
    items.sort(key=lambda a: (-CRITICALITY_ORDER.get(a["criticality"] or "", 0), a["substance"].lower()))
    said = "recorded" if items else "none-known" if none_known else "none-recorded"
    return {"status": said, "items": items}


def flags(patient: dict[str, Any], recorded: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """What the header warns of: deceased, name and address protection (the restricted label,
    access/redact.py), and each active Flag (isolation and the like) in its own words."""
    shown: list[dict[str, Any]] = []
    if patient.get("deceasedDateTime") or patient.get("deceasedBoolean"):
        shown.append({"kind": "deceased", "text": "", "since": words.when(patient.get("deceasedDateTime"), language)})
    labels = (patient.get("meta") or {}).get("security") or []
    if any(s.get("system") == CONFIDENTIALITY and s.get("code") in ("R", "V") for s in labels):
        shown.append({"kind": "protected", "text": "", "since": None})
    for flag in recorded:
        text = words.concept(flag.get("code"))
        kind = "isolation" if "isol" in text.lower() else "flag"
        since = words.when((flag.get("period") or {}).get("start"), language)
        shown.append({"kind": kind, "text": text, "since": since})
    return shown


def stay(encounters: list[dict[str, Any]], included: dict[str, dict[str, Any]], language: str) -> dict[str, Any] | None:
    """The current stay: the in-progress encounter begun last (an admission before a visit), its
    ward and bed from its locations, its department from the service provider."""
    if not encounters:
        return None

    def rank(encounter: dict[str, Any]) -> tuple[int, str]:
        inpatient = (encounter.get("class") or {}).get("code") == "IMP"
        return (1 if inpatient else 0, (encounter.get("period") or {}).get("start", ""))

    encounter = max(encounters, key=rank)
    ward = bed = room = None
    for place in encounter.get("location") or []:
        if place.get("status") not in (None, "active", "planned", "reserved"):
            continue
        reference = (place.get("location") or {}).get("reference", "")
        location = included.get(reference, {})
        label = location.get("name") or (place.get("location") or {}).get("display")
        kind = words.coded(location.get("physicalType"), PHYSICAL_TYPE)
        if kind == "bd":
            # A bed's name repeats its ward's ("Seng 1, Kardiologisk Afdeling, …"): its first part says it.
            bed = str(label).split(",")[0] if label else None
        elif kind == "ro":
            room = str(label).split(",")[0] if label else None
        elif label and ward is None:
            ward = str(label)
    provider = encounter.get("serviceProvider") or {}
    department = included.get(provider.get("reference", ""), {}).get("name") or provider.get("display")
    return {
        "encounter": encounter.get("id"),
        "class": (encounter.get("class") or {}).get("code"),
        "kind": words.concept((encounter.get("type") or [{}])[0]) or (encounter.get("class") or {}).get("display"),
        "ward": ward or department,
        "room": room,
        "bed": bed,
        "bedNamed": bed is not None and any(c.isalpha() for c in bed),  # "Seng 3" says it; "12" needs "Bed"
        "department": department,
        "since": words.when((encounter.get("period") or {}).get("start"), language),
    }


def team(care_teams: list[dict[str, Any]], encounters: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Who treats the patient: the active care teams' members, then the current encounters'
    participants, each person once."""
    members: list[dict[str, str]] = []
    seen: set[str] = set()

    def add(actor: dict[str, Any] | None, roles: list[dict[str, Any]] | None) -> None:
        person = (actor or {}).get("display") or (actor or {}).get("reference")
        if not person or person in seen:
            return
        seen.add(person)
        members.append({"name": str(person), "role": ", ".join(r for r in map(words.concept, roles or []) if r)})

    for care_team in care_teams:
        for participant in care_team.get("participant") or []:
            add(participant.get("member"), participant.get("role"))
    for encounter in encounters:
        for participant in encounter.get("participant") or []:
            add(participant.get("individual"), participant.get("type"))
    return members
