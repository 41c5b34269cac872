"""Every setting of Lifeline, its environment variable and its default (the README's table)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Settings:
    db: str = "sqlite:///var/lifeline.db"
    node_id: str = "central"
    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str = ""  # public base of the FHIR API; empty: derived from each request
    max_body_bytes: int = 16 * 1024 * 1024
    invariants: str = "warn"  # warn | strict | off
    default_count: int = 50
    max_count: int = 1000
    workers: int = 1


ENVIRONMENT = {
    "db": "LIFELINE_DB",
    "node_id": "LIFELINE_NODE_ID",
    "host": "LIFELINE_HOST",
    "port": "LIFELINE_PORT",
    "base_url": "LIFELINE_BASE_URL",
    "max_body_bytes": "LIFELINE_MAX_BODY_BYTES",
    "invariants": "LIFELINE_INVARIANTS",
    "default_count": "LIFELINE_DEFAULT_COUNT",
    "max_count": "LIFELINE_MAX_COUNT",
    "workers": "LIFELINE_WORKERS",
}


class SettingError(ValueError):
    pass


def from_environment(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from LIFELINE_* variables, then explicit overrides (CLI options) on top."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = environ.get(ENVIRONMENT[f.name])
        if raw is None or raw == "":
            continue
        if f.type in ("int", int):
            try:
                values[f.name] = int(raw)
            except ValueError:
                raise SettingError(f"{ENVIRONMENT[f.name]} must be a whole number, not {raw!r}") from None
        else:
            values[f.name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.invariants not in ("warn", "strict", "off"):
        raise SettingError(f"LIFELINE_INVARIANTS must be warn, strict or off, not {settings.invariants!r}")
    return settings
