"""A site node's line to the centre: the replication API, with the site's credential.

Every call carries an `X-Request-ID` (telemetry.py): the one of the context it is made in (a
clinician's request whose write goes through, or a poll round under `telemetry.correlated()`),
else a fresh one; the site logs it with the call's answer, the centre with its request line, so
the two logs join on it."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson

from lifeline import jsontext, telemetry

_BULK_CHANGES = 100
_BULK_TIMEOUT_SECONDS = 60.0
log = logging.getLogger("lifeline.replication.central")


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
        request_id = telemetry.current_request_id() or telemetry.new_request_id()
        headers = {telemetry.HEADER: request_id}
        if body is not None:
            headers["content-type"] = "application/json"
        try:
            response = self._http.request(
                method,
                path,
                params=params,
                timeout=self._bulk_timeout if bulk else httpx.USE_CLIENT_DEFAULT,
                content=None if body is None else jsontext.dumps(body),
                headers=headers,
            )
        except httpx.HTTPError as error:
            # DEBUG: a site cut off fails four polls a second; its change of mode is the warning
            # (replication/site.py), and this line is there for `lifeline diagnose` when asked for.
            log.debug(
                "%s %s to the centre failed: %s",
                method,
                path,
                type(error).__name__,
                extra={"method": method, "path": path, "request_id": request_id, "error": type(error).__name__},
            )
            raise CentralUnreachable(f"{type(error).__name__}: {error}") from error
        log.debug(  # every poll: DEBUG, or the log is four lines a second per site
            "%s %s to the centre: %d",
            method,
            path,
            response.status_code,
            extra={
                "method": method,
                "path": path,
                "status": response.status_code,
                "duration_ms": round(response.elapsed.total_seconds() * 1000, 2),
                "request_id": request_id,
            },
        )
        if response.status_code >= 500:
            raise CentralUnreachable(f"the centre answered {response.status_code}")
        if response.status_code in (401, 403):
            raise CentralRefused(f"the centre refused this site ({response.status_code}): {_text(response)}")
        if response.status_code != 200:
            raise CentralRefused(f"the centre answered {response.status_code}: {_text(response)}")
        try:
            answer: dict[str, Any] = jsontext.loads(response.content)
        except orjson.JSONDecodeError as error:
            raise CentralUnreachable("the centre's answer was cut short") from error
        return answer


def _text(response: httpx.Response) -> str:
    try:
        issues = jsontext.loads(response.content).get("issue", [])
        return "; ".join(str(i.get("diagnostics", "")) for i in issues) or response.text[:200]
    except (orjson.JSONDecodeError, AttributeError):
        return response.text[:200]
