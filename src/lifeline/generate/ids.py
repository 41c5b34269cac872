"""Deterministic resource ids, formatted as UUIDs so that any FHIR server accepts them.

Two kinds: a *keyed* id is a hash of a name ("Patient/17"), so that another patient's chart or
the region can refer to it without generating it; a *drawn* id comes from a chart's own random
stream, which is cheaper and needs no name."""

from __future__ import annotations

import hashlib
import random

_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))


def _format(n: int) -> str:
    h = f"{(n & _CLEAR) | _VERSION_4:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def keyed_id(*parts: object) -> str:
    """The id named by `parts`, the same in every process and run (a BLAKE2 hash of the name)."""
    digest = hashlib.blake2b("/".join(str(p) for p in parts).encode(), digest_size=16).digest()
    return _format(int.from_bytes(digest, "big"))


def drawn_id(rng: random.Random) -> str:
    """A fresh id from a chart's random stream."""
    return _format(rng.getrandbits(128))


def dicom_uid(rng: random.Random) -> str:
    """A DICOM UID under the UUID-derived root 2.25 (DICOM PS3.5 B.2), at most 64 characters."""
    return f"2.25.{rng.getrandbits(122)}"
