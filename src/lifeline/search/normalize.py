"""Normalization of text for string and :text searches.

R4 string search is "case- and accent-insensitive" (https://hl7.org/fhir/R4/search.html#string).
We case-fold and strip accents through NFKD, except that the Danish/Norwegian letters æ, ø and å
stay letters of their own: in a Danish register "Åse" must not match "Ase", and "Søren" is not
"Soren". The same function runs at index time and at query time, so both sides always agree.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Letters that are alphabet letters in Danish, not accented variants (å would decompose to a+ring).
_KEPT_LETTERS = frozenset("æøå")


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    folded = ch.casefold()
    out = []
    for c in folded:
        if c in _KEPT_LETTERS:
            out.append(c)
            continue
        out.extend(d for d in unicodedata.normalize("NFKD", c) if not unicodedata.combining(d))
    return "".join(out)


_seen: dict[str, str] = {}


def normalize(text: str) -> str:
    """Case-fold and remove accents: "Müller" → "muller", "Søren" → "søren", "ÅSE" → "åse"."""
    if text.isascii():
        # casefold() equals lower() on ASCII; this path covers most values and costs ~100 ns.
        return text.lower()
    folded = _seen.get(text)
    if folded is None:
        folded = "".join([_fold_char(ch) for ch in text])
        if len(_seen) >= 65536:  # names and cities repeat; a full cache simply starts over
            _seen.clear()
        _seen[text] = folded
    return folded
