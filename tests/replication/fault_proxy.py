"""A fault-injecting TCP proxy for the replication fault-injection tests.

Replication has to survive the network between a site and the centre failing in the ways real
networks fail: a cut cable (connections reset), a firewall silently eating packets (a blackhole),
a route that works one way only, a slow satellite link, a lossy radio link. `FaultProxy` sits
between a test's client and a real server on loopback and lets the test switch those faults on
and off at any moment, including for connections that are already open, so the tests exercise
the code paths a unit-level fake never reaches (half-written requests, timeouts, retries).

Design:

- One asyncio event loop in one daemon thread serves every connection, so faults can be applied
  to all connections atomically from the loop (no per-connection thread races).
- Each accepted client connection gets a fresh connection to the target, and each direction of
  the pair is a reader task feeding a bounded queue and a writer task draining it. The queue is
  what lets latency be pipelined (like a real link, a slow link delays bytes, it does not
  serialize them) while bounding memory through TCP back-pressure.
- The fault controls are called from the test thread; they swap an immutable `_Faults` snapshot
  and then run the change on the loop and wait for it (with a timeout), so when `cut()` returns,
  every connection open at that moment has already been reset.
- Everything is bounded: every thread is a daemon and `stop()` joins it with a timeout; loop waits
  either have timeouts or are cancelled by `stop()`; only loopback addresses are accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import random
import socket
import struct
import threading
from types import TracebackType
from typing import Literal, Self

Direction = Literal["to_target", "to_client"]
CutMode = Literal["reset", "blackhole"]

DIRECTIONS: tuple[Direction, ...] = ("to_target", "to_client")

# How much one read takes from a socket; also the unit the fault emulation works in ("a chunk").
_CHUNK_BYTES = 64 * 1024
# Chunks buffered per direction before the reader stops reading (TCP back-pressure to the sender).
_QUEUE_CHUNKS = 16
# How long the proxy tries to reach the target before it resets the client's connection.
_CONNECT_TIMEOUT_SECONDS = 5.0
# How long a fault control or start() waits for the loop thread to act.
_CONTROL_TIMEOUT_SECONDS = 5.0
# How long stop() waits for the loop thread, and the loop for connections to close gracefully.
_STOP_TIMEOUT_SECONDS = 5.0
_CLOSE_TIMEOUT_SECONDS = 1.0
# Waiters wake on every fault change; this is only a safety net so no wait is ever open-ended.
_RECHECK_SECONDS = 1.0
# The extra delay a "lost" chunk gets under lossy(): roughly TCP's minimum retransmission timeout.
DEFAULT_RETRANSMIT_DELAY_SECONDS = 0.2
# SO_LINGER on, timeout 0: close() then sends a RST instead of a FIN, which is what a client of a
# cut network sees (a connection error), not a clean end of stream it could mistake for success.
_LINGER_RESET = struct.pack("ii", 1, 0)


@dataclasses.dataclass(frozen=True)
class _Faults:
    """The faults in force. Immutable, so the loop thread can read it without a lock while the
    test thread swaps in a new one."""

    cut: CutMode | None = None
    dropped: frozenset[Direction] = frozenset()
    latency: float = 0.0
    bandwidth: int | None = None
    drop_probability: float = 0.0
    retransmit_delay: float = DEFAULT_RETRANSMIT_DELAY_SECONDS


@dataclasses.dataclass
class FaultProxyStats:
    """Counters a test can assert on, to prove a fault really happened (rather than, say, the
    client failing for an unrelated reason). `FaultProxy.stats` returns a snapshot copy."""

    connections_accepted: int = 0
    bytes_to_target: int = 0
    bytes_to_client: int = 0
    # Bytes discarded by cut_one_way().
    bytes_dropped: int = 0
    # Connections the proxy reset because of a fault: cut(), lossy().
    connections_reset: int = 0
    # Client connections reset because the target could not be reached (not a fault).
    target_connect_failures: int = 0


@dataclasses.dataclass(frozen=True)
class _Chunk:
    """Bytes read from one side, stamped with when they arrived so the writer can apply the
    latency in force when it delivers them (heal() then releases held bytes at once). `eof` marks
    the end of the stream (a FIN), which is delayed and dropped like data."""

    arrived: float
    data: bytes
    extra_delay: float = 0.0
    eof: bool = False


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close a connection with a RST, as a cut network would make it look to the peer."""
    transport = writer.transport
    if transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


class _Link:
    """One proxied connection: the client's side and, once connected, the target's side."""

    def __init__(self, client_writer: asyncio.StreamWriter) -> None:
        self.writers: list[asyncio.StreamWriter] = [client_writer]
        self.task: asyncio.Task[None] | None = asyncio.current_task()
        self.aborted = False

    def abort(self) -> None:
        """Reset both sides and stop the link's tasks. Idempotent."""
        if self.aborted:
            return
        self.aborted = True
        for writer in self.writers:
            _reset(writer)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def add_target(self, writer: asyncio.StreamWriter) -> None:
        """Record the target side; if the link was aborted while connecting, reset it at once."""
        self.writers.append(writer)
        if self.aborted:
            _reset(writer)


def _require_loopback(host: str, what: str) -> None:
    """Only loopback: the proxy is a test tool and must never forward to, or listen on, a network."""
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{what} must be a loopback address, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"{what} must be a loopback address, not {host!r}")


class FaultProxy:
    """A TCP proxy on an ephemeral loopback port that forwards to `target_host:target_port` and
    injects network faults on demand.

    Fault controls (callable at any time from the test thread; each takes effect immediately, for
    open connections as well as new ones, and composes with the others until `heal()`):

    - `cut()`: the network is cut both ways. Open connections are reset (RST to both peers); new
      connections are accepted and reset at once, so a client fails fast with a connection error.
    - `cut(mode="blackhole")`: connections stay open (new ones are accepted but not connected to
      the target) and no bytes flow either way, so a client times out. The bytes are held, not
      lost: like TCP retransmitting across an outage, they are delivered after `heal()`.
    - `cut_one_way(direction)`: bytes (and the end-of-stream) going `"to_target"` or
      `"to_client"` are silently discarded; the other direction still flows.
    - `slow(latency, bandwidth)`: every chunk is delivered `latency` seconds after it arrived, in
      each direction (pipelined, as on a real link), and optionally at most `bandwidth` bytes/s.
    - `lossy(p, seed)`: see `lossy()` for how packet loss is emulated on top of TCP.
    - `heal()`: all faults are removed; held bytes are released.
    """

    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1") -> None:
        _require_loopback(target_host, "target_host")
        _require_loopback(listen_host, "listen_host")
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self._lock = threading.Lock()
        self._faults = _Faults()
        self._stats = FaultProxyStats()
        self._rng = random.Random(0)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._port: int | None = None
        # Set in the loop thread by _serve(); only touched there, except for thread-safe calls.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._changed: asyncio.Event | None = None
        self._links: set[_Link] = set()
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind an ephemeral port and serve in a background daemon thread. Returns self."""
        if self._thread is not None:
            raise RuntimeError("FaultProxy already started")
        self._ready.clear()
        self._startup_error = None
        self._port = None
        self._loop = None
        self._thread = threading.Thread(target=self._run_loop, name=f"fault-proxy->{self.target_port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(_CONTROL_TIMEOUT_SECONDS):
            raise RuntimeError("FaultProxy did not start in time")
        if self._startup_error is not None:
            self._thread.join(_STOP_TIMEOUT_SECONDS)
            raise RuntimeError("FaultProxy failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        """Reset every open connection, close the listener, stop the loop and join its thread.
        Idempotent. Raises if the thread does not finish in time, so a leak is not silent."""
        thread = self._thread
        if thread is None:
            return
        loop, stop_requested = self._loop, self._stop_requested
        if loop is not None and stop_requested is not None:
            with contextlib.suppress(RuntimeError):  # the loop already finished
                loop.call_soon_threadsafe(stop_requested.set)
        thread.join(_STOP_TIMEOUT_SECONDS)
        if thread.is_alive():
            raise RuntimeError("FaultProxy loop thread did not stop in time")
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The ephemeral port the proxy listens on."""
        if self._port is None:
            raise RuntimeError("FaultProxy not started")
        return self._port

    @property
    def url(self) -> str:
        """The proxy as an HTTP base URL, to hand to a client in place of the target's."""
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"http://{host}:{self.port}"

    @property
    def stats(self) -> FaultProxyStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return dataclasses.replace(self._stats)

    # -- fault controls ----------------------------------------------------------------------

    def cut(self, mode: CutMode = "reset") -> None:
        """Cut the network both ways: `"reset"` fails connections fast, `"blackhole"` hangs them."""
        if mode not in ("reset", "blackhole"):
            raise ValueError(f"unknown cut mode {mode!r}")
        self._update(cut=mode)

    def cut_one_way(self, direction: Direction) -> None:
        """Silently discard the bytes going in `direction` ("to_target" or "to_client")."""
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r}")
        with self._lock:  # read-modify-write under one lock: concurrent controls must not lose a fault
            self._faults = dataclasses.replace(self._faults, dropped=self._faults.dropped | {direction})
        self._apply()

    def slow(self, latency_seconds: float, bandwidth_bytes_per_second: int | None = None) -> None:
        """Delay every chunk by `latency_seconds` in each direction; optionally cap the bandwidth
        (each direction separately) at `bandwidth_bytes_per_second`."""
        if latency_seconds < 0:
            raise ValueError("latency_seconds must not be negative")
        if bandwidth_bytes_per_second is not None and bandwidth_bytes_per_second <= 0:
            raise ValueError("bandwidth_bytes_per_second must be positive")
        self._update(latency=latency_seconds, bandwidth=bandwidth_bytes_per_second)

    def lossy(
        self, drop_probability: float, seed: int = 0, retransmit_delay: float = DEFAULT_RETRANSMIT_DELAY_SECONDS
    ) -> None:
        """Emulate a lossy link, as the applications on top of TCP experience it.

        The proxy sees a byte stream, not packets, and TCP retransmits lost segments, so dropping
        bytes would emulate nothing real (it would corrupt the stream, which TCP never does).
        Loss shows to TCP users as two things, and that is what is emulated, per chunk read:

        - with probability `drop_probability`, the chunk is delayed by an extra
          `retransmit_delay` seconds (the retransmission timeout), and every later chunk in that
          direction waits behind it (head-of-line blocking, as in TCP);
        - with probability `drop_probability / 10`, the connection is reset (both peers get a
          RST), standing in for a connection that gives up after repeated losses.

        So a client sees correct bytes, late, or a connection error; never corrupted data.
        `seed` makes the sequence of decisions reproducible (for a given chunking of the traffic,
        which depends on timing, so it is reproducible in practice rather than guaranteed).
        """
        if not 0.0 <= drop_probability <= 1.0:
            raise ValueError("drop_probability must be between 0 and 1")
        if retransmit_delay < 0:
            raise ValueError("retransmit_delay must not be negative")
        with self._lock:
            self._rng = random.Random(seed)
        self._update(drop_probability=drop_probability, retransmit_delay=retransmit_delay)

    def heal(self) -> None:
        """Remove every fault; bytes held by a blackhole or latency are delivered at once."""
        with self._lock:
            self._faults = _Faults()
        self._apply()

    def _update(self, **changes: object) -> None:
        with self._lock:
            self._faults = dataclasses.replace(self._faults, **changes)  # type: ignore[arg-type]
        self._apply()

    def _apply(self) -> None:
        """Have the loop apply the faults now in force to open connections, and wait for that, so
        the caller can rely on the fault being in force when the control returns."""
        loop = self._loop
        if loop is None or self._thread is None:
            return  # not serving: the faults apply from start()
        if threading.current_thread() is self._thread:
            raise RuntimeError("fault controls are for the test thread, not the proxy's loop")
        apply = self._apply_faults()
        try:
            future = asyncio.run_coroutine_threadsafe(apply, loop)
        except RuntimeError:
            apply.close()  # never scheduled: close it so Python does not warn it was never awaited
            return  # the loop has stopped
        future.result(timeout=_CONTROL_TIMEOUT_SECONDS)

    # -- the loop thread ---------------------------------------------------------------------

    def _run_loop(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to start(), or re-raised to the thread hook: never lost
            if not self._ready.is_set():
                self._startup_error = error
                self._ready.set()
            else:
                raise

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        self._changed = asyncio.Event()
        self._stopping = False
        server = await asyncio.start_server(self._handle, self.listen_host, 0)
        try:
            self._port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop_requested.wait()  # bounded by stop(), which sets it
        finally:
            self._stopping = True
            server.close()
            links = list(self._links)
            for link in links:
                link.abort()
            tasks = [link.task for link in links if link.task is not None]
            if tasks:
                await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), _CLOSE_TIMEOUT_SECONDS)

    async def _apply_faults(self) -> None:
        """Runs on the loop: reset open connections if the network is now cut, and wake every
        waiter so held bytes re-check the faults now in force."""
        if self._faults.cut == "reset":
            for link in list(self._links):
                self._reset_by_fault(link)
        self._notify_changed()

    def _notify_changed(self) -> None:
        assert self._changed is not None
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_for_change(self, timeout: float) -> None:
        """Sleep until the faults change or `timeout` passes, whichever is first."""
        assert self._changed is not None
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), max(timeout, 0.0))

    async def _hold_while_blackholed(self) -> None:
        """Wait while the network is a blackhole; each pass waits at most _RECHECK_SECONDS, and the
        whole wait ends on heal(), another cut mode, or stop() (which cancels the task)."""
        while self._faults.cut == "blackhole" and not self._stopping:
            await self._wait_for_change(_RECHECK_SECONDS)

    def _reset_by_fault(self, link: _Link) -> None:
        if link.aborted:
            return
        with self._lock:
            self._stats.connections_reset += 1
        link.abort()

    def _count(self, field: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self._stats, field, getattr(self._stats, field) + amount)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        """One client connection, from accept to close. Never raises: an error on either side
        resets both, as it would look to the peers of a real network failure."""
        link = _Link(client_writer)
        self._links.add(link)
        self._count("connections_accepted")
        try:
            await self._proxy(link, client_reader)
        except asyncio.CancelledError:
            if not link.aborted:
                raise
        except OSError:
            link.abort()
        finally:
            self._links.discard(link)
            for writer in link.writers:
                writer.close()  # a no-op after a reset; keeps asyncio from warning otherwise

    async def _proxy(self, link: _Link, client_reader: asyncio.StreamReader) -> None:
        client_writer = link.writers[0]
        if self._stopping:
            link.abort()
            return
        # A blackholed network: the client's SYN is answered (by the kernel, via the listener)
        # but the target is not reached until the network heals.
        await self._hold_while_blackholed()
        if self._faults.cut == "reset":
            self._reset_by_fault(link)
            return
        try:
            target_reader, target_writer = await asyncio.wait_for(
                asyncio.open_connection(self.target_host, self.target_port), _CONNECT_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError):
            self._count("target_connect_failures")
            link.abort()
            return
        link.add_target(target_writer)
        if link.aborted:
            return
        pairs: tuple[tuple[Direction, asyncio.StreamReader, asyncio.StreamWriter], ...] = (
            ("to_target", client_reader, target_writer),
            ("to_client", target_reader, client_writer),
        )
        async with asyncio.TaskGroup() as group:
            for direction, source, destination in pairs:
                queue: asyncio.Queue[_Chunk] = asyncio.Queue(maxsize=_QUEUE_CHUNKS)
                group.create_task(self._read_side(link, source, queue))
                group.create_task(self._write_side(link, queue, destination, direction))
        # Both directions ended with an end-of-stream: close both sides cleanly.
        for writer in link.writers:
            writer.close()
        for writer in link.writers:
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), _CLOSE_TIMEOUT_SECONDS)

    async def _read_side(self, link: _Link, source: asyncio.StreamReader, queue: asyncio.Queue[_Chunk]) -> None:
        """Read one direction into its queue, deciding the lossy() fate of each chunk as it
        arrives. Ends at end-of-stream, on an error (resetting the link) or when cancelled."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await source.read(_CHUNK_BYTES)
                if not data:
                    await queue.put(_Chunk(arrived=loop.time(), data=b"", eof=True))
                    return
                faults = self._faults
                extra_delay = 0.0
                if faults.drop_probability > 0:
                    with self._lock:
                        give_up = self._rng.random() < faults.drop_probability / 10
                        lost = self._rng.random() < faults.drop_probability
                    if give_up:
                        self._reset_by_fault(link)
                        return
                    if lost:
                        extra_delay = faults.retransmit_delay
                await queue.put(_Chunk(arrived=loop.time(), data=data, extra_delay=extra_delay))
        except OSError:
            link.abort()

    async def _write_side(
        self, link: _Link, queue: asyncio.Queue[_Chunk], destination: asyncio.StreamWriter, direction: Direction
    ) -> None:
        """Deliver one direction's chunks in order, applying the faults in force at delivery."""
        try:
            while True:
                chunk = await queue.get()
                await self._hold_until_due(chunk)
                await self._hold_while_blackholed()
                if link.aborted:
                    return
                if direction in self._faults.dropped:
                    if chunk.eof:
                        return  # the end-of-stream is lost too: the peer just never hears more
                    self._count("bytes_dropped", len(chunk.data))
                    continue
                if chunk.eof:
                    if destination.can_write_eof():
                        destination.write_eof()
                    return
                await self._write_paced(destination, chunk.data, direction)
        except OSError:
            link.abort()

    async def _hold_until_due(self, chunk: _Chunk) -> None:
        """Wait until the chunk is due under the latency (and lossy delay) in force now. Re-checks
        on every fault change, so heal() or a new slow() applies to bytes already in flight; ends
        because time only moves forward."""
        loop = asyncio.get_running_loop()
        while True:
            faults = self._faults
            extra_delay = chunk.extra_delay if faults.drop_probability > 0 else 0.0
            remaining = chunk.arrived + faults.latency + extra_delay - loop.time()
            if remaining <= 0:
                return
            await self._wait_for_change(remaining)

    async def _write_paced(self, destination: asyncio.StreamWriter, data: bytes, direction: Direction) -> None:
        """Write, in slices of about 50 ms of traffic when a bandwidth cap is in force, so the cap
        is smooth rather than bursts of a whole chunk followed by silence."""
        field = "bytes_to_target" if direction == "to_target" else "bytes_to_client"
        offset = 0
        while offset < len(data):
            bandwidth = self._faults.bandwidth
            size = len(data) - offset if bandwidth is None else max(1, bandwidth // 20)
            piece = data[offset : offset + size]
            destination.write(piece)
            self._count(field, len(piece))  # counted once handed to the kernel
            await destination.drain()
            offset += len(piece)
            if bandwidth is not None:
                await asyncio.sleep(len(piece) / bandwidth)
