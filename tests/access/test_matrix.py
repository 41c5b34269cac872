"""The authorisation matrix of issue 19 ("How to prove it"): every principal of
matrix_table.PRINCIPALS × every interaction of INTERACTIONS, over every cell (resource type ×
owner × state) of the world of matrix_world, on both backends. One parametrized case is one
principal and one interaction; it checks every cell and reports every failing one, as
"principal × interaction × type × owner/state: what was observed".

The interactions that write come last in INTERACTIONS, so last in the run: the conditional writes
add resources of their own, and a patient's accepted change to their own Patient makes it
version 2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lifeline.fhir.service import FhirService
from tests.access import matrix_reads as reads
from tests.access import matrix_search as search
from tests.access import matrix_writes as writes
from tests.access.matrix_checks import Case, Findings, break_glass
from tests.access.matrix_table import PRINCIPALS, Who
from tests.access.matrix_world import World, build


@pytest.fixture(scope="module")
def matrix(client: Any, service: FhirService) -> World:
    world = build(client, service)
    for who in PRINCIPALS:
        if who.broke_glass_for:
            broken = break_glass(client, world.ids[who.broke_glass_for], who.headers(world, service))
            assert broken.status_code == 200, broken.text
    return world


INTERACTIONS: dict[str, Callable[[Case], None]] = {
    "read": reads.check_read,
    "vread": reads.check_vread,
    "instance-history": reads.check_instance_history,
    "type-history": reads.check_type_history,
    "system-history": reads.check_system_history,
    "search": search.check_search,
    "search-hidden-vs-absent": search.check_search_hidden_vs_absent,
    "system-search": search.check_system_search,
    "cursors": search.check_cursors,
    "everything": search.check_everything,
    "compartment": search.check_compartment,
    "batch": reads.check_batch,
    "transaction": reads.check_transaction,
    "protected": search.check_protected,
    "conditional": writes.check_conditional,
    "break-the-glass": writes.check_break_the_glass,
    "access-writes": writes.check_access_writes,
}
CASES = [(interaction, who) for interaction in INTERACTIONS for who in PRINCIPALS]


@pytest.mark.parametrize(("interaction", "who"), CASES, ids=[f"{i}-{w.name}" for i, w in CASES])
def test_authorisation_matrix(client: Any, service: FhirService, matrix: World, interaction: str, who: Who) -> None:
    headers = who.headers(matrix, service)
    if who.broke_glass_for:
        # The grant lasts hours of the service's clock, which ticks a second at every reading:
        # renewed before each case so that it never runs out halfway through the matrix.
        renewed = break_glass(client, matrix.ids[who.broke_glass_for], headers)
        assert renewed.status_code == 200, renewed.text
    case = Case(client, service, matrix, who, headers, Findings(who))
    INTERACTIONS[interaction](case)
    assert not case.findings.failures, "\n".join(case.findings.failures)
