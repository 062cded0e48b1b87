"""One risk budget for every process (and host) sharing a state store (docs/budget.md).

Each process checks the ``[live_risk]`` limits against its own portfolio; N processes
could together reach N times a limit. With ``[state] shared_risk_budget = true`` the
pipeline also *reserves* every order that passed risk and gates in the store, just before
it is submitted, inside one write transaction that serialises with every other process::

    settled shared exposure + live reservations + this order  <=  limit

per symbol (``max_symbol_exposure_notional``) and in total (``max_total_exposure_notional``
and, in live mode, the live total notional). An order that cannot reserve is
``risk_blocked`` with the code ``shared_risk_budget``, naming the limit and the shared
figures. After the executor answers, :meth:`SharedRiskBudget.settle` moves each fill into
the settled exposure (signed: a sell reduces a long) and releases the rest; an order that
is still working (accepted and resting, or an outcome the executor could not learn) keeps
its reservation until the session ends.

Each process holds a lease renewed on every batch and by a heartbeat while it holds
reservations. When it expires (the process crashed or hangs without a heartbeat), the next
process to reserve releases the reservations; the settled exposure stays: those positions
are real.
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from attrs import frozen

from peaktrade_core.log import SAFETY, logger
from peaktrade_core.orders import OrderExecutionResult, OrderRequest, OrderStatus, Side, TimeInForce
from peaktrade_core.risk import RiskViolation
from peaktrade_core.store.budget import HELD, BudgetTransaction, RiskBudgetRepository

if TYPE_CHECKING:
    from peaktrade_core.pipeline import ExecutionPipeline

#: the violation code of an order the shared budget could not reserve
SHARED_BUDGET = "shared_risk_budget"

#: quantities below this are float residue (as for positions)
_EPSILON = 1e-12

#: results whose unfilled remainder may still fill: accepted and resting at the venue, or an
#: error whose outcome the executor could not learn; their reservation is held
_STILL_WORKING = frozenset({OrderStatus.ACCEPTED, OrderStatus.ERROR})


@frozen
class BudgetLimits:
    """The ceilings the shared figures are held to (``inf``: not configured)."""

    symbol: float = math.inf
    total: float = math.inf
    live_total: float = math.inf

    @classmethod
    def of(cls, risk_limits: Any) -> BudgetLimits:
        """From the pipeline's standard limits (tightest of ``[live_risk]`` and, in live
        mode, ``[environment]``), so both checks apply the same numbers."""
        return cls(risk_limits.max_symbol, risk_limits.max_total, risk_limits.live_total)


def book_of(mode: str, sends: bool) -> str:
    """The budget a session spends: its mode, and a dry run apart from the real one."""
    if mode in ("testnet", "live") and not sends:
        return f"{mode}_dry_run"
    return mode


def _money(x: float) -> str:
    return f"{x:,.2f}"


class SharedRiskBudget:
    """One process's handle on the shared budget of ``book`` in ``store``."""

    def __init__(
        self,
        store: Any,
        *,
        book: str,
        limits: BudgetLimits,
        lease_seconds: float,
        prices: Mapping[str, float] | None = None,
        run_id: Callable[[], str | None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ):
        self.repo = RiskBudgetRepository(store)
        self.book = book
        self.limits = limits
        self.lease_seconds = lease_seconds
        #: last known prices, for an order without a limit or reference price
        self.prices = prices if prices is not None else {}
        self.run_id = run_id
        self.clock = clock
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.owner = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:12]}"
        self._batch = 0
        #: order index → (symbol, side, quantity, amount) of the batch in flight
        self._pending: dict[int, tuple[str, int, float, float]] = {}
        #: answered batches whose settlement has not committed yet: (batch, fills, held, orders)
        self._unsettled: list[tuple[int, dict[str, list[float]], dict[tuple[str, int], list[float]], int]] = []
        #: whether this owner has held a lease (a missing one then means it was released)
        self._leased = False
        self._held = False
        self._lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None

    @classmethod
    def for_pipeline(cls, pipeline: ExecutionPipeline) -> SharedRiskBudget:
        config = pipeline.config
        return cls(
            pipeline.store,
            book=book_of(config.environment.mode.value, pipeline.sends),
            limits=BudgetLimits.of(pipeline.risk_limits),
            lease_seconds=config.state.budget_lease_seconds,
            prices=pipeline.portfolio.last_prices,
            run_id=lambda: pipeline.run_id,
        )

    # -- before submit ---------------------------------------------------------------------

    def reserve(self, batch: Sequence[OrderRequest], passed: list[int], results: list[Any]) -> tuple[list[int], list[RiskViolation]]:
        """Reserve the orders at ``passed`` (indices into ``batch``) in one transaction.
        Returns the indices that reserved and a violation per order that could not; those
        get a ``risk_blocked`` result in ``results``."""
        if not passed:
            return passed, []
        self._batch += 1
        try:
            ok, refused = self._reserve(batch, passed, results, self.clock())
        except Exception as exc:  # noqa: BLE001 - fail closed: nothing reserved, nothing sent
            message = f"{SHARED_BUDGET}: the shared risk budget cannot be reached ({type(exc).__name__}: {exc}); nothing reserved"
            logger.bind(tag=SAFETY).critical("risk budget: {}", message)
            for i in passed:
                results[i] = OrderExecutionResult(batch[i], OrderStatus.RISK_BLOCKED, reasons=[message])
            return [], [RiskViolation(SHARED_BUDGET, message, i, batch[i].symbol) for i in passed]
        if ok:
            self._start_heartbeat()
        return ok, refused

    def _reserve(self, batch: Sequence[OrderRequest], passed: list[int], results: list[Any], now: float) -> tuple[list[int], list[RiskViolation]]:
        ok: list[int] = []
        refused: list[RiskViolation] = []
        rows: dict[tuple[str, int], list[float]] = {}
        pending: dict[int, tuple[str, int, float, float]] = {}
        with self.repo.transaction() as tx:
            if self._unsettled:  # a settlement that failed before: first, in this transaction
                self._apply_unsettled(tx, now)
            self._release_expired(tx, now)
            self._renew(tx, now)
            settled, reserved = tx.figures(self.book)
            exposure = {s: abs(q) * p for s, (q, p) in settled.items()}
            total = sum(exposure.values()) + sum(r[0] for r in reserved.values())
            max_symbol, max_total = self.limits.symbol, min(self.limits.total, self.limits.live_total)
            prices, buy = self.prices, Side.BUY
            for i in passed:
                order = batch[i]
                symbol = order.symbol
                quantity = order.quantity
                side = 1 if order.side is buy else -1
                position, mark = settled.get(symbol, (0.0, None))
                r = reserved.get(symbol)
                if r is None:
                    r = reserved[symbol] = [0.0, 0.0, 0.0]
                # reduces whatever else fills: against the position, and together with every
                # reservation on the same side no larger than it
                if position * side < 0 and r[1 if side > 0 else 2] + quantity <= abs(position) + _EPSILON:
                    amount = 0.0
                else:
                    price = order.price or prices.get(symbol) or mark
                    amount = quantity * price if price else math.inf
                    if exposure.get(symbol, 0.0) + r[0] + amount > max_symbol or total + amount > max_total:
                        violation = self._refusal(i, symbol, exposure.get(symbol, 0.0), r[0], total, amount)
                        refused.append(violation)
                        results[i] = OrderExecutionResult(order, OrderStatus.RISK_BLOCKED, reasons=[violation.message])
                        continue
                r[0] += amount
                r[1 if side > 0 else 2] += quantity
                total += amount
                row = rows.get((symbol, side))
                if row is None:
                    row = rows[(symbol, side)] = [0.0, 0.0]
                row[0] += quantity
                row[1] += amount
                pending[i] = (symbol, side, quantity, amount)
                ok.append(i)
            if rows:
                tx.add_reservations(self.book, self.owner, self._batch, rows)
            self._record(tx, "reserve", now, exposure, reserved, len(ok), len(refused))
        self._unsettled.clear()
        self._pending = pending
        return ok, refused

    def _refusal(self, index: int, symbol: str, exposure: float, reserved: float, total: float, amount: float) -> RiskViolation:
        """The violation naming the first limit this reservation would break (the slow
        path: only here are messages built)."""
        limits = self.limits
        shared = "(shared by every process on this state store)"
        if amount == math.inf:
            limit, value, text = None, None, f"no price for {symbol}: the order's exposure cannot be reserved"
        elif exposure + reserved + amount > limits.symbol:
            limit, value = limits.symbol, exposure + reserved + amount
            text = (
                f"{symbol} exposure {_money(exposure)} settled + {_money(reserved)} reserved + {_money(amount)} this order "
                f"= {_money(value)} > max_symbol_exposure_notional {_money(limit)} {shared}"
            )
        else:
            name, limit = ("max_total_exposure_notional", limits.total) if limits.total <= limits.live_total else ("max_live_notional_total", limits.live_total)
            what = "total exposure" if name == "max_total_exposure_notional" else "live total notional"
            value = total + amount
            text = f"{what} {_money(total)} settled and reserved + {_money(amount)} this order = {_money(value)} > {name} {_money(limit)} {shared}"
        return RiskViolation(SHARED_BUDGET, f"{SHARED_BUDGET}: {text}", index, symbol, limit, value)

    # -- after the executor answered -------------------------------------------------------

    def settle(self, batch: Sequence[OrderRequest], results: Sequence[OrderExecutionResult]) -> None:
        """Fills into the settled shared exposure, the rest of the batch's reservations
        released; the remainder of an order still working stays reserved (held)."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        fills: dict[str, list[float]] = {}
        held: dict[tuple[str, int], list[float]] = {}
        for i, (symbol, side, quantity, amount) in pending.items():
            result = results[i]
            filled = 0.0
            for f in result.fills:
                entry = fills.get(f.symbol)
                if entry is None:
                    entry = fills[f.symbol] = [0.0, f.price]
                entry[0] += f.quantity if f.side is Side.BUY else -f.quantity
                entry[1] = f.price
                filled += f.quantity
            rest = quantity - filled
            if rest > _EPSILON and result is not None and result.status in _STILL_WORKING and _may_rest(batch[i]):
                row = held.get((symbol, side))
                if row is None:
                    row = held[(symbol, side)] = [0.0, 0.0]
                row[0] += rest
                row[1] += amount * rest / quantity
        self._unsettled.append((self._batch, fills, held, len(pending)))
        now = self.clock()
        try:
            with self.repo.transaction() as tx:
                orders = self._apply_unsettled(tx, now)
                self._renew(tx, now)
                settled, reserved = tx.figures(self.book)
                self._record(tx, "settle", now, {s: abs(q) * p for s, (q, p) in settled.items()}, reserved, orders, 0)
        except Exception as exc:  # noqa: BLE001 - the orders were executed: record them; settle with the next batch
            logger.bind(tag=SAFETY).critical("risk budget: could not settle batch {} ({}); retried with the next batch", self._batch, exc)
            return
        self._unsettled.clear()

    def _apply_unsettled(self, tx: BudgetTransaction, now: float) -> int:
        """Settle every answered batch not settled yet (normally just the one in hand)."""
        orders = 0
        for batch_no, fills, held, n in self._unsettled:
            if fills:
                tx.add_fills(self.book, {s: (q, p) for s, (q, p) in fills.items()}, now)
            tx.drop_batch(self.owner, batch_no)
            if held:
                tx.add_reservations(self.book, self.owner, HELD, held)
                self._held = True
            orders += n
        return orders

    # -- leases ----------------------------------------------------------------------------

    def _renew(self, tx: BudgetTransaction, now: float) -> None:
        had = tx.renew_lease(self.owner, self.book, self.host, self.pid, self.run_id(), now, now + self.lease_seconds)
        if self._leased and not had:
            self._held = False
            logger.bind(tag=SAFETY).critical(
                "risk budget: the lease of this process ({}) had expired and its reservations were released; "
                "give [state] budget_lease_seconds more than the longest batch takes",
                self.owner,
            )
        self._leased = True

    def _release_expired(self, tx: BudgetTransaction, now: float) -> None:
        """Release the reservations of every process whose lease expired (any book)."""
        expired = tx.expired_leases(now)
        for lease in expired:
            held = tx.reservations_of(lease["owner"])
            tx.drop_owner(lease["owner"])
            if lease["owner"] == self.owner:
                continue  # our own, expired while idle: _renew says so
            amount = sum(a for _, _, _, a in held)
            logger.bind(tag=SAFETY).warning(
                "risk budget: lease of {} (pid {} on {}, run {}) expired; released {} reserved",
                lease["owner"], lease["pid"], lease["host"], lease["run_id"] or "-", _money(amount),
            )
            detail = {"released": lease, "reservations": [list(h) for h in held]}
            tx.record(lease["book"], self.owner, "release", now, 0, 0, 0.0, amount, json.dumps(detail, sort_keys=True))
        if expired or self._batch % 64 == 0:  # reservations without a lease: only from edits by hand
            tx.drop_orphans()

    def renew(self) -> None:
        """Extend the lease now (the heartbeat calls it while reservations are held)."""
        with self.repo.transaction() as tx:
            self._renew(tx, self.clock())

    def _start_heartbeat(self) -> None:
        with self._lock:
            if self._heartbeat is None or not self._heartbeat.is_alive():
                self._heartbeat = threading.Thread(
                    target=_heartbeat, args=(weakref.ref(self), self.lease_seconds / 3), name="risk-budget-lease", daemon=True
                )
                self._heartbeat.start()

    def holds_anything(self) -> bool:
        return bool(self._pending) or self._held or bool(self._unsettled)

    def close(self) -> None:
        """The session ended: release what it still holds and give up the lease."""
        if not self._leased:
            return
        now = self.clock()
        self._pending = {}
        try:
            with self.repo.transaction() as tx:
                self._apply_unsettled(tx, now)
                tx.drop_owner(self.owner)
                settled, reserved = tx.figures(self.book)
                self._record(tx, "close", now, {s: abs(q) * p for s, (q, p) in settled.items()}, reserved, 0, 0)
        except Exception as exc:  # noqa: BLE001 - the lease runs out and releases them instead
            logger.bind(tag=SAFETY).critical("risk budget: could not release this session's reservations ({}); its lease will", exc)
            return
        self._unsettled.clear()
        self._leased = self._held = False

    def _record(self, tx: BudgetTransaction, kind: str, now: float, exposure: Mapping[str, float], reserved: Mapping[str, list[float]], orders: int, blocked: int) -> None:
        """The figures this transaction leaves behind, with the limits it applied."""
        symbols = sorted(set(exposure) | {s for s, r in reserved.items() if r[0]})
        detail = {
            "symbols": {s: [exposure.get(s, 0.0), reserved[s][0] if s in reserved else 0.0] for s in symbols},
            "limits": {k: (None if v == math.inf else v) for k, v in (("symbol", self.limits.symbol), ("total", self.limits.total), ("live_total", self.limits.live_total))},
        }
        tx.record(
            self.book, self.owner, kind, now, orders, blocked,
            sum(exposure.values()), sum(r[0] for r in reserved.values()), json.dumps(detail, sort_keys=True),
        )


def _may_rest(order: OrderRequest) -> bool:
    """An immediate-or-cancel / fill-or-kill order never keeps working after the answer."""
    return order.time_in_force is TimeInForce.GTC


def _heartbeat(ref: weakref.ReferenceType[SharedRiskBudget], interval: float) -> None:
    """Renew the lease while the budget holds reservations; end when it holds none (the
    next reservation starts a new one) or is gone."""
    while True:
        time.sleep(interval)
        budget = ref()
        if budget is None or not budget.holds_anything():
            return
        try:
            budget.renew()
        except Exception as exc:  # noqa: BLE001 - the next batch renews (and reports) again
            logger.bind(tag=SAFETY).error("risk budget: could not renew the lease: {}", exc)
        del budget


def reset_settled(store: Any, book: str, symbol: str, quantity: float, price: float, *, operator: str, reason: str) -> None:
    """Set the settled shared position of ``symbol`` (after reconciling it with the venue,
    e.g. positions closed outside peaktrade); recorded in the budget log."""
    if not (math.isfinite(quantity) and math.isfinite(price) and price > 0):
        raise ValueError(f"quantity must be finite and price a finite number > 0, got {quantity!r}, {price!r}")
    repo = RiskBudgetRepository(store)
    now = time.time()
    with repo.transaction() as tx:
        before = tx.settled(book).get(symbol)
        tx.set_settled(book, symbol, quantity, price, now)
        detail = {"symbol": symbol, "before": list(before) if before else None, "after": [quantity, price], "operator": operator, "reason": reason}
        settled = tx.settled(book)
        tx.record(
            book, f"operator:{operator}", "reset", now, 0, 0,
            sum(abs(q) * p for q, p in settled.values()), sum(r[0] for r in tx.reserved(book).values()), json.dumps(detail, sort_keys=True),
        )
