"""Work that arrives while the database is busy travels together, in one round trip.

Under load a server process has many requests waiting on the database at once, and much of
each one's cost is the trip rather than the work: the driver sending a statement and taking its
answer, the database receiving and running one statement, a commit. `Gatherer` keeps at most
`in_flight` trips running per event loop. An item that finds a free slot is sent at once (with
one client, nothing waits); items that arrive while every slot is busy wait for the next free
one and then go together. So the groups grow with the load, by themselves, and no item waits
longer than one trip ahead of it. Every item of a group was submitted before the group's trip
began, so each sees everything committed before it was submitted.

Used for reads by id (storage/read_batch.py), plain creates (storage/postgres.py) and the API's
audit records on PostgreSQL (audit/recorder.py, one append in flight per event loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Gatherer(Generic[Item, Result]):
    def __init__(
        self,
        run: Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]],
        *,
        in_flight: int = 2,
        most: int = 64,
    ) -> None:
        """`run` takes a group of items on one trip and answers each, in order: its result, or
        the error that item alone gets. An error raised by `run` fails the whole group."""
        self._run = run
        self._in_flight = in_flight
        self._most = most  # items in one group at most
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()  # held, so that a running group is never collected

    async def submit(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((item, future))
        if self._running < self._in_flight:
            self._running += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        """Send what is waiting, in groups, until nothing is; then free the slot."""
        try:
            while self._waiting:
                group, self._waiting = self._waiting[: self._most], self._waiting[self._most :]
                try:
                    results = await self._run([item for item, _ in group])
                except BaseException as error:  # noqa: BLE001 - every item of the group gets it
                    results = [error] * len(group)
                    if not isinstance(error, Exception):
                        _answer(group, results)
                        raise
                _answer(group, results)
        finally:
            self._running -= 1


def _answer(group: list[tuple[Item, asyncio.Future[Result]]], results: Sequence[Result | BaseException]) -> None:
    for (_, future), result in zip(group, results, strict=True):
        if future.done():
            continue  # its caller went away
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
