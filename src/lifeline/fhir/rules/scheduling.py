"""Rules for scheduling (issue 24): see fhir/rules/__init__.py."""

from __future__ import annotations

from lifeline.fhir.rules import Checker

CHECKS: dict[str, list[Checker]] = {}
