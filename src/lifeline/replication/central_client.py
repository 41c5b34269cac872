"""A site node's line to the centre: the replication API, with the site's credential."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

_BULK_CHANGES = 100
_BULK_TIMEOUT_SECONDS = 60.0


class CentralUnreachable(Exception):
    """The centre did not answer (refused, timed out, cut, overloaded, or answered 5xx)."""


class CentralRefused(Exception):
    """The centre answered, and said no: the site's credential is wrong or revoked."""


class CentralClient:
    def __init__(self, url: str, credential: str, *, timeout: float) -> None:
        self.url = url.rstrip("/")
        # Probes and a clinician's write wait `timeout`, so a dead centre is noticed at once; the
        # bulk work of healing (a thousand changes a request) may take longer, and a timeout there
        # would only make the site send the same work again.
        self._bulk_timeout = httpx.Timeout(max(timeout, _BULK_TIMEOUT_SECONDS))
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(timeout),
            headers={"authorization": f"Bearer {credential}", "accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def changes(self, after: int, limit: int, *, bulk: bool = False, lean: bool = False) -> dict[str, Any]:
        """A feed page; `bulk` (a site catching up) waits as long as a big page may take; `lean`:
        this site's own changes without their content (replication/feed.py)."""
        params = {"after": after, "limit": limit, **({"lean": 1} if lean else {})}
        return self._call("GET", "/replication/changes", params=params, bulk=bulk)

    def compartment(self, patient: str) -> dict[str, Any]:
        return self._call("GET", "/replication/compartment", params={"patient": patient}, bulk=True)

    def push(self, stream: str, changes: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
        """Each change's outcome at the centre, and its stamp there (replication/replay.py)."""
        body = {"stream": stream, "changes": changes}
        answer = self._call("POST", "/replication/outbox", body=body, bulk=len(changes) >= _BULK_CHANGES)
        outcomes: list[str] = answer["outcomes"]
        stamps: list[str | None] = answer.get("stamps") or [None] * len(outcomes)
        if len(stamps) != len(outcomes):
            raise CentralUnreachable("the centre answered with a stamp list of another length")
        return list(zip(outcomes, stamps, strict=True))

    def audit_head(self) -> int:
        return int(self._call("GET", "/replication/audit")["seq"])

    def push_audit(self, rows: list[dict[str, Any]]) -> int:
        body = {"records": rows}
        return int(self._call("POST", "/replication/audit", body=body, bulk=len(rows) >= _BULK_CHANGES)["seq"])

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        bulk: bool = False,
    ) -> dict[str, Any]:
        try:
            response = self._http.request(
                method,
                path,
                params=params,
                timeout=self._bulk_timeout if bulk else httpx.USE_CLIENT_DEFAULT,
                content=None if body is None else orjson.dumps(body),
                headers=None if body is None else {"content-type": "application/json"},
            )
        except httpx.HTTPError as error:
            raise CentralUnreachable(f"{type(error).__name__}: {error}") from error
        if response.status_code >= 500:
            raise CentralUnreachable(f"the centre answered {response.status_code}")
        if response.status_code in (401, 403):
            raise CentralRefused(f"the centre refused this site ({response.status_code}): {_text(response)}")
        if response.status_code != 200:
            raise CentralRefused(f"the centre answered {response.status_code}: {_text(response)}")
        try:
            answer: dict[str, Any] = orjson.loads(response.content)
        except orjson.JSONDecodeError as error:
            raise CentralUnreachable("the centre's answer was cut short") from error
        return answer


def _text(response: httpx.Response) -> str:
    try:
        issues = orjson.loads(response.content).get("issue", [])
        return "; ".join(str(i.get("diagnostics", "")) for i in issues) or response.text[:200]
    except (orjson.JSONDecodeError, AttributeError):
        return response.text[:200]
