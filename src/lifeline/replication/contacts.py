"""When the centre last heard from each site node (issue 23): every call a proven site makes to
the replication API — its polls come every LIFELINE_REPLICATION_POLL_MS — marks the site as heard.
The health probe `silent_sites` (status/probes.py) opens an incident for a site not heard from
within LIFELINE_SITE_SILENT_SECONDS.

The centre may run several server processes, each hearing its share of the polls, and one of them
runs a round of probes (status/watch.py): so the time is also kept in `node_state`
(`site-heard:<site>`), written at most once every `PERSIST_SECONDS` per site and process — a small
write a second per site, where a write per poll would be four."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from lifeline.clock import epoch_clock
from lifeline.identity.state import NodeState
from lifeline.storage.repository import Repository

log = logging.getLogger("lifeline.replication")
PERSIST_SECONDS = 1.0
KEY = "site-heard:"


class SiteContacts:
    def __init__(self, repo: Repository | None = None, clock: Callable[[], float] = epoch_clock) -> None:
        self.state = NodeState(repo) if repo is not None else None
        self.clock = clock
        self.began = clock()  # when this process began listening
        self._last: dict[str, float] = {}
        self._kept: dict[str, float] = {}
        self._lock = threading.Lock()

    def heard(self, site_id: str) -> None:
        now = self.clock()
        with self._lock:
            self._last[site_id] = now
            keep = self.state is not None and now - self._kept.get(site_id, 0.0) >= PERSIST_SECONDS
            if keep:
                self._kept[site_id] = now
        if keep and self.state is not None:
            try:
                self.state.put(KEY + site_id, now)
            except Exception:  # noqa: BLE001 - the site's call is answered all the same
                log.warning("could not keep when %s was last heard", site_id, exc_info=True)

    def last(self, sites: Sequence[str] = ()) -> dict[str, float]:
        """Each site's last call (epoch seconds), as heard here or by another process of the node."""
        with self._lock:
            found = dict(self._last)
        if self.state is not None:
            now = self.clock()
            for site in sites:
                kept = self.state.get(KEY + site, now)
                if isinstance(kept, int | float) and kept > found.get(site, 0.0):
                    found[site] = float(kept)
        return found


_BY_NODE: dict[tuple[str, int], SiteContacts] = {}


def of(node_id: str, repo: Repository) -> SiteContacts:
    """The contacts the centre `node_id` keeps in this process, in `repo`."""
    key = (node_id, id(repo))
    found = _BY_NODE.get(key)
    if found is None:
        found = _BY_NODE.setdefault(key, SiteContacts(repo))
    return found
