"""Risk records (RISK-3, RISK-4, PORT-3): every limit violation and portfolio snapshots.

Two tables in the :class:`~peaktrade_core.state.StateStore`:

``risk_violations``
    One row per violation: when, run, batch, the order's client id and symbol (none for a
    whole-batch violation such as a daily loss limit), code, limit, value, message, the
    plugin that found it, and whether it blocked. The pipeline writes them with one
    ``executemany`` per batch that has violations; batches without any cost nothing.
``portfolio_snapshots``
    A time series of :class:`~peaktrade_core.portfolio.LivePortfolioSnapshot` totals
    (cash, equity, exposure, PnL, open positions) with the positions as JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from peaktrade_core.risk import ALWAYS_BLOCKING, RiskViolation
from peaktrade_core.state import StateStore

if TYPE_CHECKING:
    from peaktrade_core.orders import OrderRequest
    from peaktrade_core.portfolio import LivePortfolioSnapshot

_SCHEMA = """
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


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _select(table: str, where: list[str], limit: int | None) -> str:
    sql = f"SELECT * FROM {table}" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY id DESC"
    return sql + (f" LIMIT {int(limit)}" if limit is not None else "")


class RiskRecords:
    """Violation history and portfolio time series in the state store. Both read back
    newest first."""

    def __init__(self, store: StateStore, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock
        store.ensure_schema("risk_records", _SCHEMA)

    # -- violations (RISK-4)

    def record_violations(
        self,
        run_id: str | None,
        batch_no: int,
        orders: Sequence[OrderRequest],
        violations: Sequence[RiskViolation],
        blocked: bool,
    ) -> None:
        """Store the violations of one batch (``blocked``: ``block_on_violation`` was on;
        a failed plugin, the runaway throttle and non-finite numbers block regardless, and
        are recorded so)."""
        if not violations:
            return
        now = self.clock()
        rows = []
        for v in violations:
            order = orders[v.order_index] if v.order_index is not None else None
            rows.append(
                (
                    now,
                    run_id,
                    batch_no,
                    order.client_order_id if order is not None else None,
                    v.symbol or (order.symbol if order is not None else None),
                    str(v.code),
                    v.limit,
                    v.value,
                    v.message,
                    v.plugin,
                    int(blocked or v.code in ALWAYS_BLOCKING),
                )
            )
        with self.store.transaction() as conn:
            conn.executemany(_INSERT_VIOLATION, rows)

    def query(self, since: float | None = None, code: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Violations newest first; ``since`` in epoch seconds."""
        where, params = [], []
        if since is not None:
            where.append("time >= ?")
            params.append(since)
        if code is not None:
            where.append("code = ?")
            params.append(code)
        return [
            {
                "time": _iso(r["time"]),
                "timestamp": r["time"],
                "run_id": r["run_id"],
                "batch": r["batch_no"],
                "client_order_id": r["client_order_id"],
                "symbol": r["symbol"],
                "code": r["code"],
                "limit": r["limit_value"],
                "value": r["value"],
                "message": r["message"],
                "plugin": r["plugin"],
                "blocked": bool(r["blocked"]),
            }
            for r in self.store.query(_select("risk_violations", where, limit), params)
        ]

    # -- portfolio time series (PORT-3)

    def record_portfolio(self, snapshot: LivePortfolioSnapshot, run_id: str | None = None, source: str | None = None) -> None:
        """Append one snapshot at its ``as_of`` time; ``source`` defaults to the snapshot's
        own (``state``, ``exchange:<name>``, ``run:<id>`` …)."""
        positions = [
            {"symbol": p.symbol, "size": p.size, "mark_price": p.mark_price, "average_price": p.average_price}
            for p in snapshot.positions
        ]
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO portfolio_snapshots (time, recorded_at, run_id, source, cash, equity,"
                " total_exposure, open_positions, realized_pnl, unrealized_pnl, daily_pnl, positions)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    snapshot.as_of,
                    self.clock(),
                    run_id,
                    source or snapshot.source,
                    snapshot.cash,
                    snapshot.equity,
                    snapshot.total_exposure,
                    snapshot.open_positions,
                    snapshot.realized_pnl,
                    snapshot.unrealized_pnl,
                    snapshot.daily_pnl,
                    json.dumps(positions, separators=(",", ":")),
                ),
            )

    def portfolio_history(self, since: float | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Recorded snapshots newest first; ``since`` in epoch seconds (of ``as_of``)."""
        where, params = (["time >= ?"], [since]) if since is not None else ([], [])
        return [
            {
                "time": _iso(r["time"]),
                "timestamp": r["time"],
                "run_id": r["run_id"],
                "source": r["source"],
                "cash": r["cash"],
                "equity": r["equity"],
                "total_exposure": r["total_exposure"],
                "open_positions": r["open_positions"],
                "realized_pnl": r["realized_pnl"],
                "unrealized_pnl": r["unrealized_pnl"],
                "daily_pnl": r["daily_pnl"],
                "positions": json.loads(r["positions"]),
            }
            for r in self.store.query(_select("portfolio_snapshots", where, limit), params)
        ]
