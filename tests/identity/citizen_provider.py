"""A real OpenID Connect provider on loopback for the citizen login tests, and a scripted browser for it.

The provider is oidc-provider-mock (a Flask app on authlib) served by werkzeug in a thread. Its login
page is a form with a free-text subject and a Deny button; users and their claims are set with
`PUT /users/<sub>`. `CitizenProvider.log_in` plays the browser: it opens the authorisation URL, submits
the page's form as a browser would, and returns the query of the redirect back to the relying party.
The provider checks client secrets (when the client is registered), nonce presence and single use of
codes, but not PKCE: it ignores `code_challenge`, so these tests cannot show a wrong verifier refused.

Test modules that use it set `pytestmark = PROVIDER_WARNINGS`: the provider calls authlib APIs that
authlib itself deprecates, and since warnings are errors (and process-wide), they would turn its
token endpoint into a 500 that looks exactly like an outage.
"""

from __future__ import annotations

import threading
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING

import httpx
import pytest
import werkzeug.serving

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

with warnings.catch_warnings():
    # authlib sets its deprecation warnings to "always" when first imported, past pytest's ignore filter.
    warnings.simplefilter("ignore", DeprecationWarning)
    from oidc_provider_mock import app as provider_app

REDIRECT_URI = "https://lifeline.test/login/citizen/callback"
PROVIDER_WARNINGS = pytest.mark.filterwarnings(r"ignore:get_jwt_config\(self, grant\) is deprecated:DeprecationWarning")
_MAX_REDIRECTS = 5


class _OneRequestPerConnection(werkzeug.serving.WSGIRequestHandler):
    """HTTP/1.0, so no keep-alive connection outlives `shutdown()`: a stopped provider must look stopped."""

    protocol_version = "HTTP/1.0"


@contextmanager
def serve_wsgi(app: WSGIApplication, port: int = 0) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1 in a thread; yields its base URL and stops it (port closed) on exit."""
    server = werkzeug.serving.make_server(
        "127.0.0.1", port, app, threaded=True, request_handler=_OneRequestPerConnection
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive(), "the test identity provider did not stop"


@dataclass
class _Form:
    action: str | None
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormReader(HTMLParser):
    """Collects the forms of a page with their named inputs and submit buttons: just enough of a browser."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(_Form(attributes.get("action"), attributes.get("method", "get").lower()))
        elif self.forms and tag == "input" and attributes.get("name"):
            self.forms[-1].fields[attributes["name"]] = attributes.get("value", "")
        elif self.forms and tag == "button" and attributes.get("name"):
            self.forms[-1].buttons.append((attributes["name"], attributes.get("value", "")))


@dataclass
class CitizenProvider:
    """A running provider: its issuer URL and the client credentials it issued to Lifeline."""

    issuer: str
    client_id: str
    client_secret: str
    browser: httpx.Client

    def add_citizen(self, claims: Mapping[str, object], subject: str | None = None) -> str:
        """Register a user with these ID token claims; returns the subject."""
        subject = subject or f"citizen-{uuid.uuid4()}"
        self.browser.put(f"{self.issuer}/users/{subject}", json=dict(claims)).raise_for_status()
        return subject

    def log_in(self, authorisation_url: str, claims: Mapping[str, object]) -> dict[str, str]:
        """Log in at the provider as a new user with `claims`; returns the callback's query parameters."""
        subject = self.add_citizen(claims)
        return self._submit(authorisation_url, lambda form: "sub" in form.fields, {"sub": subject})

    def log_in_as_citizen(self, authorisation_url: str, cpr: str, name: str | None = None) -> dict[str, str]:
        """Log in as a citizen whose CPR claim (and name, if given) the provider will assert."""
        claims = {"cpr": cpr} if name is None else {"cpr": cpr, "name": name}
        return self.log_in(authorisation_url, claims)

    def deny(self, authorisation_url: str) -> dict[str, str]:
        """Press Deny on the provider's login page."""
        return self._submit(authorisation_url, lambda form: ("action", "deny") in form.buttons, {"action": "deny"})

    def _submit(self, url: str, pick: Callable[[_Form], bool], values: dict[str, str]) -> dict[str, str]:
        page = self.browser.get(url)
        assert page.status_code == 200, f"login page answered {page.status_code}: {page.text[:300]}"
        reader = _FormReader()
        reader.feed(page.text)
        forms = [form for form in reader.forms if pick(form)]
        assert forms, "the provider's login page has no such form"
        form = forms[0]
        # A form without action posts back to the page's own URL, query string included.
        target = page.url.join(form.action) if form.action else page.url
        response = self.browser.request(form.method.upper(), target, data=form.fields | values)
        redirect_uri = httpx.URL(url).params["redirect_uri"]
        for _ in range(_MAX_REDIRECTS):
            assert response.is_redirect, f"expected a redirect, got {response.status_code}: {response.text[:300]}"
            location = response.url.join(response.headers["location"])
            if str(location).startswith(redirect_uri):
                return dict(location.params)
            response = self.browser.get(location)
        raise AssertionError(f"no redirect back to {redirect_uri} after {_MAX_REDIRECTS} hops")


@contextmanager
def running_citizen_provider(port: int = 0, *, register_client: bool = True) -> Iterator[CitizenProvider]:
    """Start a provider; with `register_client` it accepts only the client it registers here (secret checked)."""
    app = provider_app(require_client_registration=register_client, require_nonce=True)
    with serve_wsgi(app, port) as issuer, httpx.Client(timeout=5) as browser:
        client_id, client_secret = "lifeline", "any secret is accepted"
        if register_client:
            answer = browser.post(
                f"{issuer}/oauth2/clients",
                json={"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "client_secret_basic"},
            )
            answer.raise_for_status()
            client_id, client_secret = answer.json()["client_id"], answer.json()["client_secret"]
        yield CitizenProvider(issuer, client_id, client_secret, browser)
