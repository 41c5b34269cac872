#!/usr/bin/env python3
"""Every third-party module that src/ imports must come from a distribution listed in
pyproject.toml's [project] dependencies (not only from the dev extras): otherwise `make demo`
breaks on a fresh machine while `make test` stays green.

Usage (from the project root, with the project's venv): .venv/bin/python tools/check_runtime_deps.py
(`make lint` runs it; a copy of the shared tool, so that CI has it on a clean clone.)
Exit 1 and one line per missing distribution; 0 when all are declared.
"""

import ast
import importlib.metadata as md
import pathlib
import re
import sys
import tomllib

root = pathlib.Path.cwd()
pyproject = tomllib.loads((root / "pyproject.toml").read_text())
project = pyproject["project"]
declared = {
    re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0].lower().replace("_", "-") for d in project.get("dependencies", [])
}
own = {p.name for p in (root / "src").iterdir() if p.is_dir()} if (root / "src").is_dir() else set()
stdlib = set(sys.stdlib_module_names)
dists = md.packages_distributions()

missing: dict[str, set[str]] = {}
for path in (root / "src").rglob("*.py"):
    try:
        tree = ast.parse(path.read_text(), str(path))
    except SyntaxError:
        continue
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top in stdlib or top in own or top == "__future__":
                continue
            for dist in dists.get(top, [top]):
                if dist.lower().replace("_", "-") not in declared:
                    missing.setdefault(dist, set()).add(str(path.relative_to(root)))


# A distribution counts as declared when a declared one requires it (uvicorn[standard] brings uvloop).
def requires_closure(names: set[str]) -> set[str]:
    seen, todo = set(), list(names)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        try:
            reqs = md.requires(n) or []
        except md.PackageNotFoundError:
            continue
        for r in reqs:
            todo.append(re.split(r"[\s\[<>=!~;(]", r, maxsplit=1)[0].lower().replace("_", "-"))
    return seen


closure = requires_closure(declared)
bad = {d: f for d, f in missing.items() if d.lower().replace("_", "-") not in closure}
for dist, files in sorted(bad.items()):
    users = ", ".join(sorted(files)[:3])
    print(f"runtime dependency not declared in pyproject.toml [project] dependencies: {dist} (imported by {users})")
sys.exit(1 if bad else 0)
