"""How a dose reads in the chart (templates/chart/_words.html `dose`, from words.dose): the
prescriber's own text as written, else the dose and how often, in the reader's language; a
period longer than one ("every 2 days") is not read as "per day"."""

from __future__ import annotations

from typing import Any

import pytest

from lifeline.web.layout import environment
from lifeline.web.pages.chart import words


def read(dosage: dict[str, Any], language: str) -> str:
    template = environment(language).from_string('{% from "chart/_words.html" import dose %}{{ dose(d) }}')
    return template.render(d=words.dose(dosage, language)).strip()


def every(frequency: int, period: int, unit: str) -> dict[str, Any]:
    timing = {"repeat": {"frequency": frequency, "period": period, "periodUnit": unit}}
    return {"doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg"}}], "timing": timing}


@pytest.mark.parametrize(
    ("dosage", "english", "danish"),
    [
        ({"text": "5 mg morgen og aften"}, "5 mg morgen og aften", "5 mg morgen og aften"),
        (every(2, 1, "d"), "5 mg, 2 times per day", "5 mg, 2 gange pr. døgn"),
        (every(1, 1, "wk"), "5 mg, 1 time per week", "5 mg, 1 gang pr. uge"),
        (every(1, 2, "d"), "5 mg, 1 time every 2 days", "5 mg, 1 gang hver 2. døgn"),
        (every(3, 8, "h"), "5 mg, 3 times every 8 hours", "5 mg, 3 gange hver 8. time"),
        ({**every(1, 1, "d"), "asNeededBoolean": True}, "5 mg, 1 time per day (as needed)", None),
    ],
)
def test_a_dose_reads_as_prescribed(dosage: dict[str, Any], english: str, danish: str | None) -> None:
    assert read(dosage, "en") == english
    if danish is not None:
        assert read(dosage, "da") == danish


def test_no_dose_says_so() -> None:
    assert "dose not recorded" in read({"route": {"text": "oral"}}, "en")
