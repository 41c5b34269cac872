"""Settings (config.py): LIFELINE_PORTAL_HOLD_DAYS, the days a result is held back from the patient
by category (issue 25), read into numbers, and a malformed value refused in one clear line."""

from __future__ import annotations

import pytest

from lifeline.config import SettingError, Settings, from_environment, portal_hold_days

VARIABLE = "LIFELINE_PORTAL_HOLD_DAYS"


def test_the_default_is_danish_practice() -> None:
    default, days = portal_hold_days(Settings())
    assert default == 3
    assert {code: value for code, value in days if value == 7}.keys() >= {"SP", "CP", "GE", "RAD", "imaging"}


def test_a_setting_replaces_the_default() -> None:
    settings = from_environment({VARIABLE: "default=2, PAT=7,GE=14"})
    assert portal_hold_days(settings) == (2, (("GE", 14), ("PAT", 7)))
    assert portal_hold_days(from_environment({VARIABLE: "default=0"})) == (0, ())  # no hold at all


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("default=three", "'default=three' is not a category code and 0 to 365 days"),
        ("PAT:7", "'PAT:7' is not a category code"),
        ("PAT=-1", "'PAT=-1' is not a category code"),
        ("PAT=400", "'PAT=400' is not a category code"),
        ("PAT=7,PAT=3", "names 'PAT' twice"),
        ("default=3,bad code=1", "'bad code=1' is not"),
    ],
)
def test_a_malformed_value_is_one_clear_line(value: str, said: str) -> None:
    with pytest.raises(SettingError) as refused:
        from_environment({VARIABLE: value})
    message = str(refused.value)
    assert message.startswith(VARIABLE) and said in message and "\n" not in message
