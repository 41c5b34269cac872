"""The client's address and scheme behind trusted reverse proxies (LIFELINE_TRUSTED_PROXIES;
docs/operations.md "Behind a reverse proxy").

X-Forwarded-For and X-Forwarded-Proto are believed only on a connection from a trusted proxy.
Then the client is the rightmost address of X-Forwarded-For that is not a trusted proxy's: each
proxy appends the address it was connected from, so whatever stands left of that may have been
written by the client itself. uvicorn's own handling of these headers is off (web/asgi.py): it
trusts loopback by default, which would let anyone on the machine pick their address.

The HTTP protocol (web/http_protocol.py) applies this to each request's scope before anything
reads it, so the rate limits, the refusals the protocol answers itself, the login throttle and the
audit trail all see the same client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Proxies:
    """The trusted proxies' networks, and what a request's scope says once they are believed."""

    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks = tuple(networks)

    def trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def apply(self, scope: dict[str, Any]) -> None:
        """Set the scope's client and scheme from the proxies' headers, if its peer is a trusted proxy."""
        client = scope.get("client")
        if not client or not self.trusted(client[0]):
            return
        hops: list[str] = []
        scheme = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                hops += [_host(hop) for hop in value.decode("latin-1").split(",") if hop.strip()]
            elif name == b"x-forwarded-proto":
                scheme = value.decode("latin-1").strip().lower()
        if scheme in ("http", "https"):
            scope["scheme"] = scheme
        for hop in reversed(hops):
            if not self.trusted(hop):
                scope["client"] = (hop, 0)
                return
        if hops:  # every hop a proxy of ours: the first is as near the client as is known
            scope["client"] = (hops[0], 0)


def _host(hop: str) -> str:
    """An X-Forwarded-For entry's address without a port: `[2001:db8::1]:443` and `10.1.2.3:80` too."""
    hop = hop.strip()
    if hop.startswith("["):
        return hop[1 : hop.find("]")] if "]" in hop else hop
    if hop.count(":") == 1:
        return hop.partition(":")[0]
    return hop
