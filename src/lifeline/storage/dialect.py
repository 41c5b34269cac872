"""What differs between the SQL of SQLite and PostgreSQL, in one small object.

All SQL in the storage and search layers is written once with `?` placeholders; the dialect
rewrites it for the driver (psycopg uses `%s`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    json_type: str
    real_type: str
    json_in: str  # placeholder expression that stores a JSON text
    json_out: str  # expression that reads the content column back as JSON text
    for_update: str  # row-locking suffix of a SELECT inside a write transaction
    placeholder: str
    pattern_ops: str = ""

    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def schema(self, template: str) -> str:
        return (
            template.replace("{json}", self.json_type)
            .replace("{real}", self.real_type)
            .replace("{pattern_ops}", self.pattern_ops)
        )


SQLITE = Dialect(
    name="sqlite",
    json_type="TEXT",
    real_type="REAL",
    json_in="?",
    json_out="content",
    for_update="",
    placeholder="?",
)

POSTGRES = Dialect(
    name="postgresql",
    json_type="JSONB",
    real_type="DOUBLE PRECISION",
    json_in="CAST(? AS JSONB)",
    json_out="content::text",
    for_update=" FOR UPDATE",
    placeholder="%s",
    pattern_ops="text_pattern_ops",
)
