"""Merging an internal record (a user's login, an app, a site, a grant index) changed at a cut-off
site and at the centre during the same cut: field by field, against the version both started from.

A field changed on one side only takes that side's value. A field changed on both sides takes the
safer or the later of the two: a login disabled anywhere stays disabled; counters that only grow
(the last TOTP step used, the sessions epoch) take the larger, so a code is never good twice and
"log out everywhere" holds; lists of one-time codes keep only the codes unused on both sides; a
grant index keeps the grants of both sides; anything else keeps the centre's (an administrator's
reset there beats a site's older copy). Clinical resources are never merged like this: they are
conflicts for a clinician (fhir/conflicts.py).
"""

from __future__ import annotations

from typing import Any

_ONLY_DISABLE = frozenset({"active"})
_GROWING = frozenset({"totp_step", "sessions_epoch"})
_USED_UP = frozenset({"recovery_codes"})


def merge_record(
    res_type: str, base: dict[str, Any] | None, central: dict[str, Any], site: dict[str, Any]
) -> dict[str, Any]:
    if res_type == "_GrantIndex":
        return _grants(central, site)
    base = base or {}
    merged: dict[str, Any] = {}
    for name in {**central, **site}:
        ours, theirs, before = central.get(name), site.get(name), base.get(name)
        if theirs == before or theirs == ours:
            merged[name] = ours
        elif ours == before:
            merged[name] = theirs
        else:
            merged[name] = _both_changed(name, ours, theirs)
    return merged


def _both_changed(name: str, central: Any, site: Any) -> Any:
    if name in _ONLY_DISABLE:
        return bool(central) and bool(site)
    if name in _GROWING and isinstance(central, int) and isinstance(site, int):
        return max(central, site)
    if name in _USED_UP and isinstance(central, list) and isinstance(site, list):
        return [code for code in central if code in site]
    return central


def _grants(central: dict[str, Any], site: dict[str, Any]) -> dict[str, Any]:
    """A user's grant index after grants at both sides: every grant of either."""
    seen = {g["grant"]: g for g in central.get("grants", [])}
    for entry in site.get("grants", []):
        seen.setdefault(entry["grant"], entry)
    return {**central, "grants": sorted(seen.values(), key=lambda g: g["expires_at"])}
