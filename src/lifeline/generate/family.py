"""Newborns and their mothers: patient 100k+7 is a baby born in the last ten months, patient
100k+8 its mother. Both charts draw the shared facts (the mother, the birth) from one stream of
their own, so each chart can be made alone and still point at the other: the baby's birth
Encounter is part of the mother's delivery Encounter, and the mother's Patient links to the
RelatedPerson that represents her in the baby's chart."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass

from lifeline.generate.chart import Chart, Context
from lifeline.generate.codes import CPR, LOINC, OBS_CATEGORY, ROLE_CODE, concept, quantity, ref
from lifeline.generate.conditions import NEWBORN
from lifeline.generate.days import date_text
from lifeline.generate.documents import note
from lifeline.generate.encounters import add_condition, condition, encounter, procedure
from lifeline.generate.ids import keyed_id
from lifeline.generate.labs import lab_panel, vital_signs
from lifeline.generate.people import Person, birth_day, draw_municipality, draw_person
from lifeline.generate.region import Department


@dataclass
class Birth:
    mother: Person
    born: datetime.date
    caesarean: bool
    delivery_id: str  # the mother's delivery Encounter
    mother_id: str  # the RelatedPerson in the baby's chart that is the mother


def birth(context: Context, newborn_index: int) -> Birth:
    rng = random.Random(f"{context.seed}:birth:{newborn_index}")
    municipality = draw_municipality(rng)
    mother = draw_person(rng, False, birth_day(rng, rng.randint(21, 41), context.today), municipality)
    born = datetime.date.fromordinal(context.today - rng.randint(1, 300))
    if (born.month, born.day) == (1, 1):
        born -= datetime.timedelta(days=1)
    return Birth(
        mother,
        born,
        rng.random() < 0.2,
        keyed_id(context.seed, "Encounter", "delivery", newborn_index),
        keyed_id(context.seed, "RelatedPerson", "mother", newborn_index),
    )


def delivery_ward(chart: Chart) -> Department:
    return chart.site_department("gyn")


def newborn_person(chart: Chart, facts: Birth) -> Person:
    mother = facts.mother
    baby = draw_person(chart.rng, chart.rng.random() < 0.51, facts.born, mother.municipality, family=mother.family)
    baby.postcode, baby.city, baby.street, baby.protected = (
        mother.postcode,
        mother.city,
        mother.street,
        mother.protected,
    )
    return baby


def newborn_chart(chart: Chart, facts: Birth) -> None:
    """The baby's birth stay, part of the mother's delivery, and the mother as a RelatedPerson."""
    mother = facts.mother
    chart.add(
        {
            "resourceType": "RelatedPerson",
            "active": True,
            "patient": chart.subject,
            "relationship": [concept(ROLE_CODE, "MTH", "mother", "Mor")],
            "identifier": [{"use": "official", "system": CPR, "value": mother.cpr}],
            "name": [{"use": "official", "text": mother.name, "family": mother.family, "given": mother.given}],
            "gender": "female",
            "birthDate": mother.born.isoformat(),
        },
        facts.mother_id,
    )
    day = facts.born.toordinal()
    minute = chart.rng.randrange(24 * 60)
    stay = chart.rng.randint(1, 3) * 24 * 60
    visit = encounter(chart, "IMP", delivery_ward(chart), day, minute, stay, part_of=facts.delivery_id)
    add_condition(chart, NEWBORN, False, day, day, visit, day)
    vital_signs(chart, visit, minute + 30, full=True)
    chart.add(
        {
            "resourceType": "Observation",
            "status": "final",
            "category": [concept(OBS_CATEGORY, "vital-signs", "Vital Signs")],
            "code": concept(LOINC, "8339-4", "Birth weight Measured", "Fødselsvægt"),
            "subject": chart.subject,
            "encounter": ref("Encounter", visit.encounter_id),
            "effectiveDateTime": date_text(day),
            "valueQuantity": quantity(round(chart.rng.gauss(3500, 450)), "g"),
        }
    )


def delivery(chart: Chart, facts: Birth) -> None:
    """The mother's delivery stay (its id is known to the baby's chart)."""
    day = facts.born.toordinal()
    rng = chart.rng
    minute = rng.randrange(24 * 60)
    department = delivery_ward(chart)
    stay = rng.randint(1, 3) * 24 * 60
    visit = encounter(chart, "IMP", department, day, minute, stay, res_id=facts.delivery_id)
    condition_id = condition(chart, "delivery", day, day, visit=visit, resolved=day + 42)
    vital_signs(chart, visit, minute + 20, full=True)
    lab_panel(chart, visit, ("hb",), minute + 30)
    if facts.caesarean:
        procedure(chart, "caesarean", visit, minute + 60, condition_id, None)
    text = "Født ved kejsersnit." if facts.caesarean else "Normal fødsel."
    note(chart, visit, "discharge", minute + stay - 30, f"{text} Mor og barn har det godt. Udskrives til hjemmet.")
