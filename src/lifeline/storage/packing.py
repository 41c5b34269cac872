"""Each resource's JSON packed on its own: zstd with a dictionary shipped with Lifeline (issue 27).

A resource's JSON is about 1.1 KB, too small for PostgreSQL to compress (it compresses values in
rows over 2 KB) and too small for a compressor that starts from nothing: zlib makes 1,162 bytes of
the generated region about 605. A dictionary trained on FHIR resources holds what they all say
("resourceType", the code systems, the shape of a Coding, a reference, a period), so zstd with it
makes each about 150 bytes, in about 2 µs, and gives it back in about 1 µs (docs/benchmarks.md).

The `content` column of `resource` and `resource_version` stays TEXT, and holds either:

- the JSON text as it was written: it begins with "{"; or
- PACKED followed by the base64 of one zstd frame without its first four bytes (zstd's magic
  number, the same in every frame). The frame names the dictionary it was made with (its
  dictionary id) and carries its length and a checksum, so a frame is read back by whichever
  dictionary made it, and a damaged frame is refused rather than read as another resource.

Everything SQL does with the column (moving a version's JSON from `resource` to
`resource_version`, history's COALESCE, restamping) moves the text as it is, packed or not: only
the two ends here look inside. Not packed: Lifeline's own records (types beginning with "_",
whose JSON some SQL reads, as the open conflicts' partial index), and any JSON that packing would
not make shorter (a Binary's base64 data hardly compresses).

A database packs only when its node_state row PACK_JSON_STATE says so: from the start on a new
database (migration 21), and on one that held resources before once `lifeline db repack` has
turned it on. Until then its writes store the JSON as it is, so that processes of an earlier
version, which cannot read packed JSON, may serve it beside upgraded ones during a rolling
upgrade (docs/operations.md). Every version since reads both.

The dictionaries live in dictionaries/ beside this module, by id; tools/build_json_dictionary.py
trains a new one on synthetic data only (a dictionary is made of its samples' text: it must hold
no patient's data). A dictionary once shipped is never changed or removed: rows packed with it
must stay readable. Writes use `WRITE_DICTIONARY`.
"""

from __future__ import annotations

import binascii
import logging
import threading
from functools import cache
from pathlib import Path

import zstandard

from lifeline.errors import StorageCorrupt

PACK_JSON_STATE = "storage:pack-json"  # the node_state row that turns packing on ("on")
PACKED = "~"  # the first character of a packed text; a JSON object's is "{"
_MAGIC = b"\x28\xb5\x2f\xfd"  # https://datatracker.ietf.org/doc/html/rfc8878#section-3.1.1
WRITE_DICTIONARY = 1
# zstd's default. On generated resources with this dictionary: level 3 makes 147 bytes in 2.5 µs,
# level 1 151 bytes in 2.0 µs, level 5 157 bytes in 6.0 µs (docs/benchmarks.md).
LEVEL = 3
DICTIONARIES = Path(__file__).parent / "dictionaries"

log = logging.getLogger("lifeline.storage")
_local = threading.local()  # zstd's (de)compressors are not for two threads at once


@cache
def dictionary(dict_id: int) -> zstandard.ZstdCompressionDict:
    path = DICTIONARIES / f"{dict_id}.zdict"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if dict_id == WRITE_DICTIONARY:
            message = f"JSON dictionary {dict_id}, which this version packs with, is missing ({path}): reinstall it"
        else:
            message = (
                f"A stored resource was packed with JSON dictionary {dict_id}, which this version does not ship:"
                " a newer version of Lifeline wrote it"
            )
        log.error("%s", message)
        raise StorageCorrupt(message) from None
    return zstandard.ZstdCompressionDict(data)


def _compressor() -> zstandard.ZstdCompressor:
    compressor: zstandard.ZstdCompressor | None = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(
            level=LEVEL, dict_data=dictionary(WRITE_DICTIONARY), write_checksum=True, write_dict_id=True
        )
    return compressor


def _decompressor(dict_id: int) -> zstandard.ZstdDecompressor:
    found: dict[int, zstandard.ZstdDecompressor] | None = getattr(_local, "decompressors", None)
    if found is None:
        found = _local.decompressors = {}
    decompressor = found.get(dict_id)
    if decompressor is None:
        decompressor = found[dict_id] = zstandard.ZstdDecompressor(dict_data=dictionary(dict_id))
    return decompressor


def pack(res_type: str, text: str | None) -> str | None:
    """What to store for a resource's JSON text (None for a delete stays None)."""
    if text is None or res_type.startswith("_"):
        return text
    frame = _compressor().compress(text.encode())
    packed = PACKED + binascii.b2a_base64(frame[len(_MAGIC) :], newline=False).decode("ascii")
    return packed if len(packed) < len(text) else text


def unpack(stored: str | None) -> str | None:
    """The JSON text of a stored `content` value, packed or not."""
    if stored is None or not stored.startswith(PACKED):
        return stored
    try:
        frame = _MAGIC + binascii.a2b_base64(stored[1:], strict_mode=True)
        dict_id = zstandard.get_frame_parameters(frame).dict_id
        return _decompressor(dict_id).decompress(frame).decode()
    except (binascii.Error, zstandard.ZstdError, UnicodeDecodeError) as exc:
        log.error("a stored resource's packed JSON cannot be read: %s", exc)  # damage to look into now
        raise StorageCorrupt(f"A stored resource's packed JSON cannot be read: {exc}") from exc


def is_packed(stored: str | None) -> bool:
    return stored is not None and stored.startswith(PACKED)
