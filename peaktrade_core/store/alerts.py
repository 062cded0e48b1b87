"""The alert history and each alert's delivery per sink."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from peaktrade_core.store.base import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    time REAL NOT NULL,
    level INTEGER NOT NULL,
    source TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    context TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    repeat INTEGER NOT NULL,
    recorded_at REAL NOT NULL,
    -- 0: recorded while [live_alerts] enabled = false, never delivered
    delivery_enabled INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_history_time ON alert_history (time);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    alert_id TEXT NOT NULL REFERENCES alert_history (id),
    sink TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (alert_id, sink)
);
CREATE INDEX IF NOT EXISTS alert_deliveries_open ON alert_deliveries (status) WHERE status != 'delivered';
"""
#: an alert's stored fields, in the order :meth:`AlertRepository.record` takes them
ALERT_FIELDS = (
    "id", "time", "level", "source", "code", "message", "context", "dedup_key", "repeat", "recorded_at", "delivery_enabled",
)


class AlertRepository:
    def __init__(self, store: StateStore):
        self.store = store
        store.ensure_schema("alert_history", _SCHEMA)

    def record(self, alerts: Sequence[tuple[Any, ...]], sinks: Collection[str], now: float) -> None:
        """Alerts (:data:`ALERT_FIELDS` each) with a ``pending`` delivery per sink; an alert
        stored already (same id) is left as it is."""
        with self.store.transaction() as conn:
            conn.executemany(
                f"INSERT INTO alert_history ({', '.join(ALERT_FIELDS)}) VALUES ({', '.join('?' * len(ALERT_FIELDS))})"
                " ON CONFLICT (id) DO NOTHING",
                alerts,
            )
            conn.executemany(
                "INSERT INTO alert_deliveries (alert_id, sink, status, updated_at) VALUES (?, ?, 'pending', ?)"
                " ON CONFLICT (alert_id, sink) DO NOTHING",
                [(a[0], sink, now) for a in alerts for sink in sinks],
            )

    def mark(self, alert_id: str, sink: str, delivered: bool, error: str | None, now: float) -> None:
        """One attempt; a delivery marked delivered is never touched again."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE alert_deliveries SET status = ?, attempts = attempts + 1, error = ?, updated_at = ?"
                " WHERE alert_id = ? AND sink = ? AND status != 'delivered'",
                ("delivered" if delivered else "failed", error, now, alert_id, sink),
            )

    def undelivered(self, sinks: Collection[str]) -> list[Any]:
        """Alert rows with their ``sink``, one per delivery to ``sinks`` not yet delivered, oldest first."""
        if not sinks:
            return []
        marks = ",".join("?" * len(sinks))
        return self.store.query(
            "SELECT h.*, d.sink FROM alert_deliveries d JOIN alert_history h ON h.id = d.alert_id"
            f" WHERE d.status != 'delivered' AND d.sink IN ({marks}) ORDER BY h.seq",
            list(sinks),
        )

    def alerts(self, min_level: int | None = None, since: float | None = None, limit: int | None = None) -> list[Any]:
        """Alert rows, newest first."""
        where, params = [], []
        if min_level is not None:
            where.append("level >= ?")
            params.append(int(min_level))
        if since is not None:
            where.append("time >= ?")
            params.append(since)
        sql = "SELECT * FROM alert_history" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.store.query(sql, params)

    def deliveries(self, alert_ids: Sequence[str]) -> list[Any]:
        """The delivery rows of these alerts, by sink."""
        if not alert_ids:
            return []
        out = []
        for i in range(0, len(alert_ids), 500):  # bounded parameter lists
            chunk = list(alert_ids[i:i + 500])
            out += self.store.query(
                f"SELECT * FROM alert_deliveries WHERE alert_id IN ({','.join('?' * len(chunk))}) ORDER BY sink", chunk
            )
        return out

    def delivered_sinks_since(self, since: float) -> list[str]:
        """The sinks that had an alert delivered at or after ``since``."""
        rows = self.store.query(
            "SELECT DISTINCT sink FROM alert_deliveries WHERE status = 'delivered' AND updated_at >= ?", (since,)
        )
        return [r["sink"] for r in rows]

    def last_delivered(self) -> Any:
        """The newest delivered delivery (``sink``, ``updated_at``), or ``None``."""
        rows = self.store.query(
            "SELECT sink, updated_at FROM alert_deliveries WHERE status = 'delivered' ORDER BY updated_at DESC LIMIT 1"
        )
        return rows[0] if rows else None
