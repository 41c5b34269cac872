"""The node's health probes as `serve` runs them (issue 23, status/watch.py): which probes a node
runs by its role and settings, wired to what only the web layer holds — the site node's
replication status, the centre's record of when each site last called, and the status board that
shows what they find."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lifeline.clock import epoch_clock
from lifeline.config import Settings
from lifeline.identity.sites import list_sites
from lifeline.identity.state import NodeState
from lifeline.replication import contacts
from lifeline.status import probes, synthetic
from lifeline.status.board import board_of
from lifeline.status.probes import Probe
from lifeline.status.watch import Watch

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService
    from lifeline.replication.site import SiteNode


def front_door(settings: Settings) -> str:
    """Where the synthetic probe knocks: the public base URL's origin if set, else this server."""
    if settings.base_url:
        parts = urlsplit(settings.base_url)
        return f"{parts.scheme}://{parts.netloc}"
    host = settings.host if settings.host not in ("", "0.0.0.0", "::", "[::]") else "127.0.0.1"
    return f"http://{host if ':' not in host or host.startswith('[') else f'[{host}]'}:{settings.port}"


def claims(state: NodeState, name: str, keep_seconds: float) -> Callable[[int], bool]:
    """Round N's claim in node_state: True for the one server process of the node that took it."""

    def claim(round_: int) -> bool:
        now = epoch_clock()
        return state.add(f"{name}:{round_}", os.getpid(), now + keep_seconds, now)

    return claim


def node_probes(service: FhirService, site: SiteNode | None) -> list[Probe]:
    settings, repo = service.settings, service.repo
    found: list[Probe] = [
        probes.database(repo),
        probes.login_failures(repo, settings.node_id, settings.login_failures_alarm, service.clock),
        probes.clock(service.identity.skew, settings.clock_skew_seconds),
    ]
    if site is not None:
        found.append(probes.centre(site.status, settings.replication_stall_seconds))
    else:
        heard = contacts.of(settings.node_id, repo)
        active = lambda: [s.site_id for s in list_sites(repo) if s.active]  # noqa: E731
        found.append(probes.silent_sites(heard.last, active, settings.site_silent_seconds, epoch_clock, heard.began))
    if settings.probe_user:
        user = settings.probe_user

        def account() -> synthetic.Credentials | None:
            return synthetic.credentials(repo, service.identity.kek, user, epoch_clock())

        claim = claims(NodeState(repo), "status-synthetic-round", 120)  # one login per TOTP step on the node
        door, alone = front_door(settings), settings.workers <= 1  # one process: nothing to share
        probe = synthetic.SyntheticProbe(
            door, account, code_clock=service.identity.skew.peer_time, claim=(lambda round_: True) if alone else claim
        )
        found.append(probe)
    return found


def watch_for(service: FhirService, site: SiteNode | None) -> Watch | None:
    """The node's watch, shown on its status board; None when LIFELINE_PROBE_SECONDS is 0."""
    if service.settings.probe_seconds <= 0:
        return None
    board = board_of(str(service.settings.node_id))
    state, every = NodeState(service.repo), service.settings.probe_seconds

    claim = claims(state, "status-watch-round", 3 * every)  # one server process of the node per round

    def streaks() -> dict[str, int]:
        found = state.get("status-probe-streaks", epoch_clock())
        return {str(k): int(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def keep_streak(streaks: dict[str, int]) -> None:
        state.put("status-probe-streaks", streaks)

    # The claims and the shared streaks are for a node of several server processes; one process
    # (every site node) keeps them in memory, and writes nothing each round.
    shared = service.settings.workers > 1
    watch = Watch(
        service.repo,
        node_probes(service, site),
        every_seconds=service.settings.probe_seconds,
        clock=service.clock,
        on_change=board.forget if board is not None else (lambda: None),
        claim=claim if shared else (lambda round_: True),
        node_id=str(service.settings.node_id),
        streaks=streaks if shared else None,
        keep_streak=keep_streak if shared else None,
    )
    if board is not None:
        board.held = watch.unrecorded_incidents
    return watch
