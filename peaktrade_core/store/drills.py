"""The drill log: one entry per ``peaktrade drills run``, shared by every host of the store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from peaktrade_core.store.base import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS drill_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    operator TEXT NOT NULL,
    host TEXT NOT NULL,
    passed INTEGER NOT NULL,
    entry TEXT NOT NULL,
    -- an entry imported from a drill-log file: host, file and line (imported once)
    origin TEXT UNIQUE
);
"""


class DrillRunRepository:
    def __init__(self, store: StateStore):
        self.store = store
        store.ensure_schema("drill_runs", _SCHEMA)

    def add(self, entry: dict[str, Any], host: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO drill_runs (at, operator, host, passed, entry) VALUES (?, ?, ?, ?, ?)",
                (str(entry.get("at")), str(entry.get("operator", "?")), host, int(entry.get("passed") is True), json.dumps(entry)),
            )

    def import_entries(self, entries: Sequence[tuple[str, dict[str, Any]]], host: str) -> int:
        """``(origin, entry)`` pairs from a file; an origin imported before is skipped.
        Returns how many were new."""
        with self.store.transaction() as conn:
            new = 0
            for origin, entry in entries:
                row = conn.execute(
                    "INSERT INTO drill_runs (at, operator, host, passed, entry, origin) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (origin) DO NOTHING RETURNING id",
                    (str(entry.get("at")), str(entry.get("operator", "?")), host, int(entry.get("passed") is True),
                     json.dumps(entry), origin),
                ).fetchone()
                new += row is not None
        return new

    def entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Every entry as written, oldest first; with ``limit``, the newest ``limit``."""
        if limit is None:
            rows = self.store.query("SELECT entry FROM drill_runs ORDER BY id")
        else:
            rows = self.store.query("SELECT entry FROM drill_runs ORDER BY id DESC LIMIT ?", (limit,))[::-1]
        return [json.loads(r["entry"]) for r in rows]
