"""The hospitals of the Capital Region and Region Zealand, their sites, and the kinds of department
each site has: the fixed shape of the generated region (the reference notes, denmark.md).

Addresses are the hospitals' public ones; departments, wards, beds and staff are made up."""

from __future__ import annotations

from typing import NamedTuple


class DepartmentKind(NamedTuple):
    name: str  # the Danish name of the department
    english: str
    ward_beds: int  # beds in its ward (0: no ward)
    clinic: bool  # has an outpatient clinic
    staff: tuple[tuple[str, int], ...]  # (role, how many)


_MEDICAL = (("physician", 2), ("nurse", 3), ("secretary", 1))
_SURGICAL = (("surgeon", 3), ("physician", 1), ("nurse", 3), ("secretary", 1))

KINDS: dict[str, DepartmentKind] = {
    "kard": DepartmentKind("Kardiologisk Afdeling", "Cardiology", 14, True, _MEDICAL),
    "endo": DepartmentKind("Endokrinologisk Afdeling", "Endocrinology", 0, True, _MEDICAL),
    "lunge": DepartmentKind("Lungemedicinsk Afdeling", "Respiratory medicine", 14, True, _MEDICAL),
    "nefro": DepartmentKind("Nefrologisk Afdeling", "Nephrology", 12, True, _MEDICAL),
    "med": DepartmentKind("Medicinsk Afdeling", "Internal medicine", 16, True, _MEDICAL),
    "gastro": DepartmentKind("Mave- og Tarmkirurgisk Afdeling", "Digestive surgery", 14, True, _SURGICAL),
    "orto": DepartmentKind("Ortopædkirurgisk Afdeling", "Orthopaedic surgery", 14, True, _SURGICAL),
    "neuro": DepartmentKind("Neurologisk Afdeling", "Neurology", 14, True, _MEDICAL),
    "onko": DepartmentKind("Onkologisk Afdeling", "Oncology", 12, True, _MEDICAL),
    "gyn": DepartmentKind(
        "Gynækologisk-Obstetrisk Afdeling",
        "Obstetrics and gynaecology",
        14,
        True,
        (("surgeon", 2), ("physician", 1), ("midwife", 2), ("nurse", 2), ("secretary", 1)),
    ),
    "paed": DepartmentKind("Børne- og Ungeafdeling", "Paediatrics", 12, True, _MEDICAL),
    "psyk": DepartmentKind("Voksenpsykiatrisk Afdeling", "Adult psychiatry", 14, True, _MEDICAL),
    "akut": DepartmentKind("Akutafdeling", "Emergency department", 12, False, (("physician", 3), ("nurse", 4))),
    "anae": DepartmentKind("Anæstesiologisk Afdeling", "Anaesthesia", 0, False, (("anaesthetist", 3), ("nurse", 2))),
    "rad": DepartmentKind(
        "Radiologisk Afdeling", "Radiology", 0, False, (("radiologist", 2), ("radiographer", 3), ("secretary", 1))
    ),
    "kba": DepartmentKind("Klinisk Biokemisk Afdeling", "Clinical biochemistry", 0, False, (("lab-technologist", 3),)),
}

# Departments whose surgeons operate in the site's theatres.
SURGICAL = ("gastro", "orto", "gyn")


class Site(NamedTuple):
    key: str
    name: str
    street: str
    postcode: str
    city: str
    kinds: tuple[str, ...]
    theatres: int


class Hospital(NamedTuple):
    key: str
    name: str
    region: str
    sites: tuple[Site, ...]


class Region(NamedTuple):
    key: str
    name: str
    university_site: str  # where patients go when their own site lacks the department


def _site(key: str, name: str, address: str, kinds: str, theatres: int = 0) -> Site:
    street, _, town = address.partition(", ")
    postcode, _, city = town.partition(" ")
    return Site(key, name, street, postcode, city, tuple(kinds.split()), theatres)


REGIONS = (
    Region("hovedstaden", "Region Hovedstaden", "rh"),
    Region("sjaelland", "Region Sjælland", "ros"),
)

HOSPITALS = (
    Hospital(
        "rh",
        "Rigshospitalet",
        "hovedstaden",
        (
            _site(
                "rh",
                "Rigshospitalet, Blegdamsvej",
                "Blegdamsvej 9, 2100 København Ø",
                "kard endo lunge nefro gastro orto neuro onko gyn paed akut anae rad kba",
                6,
            ),
        ),
    ),
    Hospital(
        "hgh",
        "Herlev og Gentofte Hospital",
        "hovedstaden",
        (
            _site(
                "her",
                "Herlev Hospital",
                "Borgmester Ib Juuls Vej 1, 2730 Herlev",
                "med nefro gastro onko gyn paed akut anae rad kba",
                4,
            ),
            _site(
                "gen",
                "Gentofte Hospital",
                "Gentofte Hospitalsvej 1, 2900 Hellerup",
                "kard lunge endo orto anae rad kba",
                3,
            ),
        ),
    ),
    Hospital(
        "bfh",
        "Bispebjerg og Frederiksberg Hospital",
        "hovedstaden",
        (
            _site(
                "bbh",
                "Bispebjerg Hospital",
                "Bispebjerg Bakke 23, 2400 København NV",
                "med lunge neuro orto akut anae rad kba",
                3,
            ),
            _site(
                "frb",
                "Frederiksberg Hospital",
                "Nordre Fasanvej 57, 2000 Frederiksberg",
                "med endo orto anae rad kba",
                2,
            ),
        ),
    ),
    Hospital(
        "ahh",
        "Amager og Hvidovre Hospital",
        "hovedstaden",
        (
            _site(
                "hvi",
                "Hvidovre Hospital",
                "Kettegård Allé 30, 2650 Hvidovre",
                "med kard gastro orto gyn paed akut anae rad kba",
                4,
            ),
            _site("ama", "Amager Hospital", "Italiensvej 1, 2300 København S", "med rad kba"),
        ),
    ),
    Hospital(
        "noh",
        "Nordsjællands Hospital",
        "hovedstaden",
        (
            _site(
                "hil",
                "Nordsjællands Hospital Hillerød",
                "Dyrehavevej 29, 3400 Hillerød",
                "med kard lunge gastro orto neuro gyn paed akut anae rad kba",
                4,
            ),
            _site(
                "fsu", "Nordsjællands Hospital Frederikssund", "Frederikssundsvej 30, 3600 Frederikssund", "med rad kba"
            ),
            _site("hel", "Nordsjællands Hospital Helsingør", "Esrumvej 145, 3000 Helsingør", "med rad kba"),
        ),
    ),
    Hospital(
        "bh",
        "Bornholms Hospital",
        "hovedstaden",
        (_site("bh", "Bornholms Hospital", "Ullasvej 8, 3700 Rønne", "med gastro gyn paed akut anae rad kba", 2),),
    ),
    Hospital(
        "psh",
        "Region Hovedstadens Psykiatri",
        "hovedstaden",
        (_site("pck", "Psykiatrisk Center København", "Edel Sauntes Allé 10, 2100 København Ø", "psyk"),),
    ),
    Hospital(
        "suh",
        "Sjællands Universitetshospital",
        "sjaelland",
        (
            _site(
                "koe",
                "Sjællands Universitetshospital, Køge",
                "Lykkebækvej 1, 4600 Køge",
                "med kard endo gastro orto akut anae rad kba",
                4,
            ),
            _site(
                "ros",
                "Sjællands Universitetshospital, Roskilde",
                "Sygehusvej 10, 4000 Roskilde",
                "kard lunge nefro neuro onko gyn paed akut anae rad kba",
                3,
            ),
            _site(
                "nyk",
                "Sjællands Universitetshospital, Nykøbing F.",
                "Fjordvej 15, 4800 Nykøbing F",
                "med gastro orto gyn paed akut anae rad kba",
                3,
            ),
        ),
    ),
    Hospital(
        "hol",
        "Holbæk Sygehus",
        "sjaelland",
        (
            _site(
                "hol",
                "Holbæk Sygehus",
                "Smedelundsgade 60, 4300 Holbæk",
                "med kard gastro orto gyn paed akut anae rad kba",
                3,
            ),
        ),
    ),
    Hospital(
        "nsr",
        "Næstved, Slagelse og Ringsted Sygehuse",
        "sjaelland",
        (
            _site("nae", "Næstved Sygehus", "Ringstedgade 61, 4700 Næstved", "med onko gyn paed akut anae rad kba", 2),
            _site("sla", "Slagelse Sygehus", "Fælledvej 11, 4200 Slagelse", "med gastro orto akut anae rad kba", 3),
            _site("rin", "Ringsted Sygehus", "Bøllingsvej 30, 4100 Ringsted", "orto anae rad kba", 2),
        ),
    ),
    Hospital(
        "pss",
        "Psykiatrien Region Sjælland",
        "sjaelland",
        (_site("psr", "Psykiatrien Roskilde", "Smedegade 10, 4000 Roskilde", "psyk"),),
    ),
)
