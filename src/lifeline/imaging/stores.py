"""The image stores a node asks, in order: a site its own copies first (imaging/copies.py), then
the region's PACS; the centre the region's PACS alone.

A store that did not answer is passed over for `RESTING_SECONDS`, so a cut-off hospital's viewer
does not wait for the region's PACS on every frame; a study the site holds no copy of, while the
region's PACS is out of reach, is "not available at this hospital" (503, said in those words).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lifeline.clock import epoch_clock
from lifeline.config import Settings
from lifeline.errors import NotFound, StorageUnavailable
from lifeline.imaging.pacs import Answer, Pacs, PacsDown

RESTING_SECONDS = 10.0
NOT_HERE = (
    "This study is not kept at this hospital, and the region's image store cannot be reached now."
    " The report is in the chart; the images can be seen when the connection is back."
)


@dataclass
class Stores:
    """The stores to ask, the nearest first; `local` is a site's own (None at the centre)."""

    region: Pacs | None
    local: Pacs | None = None
    _resting: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: Settings) -> Stores:
        timeout = settings.pacs_timeout_ms / 1000
        region = Pacs(settings.pacs_url, timeout) if settings.pacs_url else None
        local = Pacs(settings.site_pacs_url, timeout) if settings.site_pacs_url else None
        return cls(region, local)

    @property
    def configured(self) -> bool:
        return self.region is not None or self.local is not None

    def ordered(self) -> list[Pacs]:
        return [pacs for pacs in (self.local, self.region) if pacs is not None]

    async def get(self, path: str, params: dict[str, str], accept: str) -> Answer:
        """The first store's answer that holds `path` (`/studies/...`, checked by the caller):
        NotFound in one store asks the next."""
        if not self.configured:
            raise StorageUnavailable("This node has no image store (LIFELINE_PACS_URL); the images cannot be shown.")
        down: PacsDown | None = None
        missing: NotFound | None = None
        now = epoch_clock()
        for pacs in self.ordered():
            if self._resting.get(pacs.base, 0.0) > now:
                down = pacs.down(f"not a moment ago either; asked again within {RESTING_SECONDS:.0f} s")
                continue
            try:
                return await pacs.get(path, params, accept)
            except PacsDown as error:
                self._resting[pacs.base] = epoch_clock() + RESTING_SECONDS
                down = error
            except NotFound as error:
                if pacs is self.region:
                    raise  # the region's PACS holds every study: its "not found" is final
                missing = error
        if down is not None:
            # A site whose own copy is missing (or whose own store is down) and the region out of reach.
            raise StorageUnavailable(NOT_HERE) if self.local is not None else down
        raise missing or NotFound(path)

    def availability(self, study: str) -> str:
        """Where `study`'s images can be seen from this node, for the pages (blocking; a worker
        thread): "here" (this site's copy), "region" (the region's PACS holds it), "missing" (a
        PACS answered and holds none), "unreachable" (a site: neither its copy nor the region's PACS
        answers), "down" (the centre: the region's PACS does not answer), or "none" (this node has
        no image store)."""
        if not self.configured:
            return "none"
        answered = False
        for pacs in self.ordered():
            if self._resting.get(pacs.base, 0.0) > epoch_clock():
                continue
            try:
                held = pacs.holds(study)
            except PacsDown:
                self._resting[pacs.base] = epoch_clock() + RESTING_SECONDS
                continue
            answered = True
            if held:
                return "here" if pacs is self.local else "region"
        if answered:
            return "missing"
        return "unreachable" if self.local is not None else "down"

    def open(self) -> None:
        for pacs in self.ordered():
            pacs.open()

    async def aclose(self) -> None:
        for pacs in self.ordered():
            await pacs.aclose()
