"""Every time the kill switch cancelled a venue's open orders (or failed to)."""

from __future__ import annotations

from typing import Any

from peaktrade_core.store.base import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS venue_cancel_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    venue TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    operator TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    cancelled INTEGER,
    error TEXT
);
"""
FIELDS = ("at", "venue", "endpoint", "operator", "source", "reason", "cancelled", "error")


class VenueCancelRepository:
    def __init__(self, store: StateStore):
        self.store = store
        store.ensure_schema("venue_cancels", _SCHEMA)

    def add(self, event: dict[str, Any]) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                f"INSERT INTO venue_cancel_events ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})",
                tuple(event[k] for k in FIELDS),
            )

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Oldest first; with ``limit``, the newest ``limit``."""
        if limit is None:
            return [dict(r) for r in self.store.query("SELECT * FROM venue_cancel_events ORDER BY id")]
        rows = self.store.query("SELECT * FROM venue_cancel_events ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(r) for r in reversed(rows)]
