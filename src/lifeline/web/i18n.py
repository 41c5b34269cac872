"""The pages' languages: English (the templates' own text) and Danish (translations/da/LC_MESSAGES/
messages.po). Babel reads the .po once at start and the Jinja2 i18n extension renders with it, so
a fresh install needs no compile step and no .mo can fall behind its .po.

Babel rather than the standard gettext alone: it reads .po files directly, extracts the
templates' messages (`pybabel extract -F babel.cfg`) and negotiates Accept-Language; it is what
Jinja2, Flask and Django projects already use for this.

The person's choice is a cookie (`lifeline-lang`, set by GET /language?to=da); without one, the
browser's Accept-Language decides; without that, English.
"""

from __future__ import annotations

import io
from functools import cache
from importlib.resources import files

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = {"en": "English", "da": "Dansk"}
DEFAULT = "en"
COOKIE = "lifeline-lang"
COOKIE_SECONDS = 365 * 24 * 3600


@cache
def translations(language: str) -> NullTranslations:
    """The messages of `language`, read from its .po (English: the templates' own text)."""
    if language == DEFAULT:
        return NullTranslations()
    source = files("lifeline.web").joinpath(f"translations/{language}/LC_MESSAGES/messages.po")
    with source.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # in memory: gettext reads the binary form
    compiled.seek(0)
    return Translations(compiled)


def chosen(cookie: str | None, accept_language: str | None) -> str:
    """The language of a request: the remembered choice, else the browser's, else English."""
    if cookie in LANGUAGES:
        return cookie
    preferred = []
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            preferred.append((quality, tag.strip().replace("-", "_").lower()))
    ordered = [tag for _, tag in sorted(preferred, key=lambda each: -each[0])]
    return negotiate_locale(ordered, list(LANGUAGES)) or DEFAULT
