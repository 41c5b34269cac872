"""Reads by id that arrive while the database is busy travel together, in one query.

A read by id is the API's most frequent request, and most of its cost is not the lookup but the
trip: the driver's work to send a statement and take its answer, and the database's work to
receive, execute and answer one statement. Under load, a server process has many reads waiting
at once; sending them one statement each pays that trip for every one.

`ReadBatcher` keeps at most `in_flight` queries running per event loop. A read that finds a
free slot is sent at once (with one client, nothing waits); reads that arrive while every slot
is busy wait for the next free one and then go together, as one query for all their ids. So
the batches grow with the load, by themselves, and no read waits longer than one query ahead
of it. Every read in a batch was asked before that batch's query began, so each one sees every
write committed before it was asked: reading your own writes holds as it does one by one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Key = tuple[str, str]  # (resource type, id)
Found = TypeVar("Found")
# One query for a batch of keys: what it found, by key (a key not found is absent).
Fetch = Callable[[Sequence[Key]], Awaitable[dict[Key, Found]]]  # noqa: UP040


class ReadBatcher(Generic[Found]):
    def __init__(self, fetch: Fetch, *, in_flight: int = 2, most: int = 64) -> None:
        self._fetch = fetch
        self._in_flight = in_flight
        self._most = most  # ids in one query at most
        self._waiting: dict[Key, list[asyncio.Future[Found | None]]] = {}
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()  # held, so that a running batch is never collected

    async def read(self, key: Key) -> Found | None:
        future: asyncio.Future[Found | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._running < self._in_flight:
            self._running += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        """Send what is waiting, in batches, until nothing is; then free the slot."""
        try:
            while self._waiting:
                batch = self._take()
                try:
                    found = await self._fetch(list(batch))
                except BaseException as error:  # noqa: BLE001 - every reader of the batch gets it
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                for key, futures in batch.items():
                    value = found.get(key)
                    for future in futures:
                        if not future.done():
                            future.set_result(value)
        finally:
            self._running -= 1

    def _take(self) -> dict[Key, list[asyncio.Future[Found | None]]]:
        if len(self._waiting) <= self._most:
            batch, self._waiting = self._waiting, {}
            return batch
        keys = list(self._waiting)[: self._most]
        return {key: self._waiting.pop(key) for key in keys}
