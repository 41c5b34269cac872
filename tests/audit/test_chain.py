"""The hash rule (audit/chain.py): what is hashed, canonically, and how records differ."""

from __future__ import annotations

import hashlib

import pytest

from lifeline.audit.chain import GENESIS, AuditRecord, canonical, check_field, record_hash


def test_the_hash_is_sha256_of_the_fields_split_by_newlines() -> None:
    content = canonical({"resourceType": "AuditEvent", "action": "R"})
    expected = hashlib.sha256(f"{GENESIS}\ncentral\n1\n2026-11-22T08:00:00Z\n{content}".encode()).hexdigest()
    assert record_hash(GENESIS, "central", 1, "2026-11-22T08:00:00Z", content) == expected
    assert GENESIS == "0" * 64


def test_content_is_canonical_json_with_sorted_keys() -> None:
    one = canonical({"resourceType": "AuditEvent", "action": "R", "agent": [{"who": {"display": "x"}}]})
    other = canonical({"agent": [{"who": {"display": "x"}}], "action": "R", "resourceType": "AuditEvent"})
    assert one == other == '{"action":"R","agent":[{"who":{"display":"x"}}],"resourceType":"AuditEvent"}'


def test_node_and_position_are_inside_the_hash() -> None:
    base = record_hash(GENESIS, "central", 1, "t", "{}")
    assert record_hash(GENESIS, "site-a", 1, "t", "{}") != base
    assert record_hash(GENESIS, "central", 2, "t", "{}") != base
    assert record_hash("1" * 64, "central", 1, "t", "{}") != base
    assert record_hash(GENESIS, "central", 1, "u", "{}") != base


def test_a_record_fits_only_its_own_fields() -> None:
    digest = record_hash(GENESIS, "central", 1, "t", "{}")
    assert AuditRecord("central", 1, "t", "{}", GENESIS, digest).fits()
    assert not AuditRecord("central", 1, "t", '{"a":1}', GENESIS, digest).fits()


@pytest.mark.parametrize("value", ["", "site\na"])
def test_fields_that_would_make_the_text_ambiguous_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        check_field("node id", value)
