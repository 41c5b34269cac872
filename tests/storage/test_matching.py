"""lifeline.storage.matching: a driven search reads its matches from the driving clause's index
rows, which follow the current version of each resource (an update replaces them, a delete
removes them), and from `resource` whenever anything else reads a column of the row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from lifeline.config import Settings
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.identity.principal import OPERATOR
from lifeline.search.query import compile_match, parse_query
from lifeline.search.registry import default_registry
from lifeline.storage.matching import Match, source
from lifeline.storage.ordering import Page, SortExpression
from tests.conftest import BACKENDS, TickingClock, dispose, fresh_repository

REGISTRY = default_registry()


def by_name(prefix: str) -> Match:
    clauses, _ = parse_query("Patient", [("name", prefix)], REGISTRY)
    return compile_match("Patient", clauses, REGISTRY)


def test_a_driven_match_reads_the_index_rows_alone() -> None:
    rows, args = source("Patient", by_name("han"))
    assert rows.startswith("(SELECT DISTINCT CAST(? AS TEXT) AS res_type, i.res_id AS res_id FROM (SELECT s.res_id")
    assert "resource" not in rows
    assert args[0] == "Patient" and rows.count("?") == len(args)


@pytest.mark.parametrize(
    ("extra", "sort"),
    [
        ("r.last_updated >= ?", ()),  # a condition on the row ($everything's _since)
        ("", ("r.last_updated",)),  # _sort=_lastUpdated
        ("EXISTS (SELECT 1 FROM resource r WHERE NOT r.deleted)", ()),  # an inner `r` reading a column
    ],
)
def test_a_match_that_reads_the_row_reads_resource(extra: str, sort: tuple[str, ...]) -> None:
    match = by_name("han")
    if extra:
        match = match.and_(extra, ["2026-01-01"] if "?" in extra else [])
    rows, args = source("Patient", match, sort)
    assert rows.startswith("resource r WHERE NOT r.deleted AND r.res_type = ? AND (r.res_type = ? AND r.res_id IN (")
    assert rows.count("?") == len(args)


def test_other_aliases_are_not_the_row() -> None:
    match = by_name("han").and_("EXISTS (SELECT 1 FROM search_date sr WHERE sr.res_id = r.res_id AND sr.low > 0)", [])
    assert source("Patient", match)[0].startswith("(SELECT DISTINCT")


def test_a_search_of_every_type_reads_resource() -> None:
    rows, _ = source(None, Match("1 = 1"))
    assert rows.startswith("resource r WHERE NOT r.deleted AND substr(r.res_type, 1, 1) <> '_'")


@pytest.fixture(params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    repo = fresh_repository(request.param, tmp_path)
    # Each write a second later: two writes within one millisecond of the wall clock would tie
    # on _lastUpdated, and the newest-first order below would then fall back to the id.
    # Its own key-encryption key, which seals the paging cursors: none is made under var/.
    yield FhirService(repo, Settings(kek=new_kek()), clock=TickingClock())
    dispose(repo)


def write(service: FhirService, interaction: str, res_id: str, family: str | None = None) -> None:
    body = None if family is None else {"resourceType": "Patient", "id": res_id, "name": [{"family": family}]}
    response = service.handle(FhirRequest(interaction, "Patient", res_id, body=body, principal=OPERATOR))
    assert response.status < 300, response.resource


def test_matches_follow_updates_and_deletes(service: FhirService) -> None:
    for n in range(7):
        write(service, "update", f"p{n}", f"Hansen{n}")
    write(service, "update", "p1", "Jensen")  # renamed: its old name no longer matches
    write(service, "delete", "p2")
    write(service, "update", "p3", "Hansen3")  # a new version with the same name: found once
    write(service, "update", "p4", "Hansen")
    write(service, "delete", "p4")
    write(service, "update", "p4", "Hanssen")  # deleted, then written again
    expected = ["p0", "p3", "p4", "p5", "p6"]
    with service.repo.reading() as session:
        rows, total = session.search_page("Patient", by_name("hans"), (), Page(limit=10), with_total=True)
        assert [stored.res_id for stored, _ in rows] == expected and total == 5
        assert session.count("Patient", by_name("hans")) == 5
        # Pages walk the same set; a page's rows carry their current version's content.
        first, _ = session.search_page("Patient", by_name("hans"), (), Page(limit=2))
        rest, _ = session.search_page("Patient", by_name("hans"), (), Page(after=first[-1][1], limit=10))
        assert [s.res_id for s, _ in first + rest] == expected
        assert {s.res_id: s.version_id for s, _ in first + rest} == {"p0": 1, "p3": 2, "p4": 4, "p5": 1, "p6": 1}
        # The total comes with the rows; past the last match, or walking back, it is the same.
        beyond, total = session.search_page("Patient", by_name("hans"), (), Page(after=rest[-1][1]), with_total=True)
        assert beyond == [] and total == 5
        back, total = session.search_page(
            "Patient", by_name("hans"), (), Page(before=rest[-1][1], limit=2), with_total=True
        )
        assert [s.res_id for s, _ in back] == ["p4", "p5"] and total == 5
        none, total = session.search_page("Patient", by_name("xyz"), (), Page(), with_total=True)
        assert none == [] and total == 0
        newest_first = SortExpression("r.last_updated", (), descending=True)
        by_time, _ = session.search_page("Patient", by_name("hans"), [newest_first], Page(limit=10))
        assert [s.res_id for s, _ in by_time][0] == "p4"
        assert sorted(s.res_id for s, _ in by_time) == expected


def test_the_api_answers_the_same_either_way(service: FhirService) -> None:
    for n in range(4):
        write(service, "update", f"q{n}", f"Ørsted{n}")
    write(service, "delete", "q1")

    def ids(*params: tuple[str, str]) -> tuple[list[str], int]:
        answer = service.handle(FhirRequest("search", "Patient", params=list(params), principal=OPERATOR))
        bundle = orjson.loads(orjson.dumps(answer.resource))  # entries hold the stored JSON as is
        return [e["resource"]["id"] for e in bundle.get("entry", [])], bundle["total"]

    assert ids(("name", "ørsted")) == (["q0", "q2", "q3"], 3)
    assert ids(("name", "ørsted"), ("_sort", "-_lastUpdated")) == (["q3", "q2", "q0"], 3)
    assert ids(("name", "ørsted"), ("_count", "1")) == (["q0"], 3)
