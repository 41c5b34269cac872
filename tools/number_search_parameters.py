"""Give every search parameter of every resource type its number (definitions/search-parameter-numbers.json).

Index rows name their parameter by a small number, one per resource type and parameter code
(storage/param_numbers.py, issue 27), rather than by the code's text. Stored rows keep their
numbers for good, so the list is append-only: this tool keeps every number already given and adds
the parameters the registry has and the list lacks (a new Lifeline release with new parameters) at
its end. Run it after the search definitions change; a test fails while any parameter lacks one.

Usage: python tools/number_search_parameters.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from lifeline.search.registry import default_registry  # noqa: E402

TARGET = ROOT / "src" / "lifeline" / "definitions" / "search-parameter-numbers.json"


def main() -> None:
    numbered: list[list[str]] = json.loads(TARGET.read_text()) if TARGET.exists() else []
    known = {tuple(pair) for pair in numbered}
    registry = default_registry()
    pairs = [(t, code) for t in sorted(registry.resource_types) for code in sorted(registry.params_for(t))]
    added = [[res_type, code] for res_type, code in pairs if (res_type, code) not in known]
    numbered.extend(added)
    TARGET.write_text("[\n" + ",\n".join(json.dumps(pair) for pair in numbered) + "\n]\n")
    print(f"{len(numbered)} parameters numbered, {len(added)} added")


if __name__ == "__main__":
    main()
