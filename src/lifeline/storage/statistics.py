"""The planner's statistics, kept current by the node itself (issue 27).

Writes through the API into a fresh PostgreSQL left the planner believing the resource table held
2 rows (autovacuum was off, as on many managed or busy servers, and as after any large load
before it catches up): each existing-version lookup scanned its whole type, and the load slowed
from 500 to 90 resources a second. A serving node therefore looks every `EVERY_SECONDS` at which
record tables changed enough since their statistics were taken and analyzes those
(`Repository.refresh_statistics`: autovacuum's own rule, on both backends). Bulk loads and
reindexing analyze at their end as before.

The look is cheap (PostgreSQL's own counters, or SQLite's largest rowids) and a table analyzed
lately waits ANALYZE_AGAIN_SECONDS, so it runs often: a load into a fresh node, whose start
analyzed nearly empty tables, ran at half speed for the minute a 60 s round left it planning for
2 rows (bench/skew.py). Each process of `serve --workers N` runs a keeper; on PostgreSQL one
round at a time analyzes, under an advisory lock, and a round that finds it taken skips.
"""

from __future__ import annotations

import logging

from lifeline.rounds import Rounds
from lifeline.storage.repository import Repository

log = logging.getLogger("lifeline.storage")

EVERY_SECONDS = 10.0


class StatisticsKeeper(Rounds):
    """A background thread refreshing `repo`'s stale statistics every `every_seconds`."""

    def __init__(self, repo: Repository, every_seconds: float = EVERY_SECONDS) -> None:
        self.repo = repo
        self.refreshed: list[str] = []  # the tables of the last round that found any
        failed = "the planner's statistics could not be refreshed"
        super().__init__("lifeline-statistics", self._refresh, every_seconds, log, failed)

    def _refresh(self) -> None:
        done = self.repo.refresh_statistics()
        if done:
            self.refreshed = done
            log.info("planner statistics refreshed: %s", ", ".join(done))
