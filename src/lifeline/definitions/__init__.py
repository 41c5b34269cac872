"""The FHIR R4 definitions the package ships, compiled by tools/build_definitions.py.

Each is a gzip JSON file in this package (``<name>.json.gz``), read through importlib.resources
so that an installed wheel works without the source tree or the shared FHIR downloads.
"""

from __future__ import annotations

import gzip
from importlib import resources
from typing import Any

import orjson


def load(name: str) -> Any:
    """Parse the packaged definition file ``<name>.json.gz`` (e.g. ``load("structure")``)."""
    data = resources.files(__package__).joinpath(f"{name}.json.gz").read_bytes()
    return orjson.loads(gzip.decompress(data))
