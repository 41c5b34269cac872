"""The downtime folder: each report encrypted at rest, the previous generation kept, and a plain
index that names the files and their age but holds no patient data.

File format (`*.pdf.enc`), AES-256-GCM (NIST SP 800-38D) from the `cryptography` package:

    MAGIC (b"LIFELINE-DOWNTIME-1\\n", 20 bytes) | nonce (12 random bytes) | ciphertext + 16-byte tag

the MAGIC also authenticated (associated data). The key is 32 bytes, given base64 in
LIFELINE_DOWNTIME_KEY (`lifeline downtime key` makes one). Layout:

    <dir>/current/<name>.pdf.enc    the newest generation
    <dir>/previous/<name>.pdf.enc   the one before (moved there before the new one is written)
    <dir>/index.html                what is there and when it was made
"""

from __future__ import annotations

import base64
import binascii
import html
import os
import secrets
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lifeline.clock import COPENHAGEN
from lifeline.downtime.read import DowntimeError

MAGIC = b"LIFELINE-DOWNTIME-1\n"
NONCE = 12
SUFFIX = ".pdf.enc"
GENERATIONS = ("current", "previous")


def new_key() -> str:
    """A fresh key, base64 of 32 random bytes."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def key_of(setting: str) -> bytes:
    """The key from its base64 setting, or a clear refusal."""
    if not setting:
        raise DowntimeError("no downtime key: set LIFELINE_DOWNTIME_KEY (make one with `lifeline downtime key`)")
    try:
        key = base64.b64decode(setting.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise DowntimeError("LIFELINE_DOWNTIME_KEY is not base64") from None
    if len(key) != 32:
        raise DowntimeError(f"LIFELINE_DOWNTIME_KEY must be 32 bytes (base64), not {len(key)}")
    return key


def encrypt(key: bytes, plain: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, plain, MAGIC)


def decrypt(key: bytes, sealed: bytes) -> bytes:
    """The PDF inside `sealed`; a wrong key or a damaged file is refused, never half-read."""
    if not sealed.startswith(MAGIC) or len(sealed) < len(MAGIC) + NONCE + 16:
        raise DowntimeError("not a Lifeline downtime file (it does not start with LIFELINE-DOWNTIME-1)")
    nonce = sealed[len(MAGIC) : len(MAGIC) + NONCE]
    try:
        return AESGCM(key).decrypt(nonce, sealed[len(MAGIC) + NONCE :], MAGIC)
    except InvalidTag:
        raise DowntimeError("cannot decrypt: wrong key (LIFELINE_DOWNTIME_KEY) or a damaged file") from None


def store(folder: Path, name: str, key: bytes, plain: bytes) -> Path:
    """Write `plain` encrypted as current/<name>.pdf.enc, the file it replaces moved to previous/."""
    current, previous = folder / "current", folder / "previous"
    current.mkdir(parents=True, exist_ok=True)
    previous.mkdir(parents=True, exist_ok=True)
    target = current / f"{name}{SUFFIX}"
    if target.exists():
        os.replace(target, previous / target.name)
    partial = current / f".{name}.partial"
    partial.write_bytes(encrypt(key, plain))
    os.replace(partial, target)  # never a half-written report under the real name
    return target


def write_index(folder: Path, titles: dict[str, str], now: datetime) -> Path:
    """index.html: each file of each generation with what it is (a ward's or clinic's name, no
    patient's), when it was made and how old it was when the index was written."""
    rows = []
    for generation in GENERATIONS:
        for path in sorted((folder / generation).glob(f"*{SUFFIX}")):
            made = datetime.fromtimestamp(path.stat().st_mtime, COPENHAGEN)
            minutes = max(int((now - made).total_seconds() // 60), 0)
            title = titles.get(path.name.removesuffix(SUFFIX), "")
            rows.append(
                f"<tr><td>{generation}</td><td>{html.escape(f'{generation}/{path.name}')}</td>"
                f"<td>{html.escape(title)}</td><td>{made:%d.%m.%Y %H:%M}</td><td>{minutes} min</td></tr>"
            )
    page = (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Lifeline downtime reports</title>'
        "<h1>Lifeline downtime reports</h1>"
        f"<p>Index written {now.astimezone(COPENHAGEN):%d.%m.%Y %H:%M}. The files are encrypted; read one with"
        " <code>lifeline downtime decrypt FILE --out FILE.pdf</code> (the key: LIFELINE_DOWNTIME_KEY).</p>"
        "<table><thead><tr><th scope=col>Generation</th><th scope=col>File</th><th scope=col>Report</th>"
        "<th scope=col>Made</th><th scope=col>Age when indexed</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></html>\n"
    )
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
