"""A CodeableConcept in words, as the pages (web/pages/chart/words.py) and the paper downtime
reports (downtime/text.py) both show one."""

from __future__ import annotations

from typing import Any


def concept(value: dict[str, Any] | None) -> str:
    """A CodeableConcept in words: its text, else the first coding's display, else its code."""
    if not value:
        return ""
    if value.get("text"):
        return str(value["text"])
    for coding in value.get("coding") or []:
        if coding.get("display"):
            return str(coding["display"])
    return next((str(c["code"]) for c in value.get("coding") or [] if c.get("code")), "")
