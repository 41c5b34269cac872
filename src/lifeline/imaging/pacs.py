"""The DICOMweb client: what Lifeline asks of a PACS, and nothing else.

The proxy's calls (rendered frames, QIDO lists, metadata) pass bytes through an async httpx
client with keep-alive, so a scrolling viewer costs one short request per frame. The loader's
and a site's bulk calls (STOW-RS, WADO-RS retrieve, QIDO by study) use dicomweb-client, the
DICOMweb library of the Imaging Data Commons, which speaks multipart/related both ways.
DICOM PS3.18: https://dicom.nema.org/medical/dicom/current/output/html/part18.html
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from lifeline.errors import BadRequest, Issue, NotFound, StorageUnavailable, Unprocessable

# A DICOM UID: dot-separated numbers, at most 64 characters (PS3.5 9.1).
UID = re.compile(r"[0-9]+(\.[0-9]+)*")
# What the viewer may ask of a rendered frame (PS3.18 8.3.5.1): nothing else reaches the PACS.
_WINDOW = re.compile(r"-?[0-9]+(\.[0-9]+)?,[0-9]+(\.[0-9]+)?(,(linear|sigmoid))?")
_VIEWPORT = re.compile(r"[0-9]{1,4},[0-9]{1,4}")
RENDERED_TYPES = ("image/jpeg", "image/png")


class PacsDown(StorageUnavailable):
    """The PACS did not answer in time, refused the connection, or failed (5xx)."""


class PacsRefused(Unprocessable):
    """The PACS answered, and refused what was sent (a STOW-RS failure)."""


def checked_uid(text: str, what: str = "Study Instance UID") -> str:
    if len(text) > 64 or not UID.fullmatch(text):
        raise BadRequest(f"{text[:80]!r} is not a DICOM {what} (digits and dots, at most 64 characters)")
    return text


def rendered_params(params: dict[str, str]) -> dict[str, str]:
    """The rendered-frame parameters the proxy passes on, each checked; anything else is refused."""
    allowed: dict[str, str] = {}
    for name, value in params.items():
        if name == "window" and _WINDOW.fullmatch(value):
            allowed[name] = value if value.count(",") == 2 else f"{value},linear"
        elif name == "viewport" and _VIEWPORT.fullmatch(value):
            allowed[name] = value
        elif name == "quality" and value.isdecimal() and 1 <= int(value) <= 100:
            allowed[name] = value
        else:
            raise BadRequest(
                f"the rendered image's parameter {name}={value[:40]!r} is not understood: use"
                " window=<centre>,<width>[,linear], viewport=<width>,<height> or quality=1..100"
            )
    return allowed


@dataclass
class Answer:
    """What the PACS answered, to pass on as it is."""

    body: bytes
    media_type: str


@dataclass
class Pacs:
    """One PACS by its DICOMweb base URL (Orthanc: http://host:8042/dicom-web)."""

    base: str
    timeout: float = 5.0
    _async: httpx.AsyncClient | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.base = self.base.rstrip("/")

    @property
    def name(self) -> str:
        return httpx.URL(self.base).netloc.decode()

    # The proxy's calls: bytes through, on the event loop.

    async def get(self, path: str, params: dict[str, str], accept: str) -> Answer:
        """`path` under the DICOMweb base (already checked by the caller), as the PACS answers it."""
        # Orthanc reads `window=40,400,linear` only with its commas as they are.
        url = f"{self.base}{path}" + (f"?{urlencode(params, safe=',')}" if params else "")
        try:
            if self._async is not None:
                response = await self._async.get(url, headers={"accept": accept})
            else:  # no pool outside a running node (a test's app without its lifespan)
                async with httpx.AsyncClient(timeout=httpx.Timeout(self.timeout)) as client:
                    response = await client.get(url, headers={"accept": accept})
        except httpx.HTTPError as error:
            raise self.down(error) from None
        if response.status_code == 404:
            raise NotFound(f"the image store ({self.name}) does not hold {path}")
        if response.status_code >= 500 or response.status_code in (401, 403):
            raise self.down(f"it answered {response.status_code}")
        if response.status_code >= 400:
            raise Unprocessable(f"the image store ({self.name}) refused {path}: {response.status_code}")
        media_type = response.headers.get("content-type", accept).split(";")[0].strip()
        return Answer(response.content, media_type)

    def open(self) -> None:
        """Keep connections to the PACS open between calls (the node's lifespan: `aclose`)."""
        limits = httpx.Limits(max_keepalive_connections=32, max_connections=64)
        self._async = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), limits=limits)

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None

    def down(self, why: object) -> PacsDown:
        what = type(why).__name__ if isinstance(why, Exception) else str(why)
        return PacsDown(
            f"The image store ({self.name}) did not answer ({what}); images cannot be shown or stored until"
            " it does. The reports and the rest of the record are not affected."
        )

    # The loader's and a site's calls: blocking, in bulk.

    def client(self) -> Any:
        from dicomweb_client.api import DICOMwebClient

        client = DICOMwebClient(self.base, timeout=self.timeout)
        client.set_http_retry_params(retry=False)  # a PACS that is down is said at once, not retried
        return client

    def holds(self, study: str) -> int:
        """How many instances of `study` the PACS holds (0: none)."""
        import requests

        try:
            found = self.client().search_for_instances(study_instance_uid=study, fields=["00080018"])
        except requests.HTTPError as error:
            if error.response is not None and error.response.status_code == 404:
                return 0
            raise self.down(error) from None
        except requests.RequestException as error:
            raise self.down(error) from None
        return len(found or [])

    def store(self, datasets: Sequence[Any]) -> None:
        """STOW-RS `datasets` (pydicom Datasets of one study) in one request; refused: PacsRefused."""
        import requests

        for dataset in datasets:  # Part 10 files, as WADO-RS will give them back: with their preamble
            if getattr(dataset, "preamble", None) is None:
                dataset.preamble = b"\0" * 128
        try:
            answer = self.client().store_instances(list(datasets))
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else 0
            if status >= 500 or status == 0:
                raise self.down(f"it answered {status}") from None
            raise PacsRefused(
                f"the image store ({self.name}) refused the study: {status}",
                [Issue("error", "processing", error.response.text[:300] if error.response is not None else "")],
            ) from None
        except requests.RequestException as error:
            raise self.down(error) from None
        failed = answer.get("FailedSOPSequence") if answer is not None else None
        if failed:
            raise PacsRefused(f"the image store ({self.name}) refused {len(failed)} of the study's instances")

    def retrieve(self, study: str) -> Iterator[Any]:
        """The instances of `study`, as pydicom Datasets (WADO-RS retrieve, streamed)."""
        import requests

        try:
            yield from self.client().iter_study(study)
        except requests.HTTPError as error:
            if error.response is not None and error.response.status_code == 404:
                raise NotFound(f"the image store ({self.name}) does not hold study {study}") from None
            raise self.down(error) from None
        except requests.RequestException as error:
            raise self.down(error) from None
