"""Testnet usage: orders and notional counted per session (one ``testnet run``), summed per UTC day."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from peaktrade_core.store.base import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS testnet_usage (
    session TEXT PRIMARY KEY,
    day TEXT NOT NULL,
    limits TEXT NOT NULL,
    profile TEXT NOT NULL,
    orders INTEGER NOT NULL DEFAULT 0,
    notional REAL NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    operator TEXT
);
CREATE INDEX IF NOT EXISTS testnet_usage_day ON testnet_usage (day, limits);
"""
_DAY_TOTALS = (
    "SELECT COALESCE(SUM(orders),0), COALESCE(SUM(notional),0), COUNT(*), COALESCE(SUM(refused),0) "
    "FROM testnet_usage WHERE day = ? AND limits = ?"
)

#: ``(orders, notional)`` of the session and of the day -> why one more order is refused, or ``None``
Check = Callable[[tuple[int, float], tuple[int, float]], "str | None"]


def _totals(row: Any) -> tuple[int, float, int, int]:
    # PostgreSQL sums integers as numeric: plain numbers for the callers
    return int(row[0]), float(row[1]), int(row[2]), int(row[3])


class TestnetUsageRepository:
    def __init__(self, store: StateStore):
        self.store = store
        store.ensure_schema("testnet_usage", _SCHEMA)

    def day_totals(self, day: str, limits: str) -> tuple[int, float, int, int]:
        """``(orders, notional, sessions, refused)`` of one day under one limits set."""
        return _totals(self.store.query(_DAY_TOTALS, (day, limits))[0])

    def sessions(self, limit: int) -> list[dict[str, Any]]:
        """The newest sessions, newest first."""
        rows = self.store.query(
            "SELECT session, day, limits, profile, orders, notional, refused, started_at, operator "
            "FROM testnet_usage ORDER BY started_at DESC LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in rows]

    def add_refused(self, session: str, refused: int) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE testnet_usage SET refused = refused + ? WHERE session = ?", (refused, session))

    def reserve(self, session: str, day: str, limits: str, profile: str, started_at: str, operator: str | None,
                notional: float, check: Check) -> str | None:
        """Count one order of ``notional`` for ``session`` unless ``check`` refuses it, in one
        write transaction: two sessions at once share the day's budget without both taking
        its last order. Returns ``check``'s refusal, or ``None`` (counted)."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO testnet_usage (session, day, limits, profile, started_at, operator) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT (session) DO NOTHING",
                (session, day, limits, profile, started_at, operator),
            )
            mine = conn.execute("SELECT orders, notional FROM testnet_usage WHERE session = ?", (session,)).fetchone()
            total = _totals(conn.execute(_DAY_TOTALS, (day, limits)).fetchone())
            reason = check((int(mine[0]), float(mine[1])), total[:2])
            if reason is None:
                conn.execute("UPDATE testnet_usage SET orders = orders + 1, notional = notional + ? WHERE session = ?", (notional, session))
            return reason
