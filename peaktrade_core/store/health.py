"""The outcome of every ``peaktrade health`` run."""

from __future__ import annotations

from typing import Any

from peaktrade_core.store.base import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS health_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    preset TEXT NOT NULL,
    ok INTEGER NOT NULL,
    checks TEXT NOT NULL
);
"""


class HealthResultsRepository:
    def __init__(self, store: StateStore):
        self.store = store
        store.ensure_schema("health_results", _SCHEMA)

    def add(self, at: str, preset: str, ok: bool, checks: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO health_results (at, preset, ok, checks) VALUES (?, ?, ?, ?)", (at, preset, int(ok), checks))

    def newest(self, limit: int) -> list[dict[str, Any]]:
        """``at``, ``preset`` and ``ok`` of the newest results, newest first."""
        rows = self.store.query("SELECT at, preset, ok FROM health_results ORDER BY id DESC LIMIT ?", (limit,))
        return [{"at": r["at"], "preset": r["preset"], "ok": bool(r["ok"])} for r in rows]
