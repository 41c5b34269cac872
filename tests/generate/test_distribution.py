"""The population looks Danish: the age pyramid, the sex ratio, lab values mostly in range with
outliers, and lab series that move with illness and treatment."""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict

from tests.generate.conftest import TODAY


def _ages(resources):
    return [
        (TODAY - datetime.date.fromisoformat(p["birthDate"])).days / 365.25
        for p in resources
        if p["resourceType"] == "Patient"
    ]


def test_age_pyramid_and_sex_ratio_are_roughly_danish(resources):
    ages = _ages(resources)
    n = len(ages)
    # Denmark: about 16% under 15, 64% 15-64, 20% 65 and over.
    assert 0.08 <= sum(a < 15 for a in ages) / n <= 0.24
    assert 0.52 <= sum(15 <= a < 65 for a in ages) / n <= 0.74
    assert 0.12 <= sum(a >= 65 for a in ages) / n <= 0.32
    assert max(ages) < 106
    males = sum(p["gender"] == "male" for p in resources if p["resourceType"] == "Patient")
    assert 0.4 <= males / n <= 0.6
    assert any("deceasedDateTime" in p for p in resources if p["resourceType"] == "Patient")
    assert (
        any(len(p["meta"]["security"]) > 1 for p in resources if p["resourceType"] == "Patient") or n < 300
    )  # name and address protection is 1.5%: may miss in a small sample


def test_lab_values_are_mostly_in_range_with_outliers(resources):
    flags = Counter(
        o["interpretation"][0]["coding"][0]["code"]
        for o in resources
        if o["resourceType"] == "Observation" and "interpretation" in o
    )
    total = sum(flags.values())
    assert total > 1000
    assert 0.65 <= flags["N"] / total <= 0.92
    assert flags["H"] / total >= 0.05 and flags["L"] / total >= 0.01


def test_lab_series_trend(resources):
    """CRP in one admission falls as the infection is treated (acute effects halve every two days)."""
    series: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for o in resources:
        if o["resourceType"] == "Observation" and o["code"].get("text") == "C-reaktivt protein":
            series[(o["subject"]["reference"], o["encounter"]["reference"])].append(
                (o["effectiveDateTime"], o["valueQuantity"]["value"])
            )
    per_patient: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for (patient, _), values in series.items():
        per_patient[patient].extend(values)
    falling = 0
    for values in per_patient.values():
        values.sort()
        if len(values) >= 2 and values[0][1] > 40 and values[-1][1] < values[0][1]:
            falling += 1
    assert falling >= 3
