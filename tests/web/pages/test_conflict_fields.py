"""The comparison of a conflict's two versions (web/pages/conflict_fields.py), without a server:
FHIR values as readable text, the elements that differ, the merge a choice per element makes, and
a Danish word for every element's name the page shows."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from lifeline.web import i18n
from lifeline.web.pages import conflict_fields as fields

CENTRAL: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p",
    "meta": {"versionId": "2"},
    "text": {"status": "generated", "div": "<div>Centralsen</div>"},
    "name": [{"family": "Centralsen", "given": ["Anna", "Marie"]}],
    "telecom": [{"system": "phone", "value": "11111111", "use": "mobile"}, {"system": "email", "value": "a@x.dk"}],
    "deceasedBoolean": False,
}
SITE: dict[str, Any] = {
    **{name: value for name, value in CENTRAL.items() if name != "deceasedBoolean"},
    "meta": {"versionId": "7"},
    "telecom": [{"system": "phone", "value": "22222222"}, {"system": "email", "value": "a@x.dk"}],
    "deceasedDateTime": "2026-11-21T10:15:00Z",
}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"given": ["Anna", "Marie"], "family": "Hansen"}, "Anna Marie Hansen"),
        ({"given": ["Anna"], "family": "Jensen", "use": "maiden"}, "Anna Jensen (maiden name)"),
        ({"system": "phone", "value": "12345678", "use": "work"}, "phone 12 34 56 78 (work)"),
        ({"system": "email", "value": "a@x.dk"}, "e-mail a@x.dk"),
        ({"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]}, "Glucose"),
        ({"text": "Penicillin"}, "Penicillin"),
        ({"value": 7.25, "unit": "mmol/L"}, "7.25 mmol/L"),
        ({"start": "2026-11-20T08:00:00Z", "end": "2026-11-22"}, "20 Nov 2026, 09:00 – 22 Nov 2026"),
        ({"start": "2026-11-20"}, "20 Nov 2026 – …"),
        ({"reference": "Practitioner/7", "display": "Dr. Læge"}, "Dr. Læge"),
        ({"reference": "Organization/dep-1"}, "Organization/dep-1"),
        ({"line": ["Havnegade 1"], "postalCode": "2730", "city": "Herlev"}, "Havnegade 1, 2730 Herlev"),
        ({"system": "urn:oid:1.2.208.176.1.2", "value": "0101801234"}, "0101801234"),
        (
            {"text": "Seen at night", "authorString": "nurse", "time": "2026-11-21"},
            "Seen at night · nurse · 21 Nov 2026",
        ),
        ("1958-07-25", "25 Jul 1958"),
        (True, "yes"),
        (
            {"low": {"value": 3, "unit": "mmol/L"}, "high": {"value": 6, "unit": "mmol/L"}},
            "Low: 3 mmol/L; High: 6 mmol/L",
        ),
    ],
)
def test_a_value_reads_as_a_clinician_writes_it(value: Any, text: str) -> None:
    assert fields.readable(value, "en", str) == text


def test_only_differing_elements_are_compared_and_a_choice_element_is_one() -> None:
    compared = fields.compared("Patient", CENTRAL, SITE, "en", str)
    assert [(f["key"], f["label"], f["central"], f["site"], f["both"]) for f in compared] == [
        ("telecom.phone", "Phone", ["phone 11 11 11 11 (mobile)"], ["phone 22 22 22 22"], True),
        ("deceased[x]", "Deceased", ["no"], ["21 Nov 2026, 11:15"], False),
    ]
    assert fields.compared("Patient", CENTRAL, {**CENTRAL, "meta": {}, "text": {"div": "x"}}, "en", str) == []


def test_the_merge_takes_each_element_from_the_side_chosen() -> None:
    merge = fields.merged("Patient", CENTRAL, SITE, {"telecom.phone": "both", "deceased[x]": "site"})
    assert merge["telecom"] == [
        {"system": "email", "value": "a@x.dk"},
        {"system": "phone", "value": "11111111", "use": "mobile"},
        {"system": "phone", "value": "22222222"},
    ]
    assert merge["deceasedDateTime"] == "2026-11-21T10:15:00Z" and "deceasedBoolean" not in merge
    assert "text" not in merge and merge["meta"] == CENTRAL["meta"]  # the narrative no longer fits
    assert fields.merged("Patient", CENTRAL, SITE, {}) == CENTRAL
    with pytest.raises(fields.BadChoice, match="Deceased"):
        fields.merged("Patient", CENTRAL, SITE, {"deceased[x]": "both"})


def test_an_unknown_element_is_named_by_its_words() -> None:
    assert fields.label("Observation", "derivedFrom") == "Derived from"
    assert fields.label("Observation", "value[x]") == "Result"
    assert fields.label("Practitioner", "telecom.sms") == "Text messages"


def test_every_word_the_page_shows_has_a_danish_text() -> None:
    """The element names are translated by the page (web/i18n.py), like the template's messages."""
    root = files("lifeline.web")
    options = {"templates/conflicts.html": {"extensions": "jinja2.ext.i18n"}}
    used = {m for _, _, m, *_ in extract_from_dir(str(root), [("templates/conflicts.html", "jinja2")], options)}
    used |= {label for table in fields.LABELS.values() for label in table.values()} | set(fields.SHARED.values())
    used |= {
        *fields.TYPES.values(),
        *fields.SYSTEMS.values(),
        *fields.USES.values(),
        *fields.NAME_USES.values(),
        "yes",
        "no",
    }
    with root.joinpath("translations/da/LC_MESSAGES/messages.po").open("rb") as po:
        catalog = read_po(po)
    assert not sorted(str(m) for m in used if not catalog.get(m) or not catalog[m].string)
    danish = i18n.translations("da").gettext
    assert (
        fields.readable({"system": "phone", "value": "12345678", "use": "home"}, "da", danish)
        == "telefon 12 34 56 78 (privat)"
    )
