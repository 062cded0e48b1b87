"""Risk records (RISK-3, RISK-4, PORT-3): every limit violation and portfolio snapshots.

Two tables in the :class:`~peaktrade_core.state.StateStore` (their SQL:
:class:`~peaktrade_core.store.riskrecords.RiskRecordsRepository`):

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
from peaktrade_core.store.riskrecords import RiskRecordsRepository, ViolationRow

if TYPE_CHECKING:
    from peaktrade_core.orders import OrderRequest
    from peaktrade_core.portfolio import LivePortfolioSnapshot

def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


class RiskRecords:
    """Violation history and portfolio time series in the state store. Both read back
    newest first.

    ``window`` (seconds, 0: none, each batch's violations are written at once): violations
    are gathered and written in one transaction once the oldest is that old (at the next
    :meth:`record_violations` or :meth:`write_due`), and by :meth:`flush`. A session whose
    run log groups its commits by time (durability ``group``: paper, shadow) gathers them
    over the same window while it runs: a strategy that keeps running into a limit paid a
    transaction (and the kill switch's re-read after it) per blocked order, five times the
    cost of an order that fills. A failed write keeps them for the next."""

    def __init__(self, store: StateStore, clock: Callable[[], float] = time.time, window: float = 0.0):
        self.store = store
        self.clock = clock
        self.repository = RiskRecordsRepository(store)
        self.window = window
        self._pending: list[ViolationRow] = []
        #: ``time.monotonic()`` of the oldest violation not written yet
        self._oldest: float | None = None

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
        self._pending += rows
        if self._oldest is None:
            self._oldest = time.monotonic()
        self.write_due()

    def write_due(self) -> None:
        """Write the gathered violations if the oldest is a window old (no window: now)."""
        if self._oldest is not None and (not self.window or time.monotonic() - self._oldest >= self.window):
            self.flush()

    def flush(self) -> None:
        """Write the gathered violations now (one transaction); a failed write keeps them."""
        if not self._pending:
            return
        rows, self._pending, oldest, self._oldest = self._pending, [], self._oldest, None
        try:
            self.repository.add_violations(rows)
        except BaseException:
            self._pending[:0] = rows
            self._oldest = oldest
            raise

    def query(self, since: float | None = None, code: str | None = None, limit: int | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
        """Violations newest first; ``since`` in epoch seconds; ``run_id``: only that run's."""
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
            for r in self.repository.violations(since, code, limit, run_id)
        ]

    # -- portfolio time series (PORT-3)

    def record_portfolio(self, snapshot: LivePortfolioSnapshot, run_id: str | None = None, source: str | None = None) -> None:
        """Append one snapshot at its ``as_of`` time; ``source`` defaults to the snapshot's
        own (``state``, ``exchange:<name>``, ``run:<id>`` …)."""
        positions = [
            {"symbol": p.symbol, "size": p.size, "mark_price": p.mark_price, "average_price": p.average_price}
            for p in snapshot.positions
        ]
        self.repository.add_snapshot(
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
            )
        )

    def portfolio_history(self, since: float | None = None, limit: int | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
        """Recorded snapshots newest first; ``since`` in epoch seconds (of ``as_of``); ``run_id``: only that run's."""
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
            for r in self.repository.snapshots(since, limit, run_id)
        ]
