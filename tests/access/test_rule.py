"""The access rule's parts without HTTP: the age cut-off, and the SQL staying index-driven."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from lifeline.access.care import CareProfile, cared_for_sql
from lifeline.access.family import family_sql, fifteenth_birthday_cutoff
from lifeline.access.rule import AccessRule
from lifeline.search.registry import default_registry
from lifeline.storage.matching import Match, source
from tests.conftest import dispose, fresh_repository

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def _staff_rule() -> AccessRule:
    """The rule of a doctor in one department with a ward and a bed."""
    parts, args = cared_for_sql(CareProfile("doc", ("role",), ("dep",), ("ward", "bed")), NOW, 30)
    return AccessRule("staff", " UNION ".join(parts), tuple(args), default_registry())


def _patient_rule() -> AccessRule:
    parts, args = family_sql("p1", NOW)
    return AccessRule("patient", " UNION ".join(parts), tuple(args), default_registry(), patient_id="p1")


def test_fifteenth_birthday_cutoff() -> None:
    assert fifteenth_birthday_cutoff(date(2026, 11, 22)) == date(2011, 11, 22)
    assert fifteenth_birthday_cutoff(date(2028, 2, 29)) == date(2013, 2, 28)


def test_staff_condition_is_index_driven_on_sqlite(tmp_path: Path) -> None:
    """No full scan of an index table: every subquery is a SEARCH by one of its indexes."""
    repo = fresh_repository("sqlite", tmp_path)
    try:
        where, where_args = _staff_rule().condition("Observation")
        with repo.reading() as session:
            plan = session._all(
                f"EXPLAIN QUERY PLAN SELECT r.res_id FROM resource r WHERE r.res_type = ? AND {where}",
                ["Observation", *where_args],
            )
        details = [str(row[-1]) for row in plan]
        assert not [d for d in details if d.startswith("SCAN") and "search_" in d], details
    finally:
        dispose(repo)


def test_patient_condition_starts_from_the_family(tmp_path: Path) -> None:
    rule = _patient_rule()
    where, where_args = rule.condition("Observation")
    assert where.count("?") == len(where_args)
    system_where, system_args = rule.condition(None)
    assert system_where.count("?") == len(system_args)


def test_a_search_under_either_rule_still_reads_its_matches_from_index_rows() -> None:
    """The rules name only `r.res_type` and `r.res_id`, so a driven search keeps choosing and
    counting its matches on the index tables (storage/matching.py) instead of `resource`."""
    driven = Match(ids="SELECT s.res_id FROM search_token s WHERE s.res_type = 'Observation'")
    for rule in (_staff_rule(), _patient_rule()):
        for res_type in ("Patient", "Observation", "Practitioner"):
            rows, _ = source(res_type, driven.and_(*rule.condition(res_type)))
            assert not rows.startswith("resource r"), (rule.kind, res_type)
