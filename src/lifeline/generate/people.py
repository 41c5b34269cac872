"""Who the patients are: age and sex drawn to Denmark's population pyramid, Danish names of the
right generation, an address in a municipality of the two regions, a CPR number (cpr.py), and
the flags some carry: deceased, name and address protection."""

from __future__ import annotations

import bisect
import datetime
import itertools
import random
from dataclasses import dataclass
from typing import Any

from lifeline.generate import names
from lifeline.generate.codes import CONFIDENTIALITY, CPR, SYNTHETIC_META, ref
from lifeline.generate.cpr import draw_cpr
from lifeline.generate.places import MUNICIPALITIES, Municipality

# Denmark's population by five-year age band, thousands (Statistics Denmark, 2024, rounded).
AGE_BANDS = (305, 320, 345, 345, 370, 400, 380, 345, 340, 375, 405, 400, 355, 320, 315, 265, 160, 80, 35, 9)
_AGE_CUMULATIVE = tuple(itertools.accumulate(AGE_BANDS))
_MUNICIPALITY_CUMULATIVE = tuple(itertools.accumulate(m.population for m in MUNICIPALITIES))
PROTECTED_SHARE = 0.015  # name and address protection (navne- og adressebeskyttelse)
OTHER_ORIGIN_SHARE = 0.1


@dataclass
class Person:
    male: bool
    born: datetime.date
    given: list[str]
    family: str
    cpr: str
    municipality: Municipality
    postcode: str
    city: str
    street: str
    protected: bool

    @property
    def gender(self) -> str:
        return "male" if self.male else "female"

    @property
    def name(self) -> str:
        return " ".join([*self.given, self.family])


def draw_age(rng: random.Random, low: int = 0, high: int = 104) -> int:
    """An age in whole years from the Danish pyramid, limited to [low, high]."""
    first, last = low // 5, min(high // 5, len(AGE_BANDS) - 1)
    base = _AGE_CUMULATIVE[first - 1] if first else 0
    top = _AGE_CUMULATIVE[last]
    band = bisect.bisect_right(_AGE_CUMULATIVE, base + rng.random() * (top - base))
    band = min(max(band, first), last)
    return min(max(band * 5 + rng.randrange(5), low), high)


def birth_day(rng: random.Random, age: int, today: int) -> datetime.date:
    """A birth date giving `age` completed years today; never 1 January (see cpr.py)."""
    day = today - int((age + rng.random()) * 365.25) - 1
    born = datetime.date.fromordinal(day)
    if (born.month, born.day) == (1, 1):
        born += datetime.timedelta(days=1)
    return born


def draw_municipality(rng: random.Random, site: str | None = None) -> Municipality:
    """A municipality weighted by population, or one in the catchment of `site` when it has one."""
    if site is not None:
        local = [m for m in MUNICIPALITIES if m.site == site]
        if local:
            return rng.choice(local)
    point = rng.random() * _MUNICIPALITY_CUMULATIVE[-1]
    return MUNICIPALITIES[bisect.bisect_right(_MUNICIPALITY_CUMULATIVE, point)]


def draw_person(
    rng: random.Random, male: bool, born: datetime.date, municipality: Municipality, family: str | None = None
) -> Person:
    era = 0 if born.year < 1960 else 1 if born.year < 1995 else 2
    other = rng.random() < OTHER_ORIGIN_SHARE
    if other:
        given = [rng.choice(names.MALE_OTHER if male else names.FEMALE_OTHER)]
    else:
        given = [rng.choice((names.MALE if male else names.FEMALE)[era])]
        if rng.random() < 0.25:
            given.append(rng.choice(names.MIDDLE_MALE if male else names.MIDDLE_FEMALE))
    if family is None:
        family = rng.choice(names.SURNAMES_OTHER if other else names.SURNAMES)
    postcode, city = rng.choice(municipality.postcodes)
    street = f"{rng.choice(names.STREETS)} {rng.randint(1, 160)}"
    if rng.random() < 0.45:
        street += f", {rng.choice(names.FLOORS)}"
    protected = rng.random() < PROTECTED_SHARE
    return Person(male, born, given, family, draw_cpr(rng, born, male), municipality, postcode, city, street, protected)


def patient_resource(
    patient_id: str, person: Person, organization_id: str, deceased: str | None, links: list[str] | None = None
) -> dict[str, Any]:
    """The Patient. A protected person's address is still recorded (the authorities know it);
    the restricted confidentiality label tells the record to withhold it."""
    meta = SYNTHETIC_META
    if person.protected:
        meta = {
            "security": [*SYNTHETIC_META["security"], {"system": CONFIDENTIALITY, "code": "R", "display": "restricted"}]
        }
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_id,
        "meta": meta,
        "identifier": [{"use": "official", "system": CPR, "value": person.cpr}],
        "active": True,
        "name": [{"use": "official", "text": person.name, "family": person.family, "given": person.given}],
        "gender": person.gender,
        "birthDate": person.born.isoformat(),
    }
    if deceased is not None:
        patient["deceasedDateTime"] = deceased
    patient["address"] = [
        {
            "use": "home",
            "type": "physical",
            "line": [person.street],
            "city": person.city,
            "district": person.municipality.name,
            "postalCode": person.postcode,
            "country": "DK",
        }
    ]
    patient["communication"] = [
        {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "da"}]}, "preferred": True}
    ]
    patient["managingOrganization"] = ref("Organization", organization_id)
    if links:
        patient["link"] = [{"other": ref("RelatedPerson", other), "type": "seealso"} for other in links]
    return patient
