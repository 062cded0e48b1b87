"""The SQL of the risk records: limit violations and portfolio snapshots.

Portable SQL (SQLite and PostgreSQL): ``?`` placeholders, the DDL subset of
``ensure_schema``, no dialect functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SCHEMA_NAME = "risk_records"

SCHEMA = """
CREATE TABLE IF NOT EXISTS risk_violations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    run_id TEXT,
    batch_no INTEGER NOT NULL,
    client_order_id TEXT,
    symbol TEXT,
    code TEXT NOT NULL,
    limit_value REAL,
    value REAL,
    message TEXT NOT NULL,
    plugin TEXT NOT NULL,
    blocked INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS risk_violations_time ON risk_violations (time);
CREATE INDEX IF NOT EXISTS risk_violations_code ON risk_violations (code, time);
CREATE TABLE IF NOT EXISTS portfolio_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    recorded_at REAL NOT NULL,
    run_id TEXT,
    source TEXT NOT NULL,
    cash REAL NOT NULL,
    equity REAL NOT NULL,
    total_exposure REAL NOT NULL,
    open_positions INTEGER NOT NULL,
    realized_pnl REAL,
    unrealized_pnl REAL,
    daily_pnl REAL,
    positions TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS portfolio_snapshots_time ON portfolio_snapshots (time);
"""

_INSERT_VIOLATION = (
    "INSERT INTO risk_violations (time, run_id, batch_no, client_order_id, symbol, code,"
    " limit_value, value, message, plugin, blocked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_INSERT_SNAPSHOT = (
    "INSERT INTO portfolio_snapshots (time, recorded_at, run_id, source, cash, equity,"
    " total_exposure, open_positions, realized_pnl, unrealized_pnl, daily_pnl, positions)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

#: one violation row, in the column order of ``_INSERT_VIOLATION``
ViolationRow = tuple[float, str | None, int, str | None, str | None, str, float | None, float | None, str, str, int]
#: one snapshot row, in the column order of ``_INSERT_SNAPSHOT``
SnapshotRow = tuple[float, float, str | None, str, float, float, float, int, float | None, float | None, float | None, str]


def _select(table: str, where: list[str], limit: int | None) -> str:
    sql = f"SELECT * FROM {table}" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY id DESC"
    return sql + (f" LIMIT {int(limit)}" if limit is not None else "")


class RiskRecordsRepository:
    """Rows of ``risk_violations`` and ``portfolio_snapshots``; reads newest first."""

    def __init__(self, store: Any):
        self.store = store
        store.ensure_schema(SCHEMA_NAME, SCHEMA)

    def add_violations(self, rows: Sequence[ViolationRow]) -> None:
        """Every row in one transaction (one batch's violations)."""
        with self.store.transaction() as conn:
            conn.executemany(_INSERT_VIOLATION, rows)

    def violations(self, since: float | None = None, code: str | None = None, limit: int | None = None, run_id: str | None = None) -> list[Any]:
        where: list[str] = []
        params: list[Any] = []
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        if since is not None:
            where.append("time >= ?")
            params.append(since)
        if code is not None:
            where.append("code = ?")
            params.append(code)
        return list(self.store.query(_select("risk_violations", where, limit), params))

    def add_snapshot(self, row: SnapshotRow) -> None:
        with self.store.transaction() as conn:
            conn.execute(_INSERT_SNAPSHOT, row)

    def snapshots(self, since: float | None = None, limit: int | None = None, run_id: str | None = None) -> list[Any]:
        where, params = (["time >= ?"], [since]) if since is not None else ([], [])
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        return list(self.store.query(_select("portfolio_snapshots", where, limit), params))
