"""Reads by id that arrive while the database is busy go together, as one query for all their
ids (storage/gather.py has the rule). Most of a read's cost under load was the trip, not the
lookup: sharing it almost doubled PostgreSQL reads under 16 clients (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from lifeline.errors import BadRequest
from lifeline.storage.gather import Gatherer

Key = tuple[str, str]  # (resource type, id)
Found = TypeVar("Found")


class ReadBatcher(Generic[Found]):
    def __init__(
        self,
        fetch: Callable[[Sequence[Key]], Awaitable[dict[Key, Found]]],
        *,
        in_flight: int = 2,
        most: int = 64,
    ) -> None:
        """`fetch` reads a group of keys in one query: what it found, by key (a key not found is
        absent)."""
        self._fetch = fetch
        self._gatherer: Gatherer[Key, Found | None] = Gatherer(self._run, in_flight=in_flight, most=most)

    async def read(self, key: Key) -> Found | None:
        return await self._gatherer.submit(key)

    async def _run(self, keys: list[Key]) -> list[Found | None | BaseException]:
        unique = list(dict.fromkeys(keys))  # an id asked twice is read once
        try:
            found = await self._fetch(unique)
        except BadRequest:
            if len(unique) == 1:
                raise
            # A value the database refused is one reader's mistake: each is read alone, so the
            # others get their answers and that reader its error.
            alone = await asyncio.gather(*(self._fetch([key]) for key in unique), return_exceptions=True)
            answers = {
                key: a if isinstance(a, BaseException) else a.get(key) for key, a in zip(unique, alone, strict=True)
            }
            return [answers[key] for key in keys]
        return [found.get(key) for key in keys]
