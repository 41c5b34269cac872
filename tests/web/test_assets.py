"""Static files under their content hash (web/assets.py): cached for a year as immutable, and any
other name — unhashed, or a stale hash — a 404."""

from __future__ import annotations

import hashlib
from importlib.resources import files

from lifeline.fhir.service import FhirService
from lifeline.web.assets import IMMUTABLE, manifest, static
from tests.web.test_login_pages import browser


def test_static_names_carry_the_hash_of_their_content() -> None:
    body = files("lifeline.web").joinpath("static/app.css").read_bytes()
    assert static("app.css") == f"/static/app.{hashlib.sha256(body).hexdigest()[:12]}.css"
    assert set(manifest()) >= {"app.css", "passkeys.js"}


def test_a_hashed_name_is_cached_for_a_year(service: FhirService) -> None:
    with browser(service) as web:
        for name, media_type in (("app.css", "text/css"), ("passkeys.js", "text/javascript")):
            answer = web.get(static(name))
            assert answer.status_code == 200 and answer.headers["content-type"].startswith(media_type)
            assert answer.headers["cache-control"] == IMMUTABLE == "public, max-age=31536000, immutable"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.content == files("lifeline.web").joinpath(f"static/{name}").read_bytes()


def test_an_unhashed_or_stale_name_is_not_found(service: FhirService) -> None:
    with browser(service) as web:
        for path in ("/static/app.css", "/static/passkeys.js", "/static/app.000000000000.css", "/static/../app.py"):
            answer = web.get(path)
            assert answer.status_code == 404, path
            assert answer.headers["cache-control"] != IMMUTABLE


def test_the_pages_link_the_hashed_names(service: FhirService) -> None:
    with browser(service) as web:
        page = web.get("/login").text
        assert f'<link rel="stylesheet" href="{static("app.css")}">' in page
