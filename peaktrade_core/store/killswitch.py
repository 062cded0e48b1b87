"""The kill switch's events (who, when, why, from where), hash-chained."""

from __future__ import annotations

from typing import Any

from peaktrade_core.store.base import StateStore, add_column

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kill_switch_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL CHECK (action IN ('engage', 'release')),
    operator TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    source TEXT NOT NULL
);
"""
MIGRATIONS = [_SCHEMA, add_column("kill_switch_events", "chain", "TEXT")]
#: the fields an event's chain hash covers, in order
EVENT_FIELDS = ("action", "operator", "reason", "at", "source")
NOTICE = "kill_switch"


class KillSwitchRepository:
    def __init__(self, store: StateStore):
        self.store = store
        store.migrate("kill_switch", MIGRATIONS)

    def last(self) -> Any:
        rows = self.store.query(
            "SELECT action, operator, reason, at, source FROM kill_switch_events ORDER BY id DESC LIMIT 1"
        )
        return rows[0] if rows else None

    @staticmethod
    def last_chain(conn: Any) -> str:
        row = conn.execute("SELECT chain FROM kill_switch_events ORDER BY id DESC LIMIT 1").fetchone()
        return (row and row[0]) or ""

    def append(self, conn: Any, event: dict[str, Any]) -> int:
        """Inside a transaction: one event (with its ``chain``); tells other processes."""
        row = conn.execute(
            "INSERT INTO kill_switch_events (action, operator, reason, at, source, chain) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (*(event[k] for k in EVENT_FIELDS), event["chain"]),
        ).fetchone()
        self.store.notify(conn, NOTICE)
        return row[0]

    def history(self) -> list[dict[str, Any]]:
        rows = self.store.query("SELECT id, action, operator, reason, at, source FROM kill_switch_events ORDER BY id")
        return [dict(r) for r in rows]

    def chained_events(self, conn: Any = None) -> list[dict[str, Any]]:
        rows = self.store.rows(conn, "SELECT id, action, operator, reason, at, source, chain FROM kill_switch_events ORDER BY id")
        return [dict(r) for r in rows]

    @staticmethod
    def reseal(conn: Any, event_id: int, chain: str) -> None:
        conn.execute("UPDATE kill_switch_events SET chain = ? WHERE id = ?", (chain, event_id))

    @staticmethod
    def head(conn: Any) -> tuple[int, Any]:
        """(number of events, the last one with its chain) — for the identity file."""
        count = conn.execute("SELECT count(*) FROM kill_switch_events").fetchone()[0]
        row = conn.execute("SELECT action, operator, reason, at, chain FROM kill_switch_events ORDER BY id DESC LIMIT 1").fetchone()
        return count, row
