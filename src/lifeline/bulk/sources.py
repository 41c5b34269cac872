"""Reading resources from NDJSON and Bundle JSON files, one at a time, in constant memory."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

from lifeline import jsontext
from lifeline.errors import BadRequest


@dataclass
class SourceItem:
    where: str  # "file.ndjson:12" or "bundle.json entry 3"
    resource: Any  # a resource, or a whole transaction/batch Bundle to run as one


class Source:
    """One input file; `position` (bytes read) lets a progress bar follow it."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise BadRequest(f"{path}: no such file")
        self.path = path
        self.size = path.stat().st_size
        self._raw: IO[bytes] = path.open("rb")

    @property
    def position(self) -> int:
        return self._raw.tell()

    def _stream(self) -> IO[bytes]:
        self._raw.seek(0)
        if self.path.suffix == ".gz":
            return gzip.GzipFile(fileobj=self._raw)  # type: ignore[return-value]
        return self._raw

    def items(self) -> Iterator[SourceItem]:
        name = self.path.name.removesuffix(".gz")
        if name.endswith(".ndjson") or name.endswith(".jsonl"):
            yield from self._ndjson()
        else:
            yield from self._bundle()

    def _ndjson(self) -> Iterator[SourceItem]:
        for number, line in enumerate(self._stream(), start=1):
            if not line.strip():
                continue
            try:
                yield SourceItem(f"{self.path.name}:{number}", jsontext.loads(line))
            except orjson.JSONDecodeError as exc:
                raise BadRequest(f"{self.path.name}:{number}: not valid JSON: {exc}") from None

    def _bundle(self) -> Iterator[SourceItem]:
        kind = self._top_level()
        if kind.get("resourceType") != "Bundle":
            # A single resource in a .json file.
            yield SourceItem(self.path.name, _load(self._stream(), self.path.name))
            return
        if kind.get("type") in ("transaction", "batch"):
            # Entries may reference each other (urn:uuid): the Bundle runs as one transaction.
            yield SourceItem(self.path.name, _load(self._stream(), self.path.name))
            return
        try:
            for number, entry in enumerate(ijson.items(self._stream(), "entry.item", use_float=True)):
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    yield SourceItem(f"{self.path.name} entry {number}", entry["resource"])
        except ijson.JSONError as exc:
            raise BadRequest(f"{self.path.name}: not valid JSON: {exc}") from None

    def _top_level(self) -> dict[str, Any]:
        """resourceType and type of the top-level object, read without loading the file."""
        found: dict[str, Any] = {}
        try:
            for prefix, event, value in ijson.parse(self._stream()):
                if prefix in ("resourceType", "type") and event == "string":
                    found[prefix] = value
                if len(found) == 2 or (prefix == "entry" and event == "start_array" and "resourceType" in found):
                    break
        except ijson.JSONError as exc:
            raise BadRequest(f"{self.path.name}: not valid JSON: {exc}") from None
        return found

    def close(self) -> None:
        self._raw.close()


def _load(stream: IO[bytes], name: str) -> Any:
    try:
        return jsontext.loads(stream.read())
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{name}: not valid JSON: {exc}") from None
