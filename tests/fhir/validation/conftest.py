"""Validators are expensive to build (definitions compile once): share one per mode."""

from __future__ import annotations

import pytest

from lifeline.fhir.validation import Validator


@pytest.fixture(scope="session")
def validator() -> Validator:
    return Validator()


@pytest.fixture(scope="session")
def strict_validator() -> Validator:
    return Validator(invariants="strict")


@pytest.fixture(scope="session")
def structural_validator() -> Validator:
    return Validator(invariants="off", empty_elements="refuse")  # the checks themselves: nothing tidied first
