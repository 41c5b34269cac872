"""The client behind trusted reverse proxies (web/client_address.py, LIFELINE_TRUSTED_PROXIES)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from lifeline.config import SettingError, from_environment, trusted_proxies_of
from lifeline.web.client_address import Proxies

PROXIES = Proxies([ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("fd00::/64")])


def scope_of(peer: str, *headers: tuple[str, str]) -> dict[str, Any]:
    encoded = [(name.encode(), value.encode()) for name, value in headers]
    return {"type": "http", "scheme": "http", "client": (peer, 50000), "headers": encoded}


def test_the_rightmost_address_that_is_not_a_trusted_proxy_is_the_client() -> None:
    # The client made up the first entry; the outer proxy (10.0.0.7) appended 203.0.113.9.
    scope = scope_of("10.0.0.5", ("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.7"), ("x-forwarded-proto", "https"))
    PROXIES.apply(scope)
    assert scope["client"] == ("203.0.113.9", 0)
    assert scope["scheme"] == "https"


def test_a_connection_from_elsewhere_keeps_its_own_address_whatever_it_says() -> None:
    scope = scope_of("198.51.100.4", ("x-forwarded-for", "10.0.0.9"), ("x-forwarded-proto", "https"))
    PROXIES.apply(scope)
    assert scope["client"] == ("198.51.100.4", 50000)
    assert scope["scheme"] == "http"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("203.0.113.9:4431", "203.0.113.9"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("2001:db8::7", "2001:db8::7"),
        ("10.0.0.8, 10.0.0.9", "10.0.0.8"),  # every hop ours: the one nearest the client
    ],
)
def test_ports_brackets_and_proxies_only(forwarded: str, client: str) -> None:
    scope = scope_of("fd00::1", ("x-forwarded-for", forwarded))
    PROXIES.apply(scope)
    assert scope["client"] == (client, 0)


def test_several_headers_are_read_as_one_list_and_a_strange_scheme_is_ignored() -> None:
    scope = scope_of("10.0.0.5", ("x-forwarded-for", "192.0.2.1"), ("x-forwarded-for", "192.0.2.2"),
                     ("x-forwarded-proto", "gopher"))  # fmt: skip
    PROXIES.apply(scope)
    assert scope["client"] == ("192.0.2.2", 0)
    assert scope["scheme"] == "http"


def test_the_setting_reads_addresses_and_networks_and_refuses_anything_else_by_name() -> None:
    assert trusted_proxies_of(from_environment({})) == ()
    read = trusted_proxies_of(from_environment({"LIFELINE_TRUSTED_PROXIES": "127.0.0.1, 10.1.0.0/16,::1"}))
    assert [str(network) for network in read] == ["127.0.0.1/32", "10.1.0.0/16", "::1/128"]
    with pytest.raises(SettingError, match="LIFELINE_TRUSTED_PROXIES: 'proxy.example' is not an address"):
        from_environment({"LIFELINE_TRUSTED_PROXIES": "127.0.0.1,proxy.example"})
