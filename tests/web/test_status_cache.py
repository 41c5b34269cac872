"""`GET /status` from memory while the board's snapshot holds (web/status_cache.py): the same
answer as the full path, per language, a new one as soon as the snapshot changes, never a
person's."""

from __future__ import annotations

from lifeline.fhir.service import FhirService
from tests.web.test_login_pages import browser
from tests.web.test_middleware import as_staff
from tests.web.test_status_page import _incident, calm  # noqa: F401 - the fixture


def test_the_kept_answer_is_the_full_one_per_language_until_the_snapshot_changes(calm: FhirService) -> None:  # noqa: F811
    with browser(calm) as web:
        first = web.get("/status")
        again = web.get("/status")
        assert first.status_code == again.status_code == 200
        assert again.content == first.content
        same = {k: v for k, v in first.headers.items() if k != "x-request-id"}
        assert {k: v for k, v in again.headers.items() if k != "x-request-id"} == same
        assert again.headers["x-request-id"] != first.headers["x-request-id"]  # still each request's own
        assert "content-security-policy" in again.headers  # the page's headers, kept with it

        danish = web.get("/status", headers={"Accept-Language": "da"})
        assert danish.content != first.content and 'lang="da"' in danish.text
        assert web.get("/status").content == first.content  # English kept beside Danish

        head = web.head("/status")
        assert head.status_code == 200 and head.content == b""

        opened = _incident(calm)  # a new snapshot: the next answer is made afresh
        changed = web.get("/status")
        assert f'id="incident-{opened.id}"' in changed.text and changed.content != first.content


def test_a_logged_in_person_gets_the_public_page_never_their_own(calm: FhirService) -> None:  # noqa: F811
    with browser(calm) as web:
        username = as_staff(calm, web)
        mine = web.get("/status")
        assert mine.status_code == 200 and username not in mine.text and 'name="csrf"' not in mine.text
        assert "set-cookie" not in mine.headers
    with browser(calm) as other:
        assert other.get("/status").content == mine.content
