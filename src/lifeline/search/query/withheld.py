"""Elements withheld from a searcher: a search or a sort on them must not see them either.

A Patient under name and address protection (labelled in `meta.security`, access/redact.py) is
shown without its address and telecom to everyone but system principals and the patient. Were a
clause on `address-city` to match it, or a `_sort=address` to order by its street, the search
would tell what the copy shown withholds. So for such a searcher every parameter over a withheld
element treats a labelled resource as having no value for it: a clause does not match it (nor
through a chain or `_has`), `:missing=true` and `:not` do, and a sort puts it with the missing.

The label is found through the search index (`_security` is a token parameter of every
resource), so the check is one probe of search_token's owner index per candidate, in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lifeline.search.registry import SearchParameter, split_union
from lifeline.storage import param_numbers


@dataclass(frozen=True)
class Withholding:
    """`elements` of `res_type` resources labelled `label_system|label_code` are withheld from
    the searcher, except in their own record (`own_id`: a patient searching for themself)."""

    res_type: str
    elements: tuple[str, ...]
    label_system: str
    label_code: str
    own_id: str | None = None

    def covers(self, param: SearchParameter) -> bool:
        """Whether the parameter reads a withheld element (its expression as the type sees it)."""
        return param.expression is not None and _reads(param.expression, self.res_type, self.elements)

    def shown(self, owner: str = "s") -> tuple[str, list[object]]:
        """SQL true when the resource `{owner}.res_type`/`{owner}.res_id` shows the elements."""
        labelled = (
            "NOT EXISTS (SELECT 1 FROM search_token wl WHERE wl.res_type = ? AND wl.res_id = "
            f"{owner}.res_id AND wl.pid = ? AND wl.code = ? AND wl.system = ?)"
        )
        label = param_numbers.number(self.res_type, "_security")
        args: list[object] = [self.res_type, label, self.label_code, self.label_system]
        if self.own_id is None:
            return labelled, args
        return f"({owner}.res_id = ? OR {labelled})", [self.own_id, *args]


@lru_cache(maxsize=512)
def _reads(expression: str, res_type: str, elements: tuple[str, ...]) -> bool:
    for term in split_union(expression):
        path = term.strip().lstrip("(").strip()
        for element in elements:
            head = f"{res_type}.{element}"
            if path == head or path.startswith((f"{head}.", f"{head})")):
                return True
    return False
