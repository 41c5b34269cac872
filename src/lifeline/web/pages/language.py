"""The language switch in the top bar: GET /language?to=da&next=/page sets the remembered choice
(the `lifeline-lang` cookie, web/i18n.py) and goes back. A plain link, so it works without
JavaScript and without a session; choosing a language changes nothing but the language."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.errors import BadRequest
from lifeline.web import i18n
from lifeline.web.login import local_path


async def choose(request: Request) -> Response:
    language = request.query_params.get("to", "")
    if language not in i18n.LANGUAGES:
        raise BadRequest(f"No such language: {language!r}")
    answer = RedirectResponse(local_path(request.query_params.get("next")), 303)
    secure = request.url.scheme == "https"
    answer.set_cookie(
        i18n.COOKIE, language, max_age=i18n.COOKIE_SECONDS, path="/", secure=secure, httponly=True, samesite="lax"
    )
    return answer


def language_route() -> Route:
    return Route("/language", choose, methods=["GET"])
