"""Which search parameters read an element withheld from a protected patient (query/withheld.py)."""

from __future__ import annotations

from lifeline.access.redact import CONFIDENTIALITY, WITHHELD
from lifeline.search.query.withheld import Withholding
from lifeline.search.registry import default_registry
from lifeline.storage.param_numbers import number

PROTECTION = Withholding("Patient", WITHHELD, CONFIDENTIALITY, "R")


def test_the_patient_parameters_over_address_and_telecom_are_covered() -> None:
    registry = default_registry()
    covered = {code for code, param in registry.params_for("Patient").items() if PROTECTION.covers(param)}
    assert covered == {
        "address",
        "address-city",
        "address-country",
        "address-postalcode",
        "address-state",
        "address-use",
        "phone",
        "email",
        "telecom",
    }


def test_other_types_keep_their_address_parameters() -> None:
    registry = default_registry()
    for res_type in ("Person", "Practitioner", "RelatedPerson", "Organization", "Location"):
        assert not any(PROTECTION.covers(p) for p in registry.params_for(res_type).values()), res_type


def test_the_patient_themself_is_exempt() -> None:
    sql, args = Withholding("Patient", WITHHELD, CONFIDENTIALITY, "R", own_id="p1").shown("s")
    label = number("Patient", "_security")
    assert sql.startswith("(s.res_id = ? OR NOT EXISTS") and args == ["p1", "Patient", label, "R", CONFIDENTIALITY]
