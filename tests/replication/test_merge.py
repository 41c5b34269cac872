"""Internal records changed on both sides of a cut merge field by field (replication/merge.py)."""

from __future__ import annotations

from lifeline.replication.merge import merge_record

BASE = {"username": "mette", "password": "v1", "active": True, "totp_step": 10, "sessions_epoch": 0,
        "recovery_codes": ["a", "b", "c"], "extra_roles": []}  # fmt: skip


def test_a_login_disabled_at_the_centre_stays_disabled_after_a_login_at_a_cut_off_site() -> None:
    central = {**BASE, "active": False, "sessions_epoch": 1}
    site = {**BASE, "totp_step": 12, "recovery_codes": ["a", "c"]}
    merged = merge_record("_User", BASE, central, site)
    assert merged["active"] is False and merged["sessions_epoch"] == 1
    assert merged["totp_step"] == 12 and merged["recovery_codes"] == ["a", "c"]


def test_fields_changed_on_both_sides() -> None:
    central = {**BASE, "password": "reset", "totp_step": 14, "recovery_codes": ["b", "c"], "active": True}
    site = {**BASE, "password": "changed-at-site", "totp_step": 12, "recovery_codes": ["a", "c"], "active": False}
    merged = merge_record("_User", BASE, central, site)
    assert merged["password"] == "reset"  # the administrator's reset at the centre wins
    assert merged["totp_step"] == 14 and merged["recovery_codes"] == ["c"] and merged["active"] is False


def test_a_field_only_the_site_changed_is_kept_and_new_fields_arrive() -> None:
    site = {**BASE, "password": "changed-at-site", "passkeys": [{"id": "k1"}]}
    merged = merge_record("_User", BASE, dict(BASE), site)
    assert merged["password"] == "changed-at-site" and merged["passkeys"] == [{"id": "k1"}]


def test_a_grant_index_keeps_both_sides_grants() -> None:
    central = {"user": "u", "grants": [{"grant": "g1", "patient": "p1", "expires_at": "2026-11-23T12:00:00.000Z"}]}
    site = {"user": "u", "grants": [{"grant": "g2", "patient": "p2", "expires_at": "2026-11-23T11:00:00.000Z"}]}
    merged = merge_record("_GrantIndex", None, central, site)
    assert [g["grant"] for g in merged["grants"]] == ["g2", "g1"]
