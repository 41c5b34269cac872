"""Device cookies (identity/device_cookies.py): a cookie is known only for its own user, from this
node's key, while fresh; anything altered, another user's, another node's or old is unknown."""

from __future__ import annotations

from lifeline.identity.device_cookies import MAX_AGE, device_key, issue, trusted_device

NOW = 1_800_000_000.0
KEY = device_key(b"k" * 32)


def test_a_cookie_is_known_for_its_user_while_fresh() -> None:
    cookie = issue(KEY, "Lise.Hansen", NOW)
    device = trusted_device(KEY, cookie, "lise.hansen", NOW + 60)  # user names fold as logins do
    assert device and device == cookie.split(".")[1]
    assert trusted_device(KEY, issue(KEY, "lise", NOW), "lise", NOW) != device  # each login, a new device id


def test_anything_else_is_unknown() -> None:
    cookie = issue(KEY, "lise", NOW)
    issued, device, user, mac = cookie.split(".")
    assert trusted_device(KEY, cookie, "karen", NOW) is None  # another user
    assert trusted_device(device_key(b"x" * 32), cookie, "lise", NOW) is None  # another node's key
    assert trusted_device(KEY, cookie, "lise", NOW + MAX_AGE + 1) is None  # too old
    assert trusted_device(KEY, f"{int(NOW) + 999}.{device}.{user}.{mac}", "lise", NOW + 999) is None  # altered
    assert trusted_device(KEY, f"{issued}.{device}.{user}.{mac[:-2]}AA", "lise", NOW) is None
    for junk in ("", "a.b.c", "x" * 300, None, "1.2.3.4.5"):
        assert trusted_device(KEY, junk, "lise", NOW) is None
