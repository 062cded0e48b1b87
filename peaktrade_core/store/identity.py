"""The store's identity records: who initialised it, when, why, and what was found."""

from __future__ import annotations

from typing import Any

from peaktrade_core.store.base import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state_identity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    store_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('person', 'automatic')),
    operator TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    previous_store_id TEXT,
    found TEXT
);
"""
FIELDS = ("store_id", "kind", "operator", "reason", "at", "previous_store_id", "found")


class IdentityRepository:
    def __init__(self, store: StateStore):
        self.store = store
        store.migrate("state_identity", [_SCHEMA])

    def current(self, conn: Any = None) -> dict[str, Any] | None:
        rows = self.store.rows(
            conn, "SELECT store_id, kind, operator, reason, at, previous_store_id FROM state_identity ORDER BY id DESC LIMIT 1"
        )
        return dict(rows[0]) if rows else None

    @staticmethod
    def add(conn: Any, record: dict[str, Any]) -> None:
        conn.execute(
            "INSERT INTO state_identity (store_id, kind, operator, reason, at, previous_store_id, found) VALUES (?, ?, ?, ?, ?, ?, ?)",
            tuple(record[k] for k in FIELDS),
        )

    def history(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.store.query("SELECT * FROM state_identity ORDER BY id")]
