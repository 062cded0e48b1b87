"""The execution pipeline (ORD-6): risk → gates → executor, for each batch, all recorded.

For every batch of orders::

    kill switch + environment gates (once per batch)
    check_risk hook (standard limits + plugins) + stateful pre-trade controls
    check_gate hook (safety gates + plugins), only for orders risk let through
    executor (chosen by select_executor; real-order executors behind the guard)
    portfolio updated from fills · run log records · alerts raised (non-blocking)

Plugins fail closed: one that raises, times out, returns garbage or failed to load blocks
the batch with a reason naming it. Memory stays flat however many orders stream through.
"""

from __future__ import annotations

import gc
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from operator import attrgetter, itemgetter
from typing import Any

from attrs import define, field

from peaktrade_core.alerts import AlertEvent, AlertLevel
from peaktrade_core.config import PeakTradeConfig
from peaktrade_core.environment import EffectiveMode, TradingMode
from peaktrade_core.gates import (
    RELEASED,
    GateContext,
    GateDecision,
    GateReport,
    KillSwitchState,
    effective_mode_of,
    evaluate_gates,
)
from peaktrade_core.killswitch import KillSwitch, current_operator
from peaktrade_core.log import SAFETY, logger
from peaktrade_core.marketdata import LastPrices, Quote
from peaktrade_core.orders import (
    OrderExecutionResult,
    OrderExecutor,
    OrderRequest,
    OrderStatus,
    Side,
)
from peaktrade_core.plugins import PluginManager, get_plugin_manager
from peaktrade_core.risk import (
    ALWAYS_BLOCKING,
    CapitalLimits,
    LiveRiskLimits,
    NonFiniteAccountingError,
    PortfolioState,
    PreTradeControls,
    RiskViolation,
    blocked_orders,
)
from peaktrade_core.state import GUARDED_MODES, StateStore, ensure_state_identity
from peaktrade_core.store import StateError, open_store
from peaktrade_core.venues import _GENERATED, ClientOrderIds, cancel_open_orders, venue_info

#: statuses of orders that reached the market (count for the runaway throttle)
_EXECUTED = frozenset({OrderStatus.ACCEPTED, OrderStatus.VALIDATED, OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED})

#: the slot's own setter (past the frozen ``__setattr__``): ids are replaced on the hot path
_SET_CLIENT_ORDER_ID = OrderRequest.client_order_id.__set__  # type: ignore[attr-defined]
_CLIENT_ID = attrgetter("client_order_id")
_HEAD = itemgetter(slice(16))
_FILLS = attrgetter("fills")
_STATUS = attrgetter("status")
_FIRST = itemgetter(0)
_JUST_FILLED = {OrderStatus.FILLED}
_ONE = {1}

#: orders between two kill-switch checks for executors that send nothing real (those that
#: do are re-checked before every single order by the guard)
KILL_SWITCH_CHECK_EVERY = 64
#: sessions whose executor sends nothing (paper, shadow) check the store for a kill switch
#: engaged by another process at most this often (a check costs about as much as the rest
#: of a one-order batch); one engaged by this process is seen by the next batch, and
#: testnet/live read the switch from the store for every batch
KILL_SWITCH_MAX_AGE_SECONDS = 0.001
#: a one-order batch (an event-driven strategy) takes the per-result rules without the set-up
#: of the loops over a whole batch (a property test holds both paths equal)
ONE_ORDER_FAST_PATH = True
#: between the batches of a session, the aged kill-switch check is renewed once it is this
#: much of its maximum age old, so that the next batch's decision seldom pays for it
KILL_SWITCH_RENEW_AT = 0.8
#: between the batches of a session, a garbage collection due within this share of the
#: collector's first threshold (new objects) is run there instead of inside the next batch
COLLECT_HEADROOM = 0.1


@define
class SessionSummary:
    run_id: str | None
    mode: str
    effective_mode: str
    executor: str
    orders: int = 0
    batches: int = 0
    by_status: Counter[str] = field(factory=Counter)
    blocks_by_reason: Counter[str] = field(factory=Counter)
    fills: int = 0
    fees: float = 0.0
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0
    total_exposure: float = 0.0
    exposure_by_symbol: dict[str, float] = field(factory=dict)
    positions: dict[str, float] = field(factory=dict)
    average_prices: dict[str, float] = field(factory=dict)
    marks: dict[str, float] = field(factory=dict)
    cash: float = 0.0
    starting_cash: float = 0.0
    seconds: float = 0.0
    status: str = "finished"
    #: the persistent account the session continued (``None``: a venue mode, or not recorded)
    account: str | None = None
    fresh_account: bool = False
    #: the kill switch was released when the run started and engaged when it ended
    kill_switch_engaged_during_run: bool = False
    #: the signal that stopped the run early (``SIGTERM``, ``SIGINT``), if any
    interrupted_by: str | None = None
    #: venue, endpoint, testnet, validate_only (``None``: no venue client)
    venue: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "mode": self.mode,
            "effective_mode": self.effective_mode,
            "executor": self.executor,
            "venue": self.venue,
            "orders": self.orders,
            "batches": self.batches,
            "by_status": dict(self.by_status),
            "blocks_by_reason": dict(self.blocks_by_reason.most_common()),
            "fills": self.fills,
            "fees": round(self.fees, 8),
            "realized_pnl": round(self.realized_pnl, 8),
            "unrealized_pnl": round(self.unrealized_pnl, 8),
            "total_exposure": round(self.total_exposure, 8),
            "exposure_by_symbol": {k: round(v, 8) for k, v in sorted(self.exposure_by_symbol.items())},
            "positions": dict(sorted(self.positions.items())),
            "average_prices": {k: round(v, 10) for k, v in sorted(self.average_prices.items())},
            "marks": {k: round(v, 10) for k, v in sorted(self.marks.items())},
            "cash": round(self.cash, 8),
            "starting_cash": self.starting_cash,
            "seconds": round(self.seconds, 3),
            "orders_per_second": round(self.orders / self.seconds) if self.seconds else None,
            "account": self.account,
            "fresh_account": self.fresh_account,
            "kill_switch_engaged_during_run": self.kill_switch_engaged_during_run,
            "interrupted_by": self.interrupted_by,
        }


class NullExecutor:
    """For previews: selecting it never fails and it never executes anything."""

    name = "none"
    sends_real_orders = False

    def execute_orders(self, orders: Sequence[OrderRequest]) -> list[OrderExecutionResult]:
        raise RuntimeError("the preview executor never executes orders")

    def cancel_order(self, client_order_id: str) -> bool:
        return False


def batched(orders: Iterable[OrderRequest], size: int) -> Iterator[list[OrderRequest]]:
    """Lists of ``size`` orders (the last one shorter), each handed on as soon as it is full."""
    source = iter(orders)
    if size == 1:  # one order per call: no slice to set up per order
        for order in source:
            yield [order]
        return
    while batch := list(islice(source, size)):
        yield batch


class ExecutionPipeline:
    """Runs order batches through risk, gates and one executor, recording everything.

    :param config: the effective configuration.
    :param store: the state store (kill switch, run log); default: the config's data dir.
    :param executor: an executor to use instead of asking ``select_executor``.
    :param alerts: an alert dispatcher (``emit(event)``); ``None``: alerts go to the log.
    :param confirm: asks a person to confirm one live order; ``None``: no terminal.
    :param record: keep a run log (default). Drills and previews pass ``False``.
    """

    def __init__(
        self,
        config: PeakTradeConfig,
        *,
        store: StateStore | None = None,
        executor: OrderExecutor | None = None,
        plugin_manager: PluginManager | None = None,
        alerts: Any = None,
        confirm: Callable[[OrderRequest], bool] | None = None,
        simulated_prices: Mapping[str, float] | None = None,
        trading_client: Any = None,
        record: bool = True,
        clock: Callable[[], float] = time.time,
    ):
        self.config = config
        self.env = config.environment
        self.pm = plugin_manager or get_plugin_manager()
        self.store = store or open_store(config)
        # testnet/live refuse a lost, emptied, replaced or altered store (StateIdentityError)
        ensure_state_identity(self.store, self.env.mode)
        self.kill_switch = KillSwitch(self.store)
        #: testnet/live read the kill switch from the store every batch (fail closed on a
        #: store that cannot be read); paper/shadow trust change notices
        self._guarded = self.env.mode.value in GUARDED_MODES
        self._kill_max_age = 0.0  # set once the executor is known
        self.alerts = alerts
        self.confirm = confirm
        self.clock = clock
        self.portfolio = PortfolioState(cash=config.execution.starting_cash, starting_equity=config.execution.starting_cash)
        self.risk_limits = LiveRiskLimits(config.live_risk, self.env)
        research = self.env.mode in (TradingMode.PAPER, TradingMode.SHADOW)
        self.controls = PreTradeControls(config.live_risk, self.kill_switch, clock=clock, message_limits=not research)
        self.capital = CapitalLimits.for_session(config.live_risk, self.env, self.store)
        #: symbol -> time of its last price, for the stale-reference check
        self.reference_times: dict[str, float] = {}
        #: the newest market-data quote per symbol (``on_quote``)
        self.last_quotes = LastPrices()
        self.timeout = config.execution.plugin_timeout_seconds
        self.pm.configure(config)
        #: the venue client (testnet/live only); raises VenueError (one line) when it cannot be built
        self.venue = trading_client
        if executor is None:
            from peaktrade_core.executors import create_order_executor

            if self.venue is None:
                self.venue = self.pm.create_exchange_client(config)
            executor = create_order_executor(
                self.env,
                simulated_prices,
                self.venue,
                config=config,
                kill_switch=self.kill_switch.state,
                plugin_manager=self.pm,
            )
        self.executor = executor
        # a dry run fills an unpriced order at its configured price: risk checks it at the same
        simulated = getattr(executor, "simulated_prices", None)
        if isinstance(simulated, Mapping) and simulated:
            self.update_prices(simulated)
        #: whether orders leave the process (then the venue is cancelled on kill, the dead
        #: man's switch armed, and the effective mode is not a dry run)
        self.sends = bool(getattr(executor, "sends_real_orders", True))
        self._kill_max_age = 0.0 if self._guarded or self.sends else KILL_SWITCH_MAX_AGE_SECONDS
        self._validate_only = bool(getattr(self.venue, "validate_only", False))
        #: one risk budget shared by every process on this store (docs/budget.md)
        self.budget = None
        if config.state.shared_risk_budget:
            from peaktrade_core.budget import SharedRiskBudget

            self.budget = SharedRiskBudget.for_pipeline(self)
        self._venue_cancelled: KillSwitchState | None = None
        self.ids = ClientOrderIds.fresh()
        self._position = 0
        self._gates_key: tuple[KillSwitchState, Any] | None = None
        self._gates: GateReport | None = None
        self._gates_record: dict[str, Any] | None = None
        self._gate_context: GateContext | None = None
        self.runlog = None
        self.risk_records = None
        if record:
            from peaktrade_core.riskrecords import RiskRecords
            from peaktrade_core.runlog import (
                GROUP_WINDOW_SECONDS,
                LiveRunLogger,
                audit_keys_from,
                durability_for,
            )

            durability = durability_for(config.execution.durability, self.env.mode.value)
            self.runlog = LiveRunLogger(self.store, durability=durability, audit=audit_keys_from(config))
            self.runlog.mark_aborted_runs()
            self.risk_records = RiskRecords(self.store)
            #: while a session runs, its violations are written within the run log's window
            #: where the log's commits are grouped by time (a caller driving process_batch
            #: itself has them written at once: nothing would write what it left)
            self._violations_window = GROUP_WINDOW_SECONDS if durability == "group" else 0.0
        self.run_id: str | None = None
        self.summary: SessionSummary | None = None
        #: set (to a signal name) to stop a running session after the batch in hand
        self.stop_requested: str | None = None
        self._by_status: Counter[OrderStatus] = Counter()
        self._blocks_by_reason: Counter[str] = Counter()
        self._fills = 0

    # -- alerts ----------------------------------------------------------------------------

    def _alert(self, level: AlertLevel, code: str, message: str, **context: Any) -> None:
        if self.run_id is not None:  # every alert names its run (alerts history --run, readiness, report)
            context.setdefault("run_id", self.run_id)
        event = AlertEvent(level, "pipeline", code, message, context)
        if self.alerts is not None:
            self.alerts.emit(event)
        else:
            logger.log(level.name, "[ALERT] {}: {}", code, message)

    # -- one batch -------------------------------------------------------------------------

    def update_prices(self, prices: Mapping[str, float], at: float | None = None) -> None:
        """Feed market prices (marks for exposure and PnL; times for the stale-data check)."""
        at = self.clock() if at is None else at
        self.portfolio.update_prices(prices)
        for symbol in prices:
            self.reference_times[symbol] = at

    def on_quote(self, quote: Quote) -> None:
        """A market-data quote: the symbol's last price and its time for risk (stale data,
        collars) and the price dry-run and shadow executors fill at. An older quote than
        the one kept is ignored; one stamped in the future counts as of now (a skewed
        venue clock must not keep a price fresh)."""
        now = self.clock()
        if quote.at > now:
            from attrs import evolve

            quote = evolve(quote, at=now)
        if not self.last_quotes.update(quote):
            return
        self.update_prices({quote.symbol: quote.price}, at=quote.at)
        set_price = getattr(self.executor, "set_simulated_price", None)
        if set_price is not None:
            set_price(quote.symbol, quote.price)

    def check_risk(self, orders: Sequence[OrderRequest]) -> list[RiskViolation]:
        """Standard limits and plugin checks (``check_risk`` hook), then the capital limits
        and the stateful controls for the orders those let through. Plugin failures are
        violations."""
        now = self.clock()
        limits = self.config.live_risk
        portfolio = self.portfolio
        if now >= portfolio.day_ends_at:  # (roll_day's own first test, without two calls)
            self.risk_limits.roll_day(portfolio, now)
        violations = self.pm.check_risk(orders, portfolio, limits, self.env, self.timeout)
        whole, blocked = blocked_orders(violations, limits.block_on_violation) if violations else (False, set())
        if not whole and self.capital.active:  # always blocking: the controls skip them too
            capital = self.capital.violations(orders, portfolio, skip=blocked)
            violations += capital
            blocked.update(v.order_index for v in capital)
        if not whole:
            violations += self.controls.check(orders, now, self.reference_times or None, skip=blocked)
        return violations

    def check_gates(self, orders: Sequence[OrderRequest], report: GateReport) -> list[GateDecision]:
        """Closed decisions of every gate; a failing plugin closes the whole batch."""
        context = self._gate_context  # frozen: the same one while its three parts are the same objects
        if context is None or context.report is not report or context.positions is not self.portfolio.positions or context.confirm is not self.confirm:
            context = self._gate_context = GateContext(report, self.portfolio.positions, self.confirm)
        return self.pm.check_gate(self.env, orders, context, self.timeout)

    def gate_report(self, kill: KillSwitchState) -> GateReport:
        """:func:`evaluate_gates` for this batch. The gates depend on the (frozen) environment,
        the kill switch and the confirm token only: while those two read the same, the last
        report is the answer again (both are read for every batch)."""
        key = (kill, self.env.token_state())
        if key != self._gates_key:
            self._gates = evaluate_gates(self.env, kill)
            self._gates_key, self._gates_record = key, None
        return self._gates

    def _gates_record_of(self, report: GateReport, closed: list[GateDecision]) -> dict[str, Any]:
        """The batch record's gate report; built once per report while no gate closes."""
        if closed or report is not self._gates:
            return _report_dict(report, closed, effective_mode_of(report, self.sends, self._validate_only))
        if self._gates_record is None:
            self._gates_record = _report_dict(report, closed, effective_mode_of(report, self.sends, self._validate_only))
        return self._gates_record

    def process_batch(self, batch: Sequence[OrderRequest], batch_no: int = 0) -> list[OrderExecutionResult]:
        """One batch through risk, gates and the executor. Returns one result per order."""
        kill = self.kill_switch.state(fresh=self._guarded, max_age=self._kill_max_age)
        report = self.gate_report(kill)
        if kill.engaged and kill != self._venue_cancelled:
            self._cancel_on_venue(kill)
        if self.last_quotes:
            batch = self._priced_by_quotes(batch)
        n = len(batch)
        results: list[Any] = [None] * n
        self._assign_ids(batch)

        violations = self.check_risk(batch)
        whole, blocked = False, None
        if violations:
            block_risk = self.config.live_risk.block_on_violation
            whole, blocked = blocked_orders(violations, block_risk)
            self._alert_violations(violations, block_risk)
            if self.risk_records is not None:
                self.risk_records.record_violations(self.run_id, batch_no, batch, violations, blocked=block_risk)
        if whole or blocked:
            candidates = []
            for i, order in enumerate(batch):
                if whole or i in blocked:  # type: ignore[operator]
                    reasons = [v.message for v in violations if v.order_index in (None, i) and (block_risk or v.code in ALWAYS_BLOCKING)]
                    results[i] = OrderExecutionResult(order, OrderStatus.RISK_BLOCKED, reasons=reasons)
                else:
                    candidates.append(i)
            gated = [batch[i] for i in candidates]
        else:  # the common case: nothing blocked by risk
            candidates, gated = [0] if n == 1 else list(range(n)), batch

        closed = self.check_gates(gated, report) if candidates else []
        if closed:
            passed = []
            for j, i in enumerate(candidates):
                reasons = [d.reason for d in closed if d.blocks(j)]
                if reasons:
                    results[i] = OrderExecutionResult(batch[i], OrderStatus.GATE_BLOCKED, reasons=reasons)
                else:
                    passed.append(i)
            if len(passed) < len(candidates):
                self._alert_gate_blocks(closed, report)
        else:
            passed = candidates

        if self.budget is not None:  # reserved in the shared budget before submit, settled after
            passed, refused = self.budget.reserve(batch, passed, results)
            if refused:
                violations = [*violations, *refused]
                self._alert_violations(refused, True)
        self._execute(batch, passed, results)
        if self.budget is not None:
            self.budget.settle(batch, results)
        self._account(results)
        if self.runlog is not None and self.run_id is not None:
            self.runlog.record_batch(self.run_id, batch_no, self._gates_record_of(report, closed), _risk_dict(violations), executor=self.executor.name)
            self.runlog.record_orders(self.run_id, results, batch_no)
            self.runlog.commit()
        return results

    def _between_batches(self) -> None:
        """Work the next batch would otherwise do inside its decision, done while the caller
        prepares it: write the run log's window when it is nearly due (``group``), renew the
        aged kill-switch check (the batch still reads the store itself if the check is older
        than its maximum age by then), and run a garbage collection that the next few new
        objects would start (the same generation CPython would collect; a full collection
        stays CPython's own decision)."""
        if self.runlog is not None:  # first: the kill-switch check below then sees their commits
            self.runlog.write_due()
        if self.risk_records is not None:
            self.risk_records.write_due()
        if self._kill_max_age:
            self.kill_switch.state(max_age=self._kill_max_age * KILL_SWITCH_RENEW_AT)
        young, collections, full = gc.get_count()
        threshold0, threshold1, threshold2 = gc.get_threshold()
        if not threshold0 or young < threshold0 * (1.0 - COLLECT_HEADROOM) or not gc.isenabled():
            return
        if full > threshold2:  # a full collection may be due: CPython's own rule decides
            return
        gc.collect(1 if collections > threshold1 else 0)  # the generation CPython would collect next

    def _priced_by_quotes(self, batch: Sequence[OrderRequest]) -> Sequence[OrderRequest]:
        """An order without a reference price gets its symbol's last quote as one: risk
        (notional, collar) judges it, and dry-run and shadow fill it, at the live price."""
        quotes = self.last_quotes
        if all(o.reference_price is not None or o.symbol not in quotes for o in batch):
            return batch
        from attrs import evolve

        return [
            evolve(o, reference_price=quotes.get(o.symbol).price)  # type: ignore[union-attr]
            if o.reference_price is None and o.symbol in quotes
            else o
            for o in batch
        ]

    def _assign_ids(self, batch: Sequence[OrderRequest]) -> None:
        """Give every order whose id the core made (not the user) this run's id for its
        position: a re-run gets new ids, the same run the same ones (reconcile by id)."""
        prefix, generated, position, set_id = self.ids.prefix, _GENERATED, self._position, _SET_CLIENT_ORDER_ID
        if len(batch) == 1:  # one order per call: the rule itself is cheaper than the C loops' set-up
            order = batch[0]
            cid = order.client_order_id
            head = cid[:16]
            if head != prefix and head in generated and len(cid) == 32:
                set_id(order, f"{prefix}{position:016x}")
            self._position = position + 1
            return
        ids = list(map(_CLIENT_ID, batch))
        heads = set(map(_HEAD, ids))
        if prefix not in heads and heads <= generated and set(map(len, ids)) <= {32}:  # every id core-made: all replaced
            deque(map(set_id, batch, map(f"{prefix}{{:016x}}".format, range(position, position + len(batch)))), 0)
            self._position = position + len(batch)
            return
        for i, order in enumerate(batch, position):
            cid = order.client_order_id
            head = cid[:16]
            if head != prefix and head in generated and len(cid) == 32:
                set_id(order, f"{prefix}{i:016x}")
        self._position = position + len(batch)

    def _cancel_on_venue(self, kill: KillSwitchState) -> None:
        """The kill switch reaches the venue: cancel its open orders once per engage."""
        self._venue_cancelled = kill
        if self.venue is None or not self.sends or not self.env.kill_switch_cancel_open_orders:
            return
        event = cancel_open_orders(
            self.venue, self.store, operator=kill.operator or "?", source=f"session {self.run_id or '-'}", reason=f"kill switch {kill.describe()}"
        )
        if self.runlog is not None and self.run_id is not None:
            self.runlog.record_event(self.run_id, "venue_cancel_all", event)
            self.runlog.commit()
        level = AlertLevel.CRITICAL if event["error"] else AlertLevel.WARNING
        what = f"failed: {event['error']}" if event["error"] else f"{event['cancelled']} open order(s) cancelled"
        self._alert(level, "venue_cancel_all", f"kill switch: {event['venue']} {what}", **event)

    def _dead_man_switch(self, action: str) -> None:
        """Arm (and refresh) or disarm the venue's dead man's switch, where it has one."""
        seconds = self.env.dead_man_switch_seconds
        if self.venue is None or not self.sends or not seconds:
            return
        method = getattr(self.venue, f"{action}_dead_man_switch", None)
        if method is None:
            return
        try:
            method(seconds) if action == "arm" else method()
        except Exception as exc:  # noqa: BLE001 - the venue's own expiry still protects
            self._alert(AlertLevel.CRITICAL, "dead_man_switch", f"{action} dead man's switch on {getattr(self.venue, 'name', '?')} failed: {type(exc).__name__}: {exc}")
            if action == "arm" and self.summary is not None and self.summary.batches == 0:
                from peaktrade_core.venues import VenueError

                raise VenueError(f"could not arm the dead man's switch on {getattr(self.venue, 'name', '?')}: {type(exc).__name__}: {exc}; nothing was sent") from exc

    def _account(self, results: list[OrderExecutionResult]) -> None:
        """Portfolio from fills, session counters, executor-error alerts, runaway throttle."""
        apply_fill = self.portfolio.apply_fill
        by_status = self._by_status
        executed = 0
        one = ONE_ORDER_FAST_PATH and len(results) == 1
        if one:  # one order per call: the same test on the one result
            first_fills = results[0].fills  # its one fill, if common
            common = results[0].status == OrderStatus.FILLED and len(first_fills) == 1
        else:
            fill_lists = list(map(_FILLS, results))
            common = set(map(_STATUS, results)) == _JUST_FILLED and set(map(len, fill_lists)) == _ONE
            first_fills = map(_FIRST, fill_lists)
        if common:  # every result one fill: accounted in one loop
            try:
                if one:  # apply_fill is what apply_fills repeats, without its loop's set-up
                    f = first_fills[0]
                    apply_fill(f.symbol, f.quantity if f.side is Side.BUY else -f.quantity, f.price, f.fee)
                else:
                    self.portfolio.apply_fills(first_fills)
                executed = len(results)
            except Exception as exc:  # noqa: BLE001 - the rest result by result, from the fill refused (raised again there)
                executed = getattr(exc, "applied", 0)
            if executed:
                self._fills += executed
                by_status[OrderStatus.FILLED] += executed
                results = results[executed:]
        for r in results:
            status = r.status
            if status in _EXECUTED:
                executed += 1
                fills = r.fills
                self._fills += len(fills)
                try:
                    for f in fills:
                        apply_fill(f.symbol, f.quantity if f.side is Side.BUY else -f.quantity, f.price, f.fee)
                except NonFiniteAccountingError as exc:
                    status = r.status = OrderStatus.ERROR  # executed, but the accounts cannot hold it
                    r.reasons.append(f"accounting refused the fill: {exc}")
                    self._alert(AlertLevel.CRITICAL, "accounting_refused", f"{r.order.client_order_id}: {exc}", symbol=r.order.symbol)
                    by_status[status] += 1
                    self._blocks_by_reason[_reason_key(status, r.reasons[-1])] += 1
                    continue
            by_status[status] += 1
            if status not in _EXECUTED:
                for reason in r.reasons:
                    self._blocks_by_reason[_reason_key(status, reason)] += 1
                if status is OrderStatus.ERROR:
                    self._alert(AlertLevel.CRITICAL, "executor_error", f"{r.order.client_order_id}: {'; '.join(r.reasons)}")
        if self.controls.record_executions(executed):
            self._alert(AlertLevel.CRITICAL, "runaway_throttle", f"runaway throttle engaged the kill switch: {self.kill_switch.state().reason}")

    def _execute(self, batch: Sequence[OrderRequest], passed: list[int], results: list[Any]) -> None:
        """Hand the passed orders to the executor in chunks, re-reading the kill switch
        between chunks so a switch engaged mid-batch stops the rest of the batch (as old
        as the batch's own check may be: a switch engaged by this process is seen at once)."""
        if len(passed) == 1:  # one order per call: one chunk, no kill-switch re-read between chunks
            self._execute_chunk(batch, passed, results)
            return
        step = len(passed) if getattr(self.executor, "sends_real_orders", True) else KILL_SWITCH_CHECK_EVERY
        for start in range(0, len(passed), max(step, 1)):
            chunk = passed[start : start + step]
            kill = self.kill_switch.state(max_age=self._kill_max_age) if start else None
            if kill is not None and kill.engaged:
                reason = f"kill switch {kill.describe()}"
                for i in passed[start:]:
                    results[i] = OrderExecutionResult(batch[i], OrderStatus.GATE_BLOCKED, reasons=[reason])
                logger.bind(tag=SAFETY).warning("kill switch engaged mid-batch: {} orders stopped", len(passed) - start)
                return
            self._execute_chunk(batch, chunk, results)

    def _execute_chunk(self, batch: Sequence[OrderRequest], chunk: list[int], results: list[Any]) -> None:
        try:
            # (one order per call: a list display, not a comprehension's function call)
            out = self.executor.execute_orders([batch[chunk[0]]] if ONE_ORDER_FAST_PATH and len(chunk) == 1 else [batch[i] for i in chunk])
        except Exception as exc:  # an executor bug must not lose the batch's records
            out = [OrderExecutionResult(batch[i], OrderStatus.ERROR, reasons=[f"executor {self.executor.name} raised {type(exc).__name__}: {exc}"]) for i in chunk]
        if len(out) != len(chunk):
            out = [OrderExecutionResult(batch[i], OrderStatus.ERROR, reasons=[f"executor {self.executor.name} returned {len(out)} results for {len(chunk)} orders"]) for i in chunk]
        if ONE_ORDER_FAST_PATH and len(chunk) == 1:
            results[chunk[0]] = out[0]
            return
        for i, r in zip(chunk, out, strict=True):
            results[i] = r

    def _alert_violations(self, violations: list[RiskViolation], blocking: bool) -> None:
        by_code = Counter(v.code for v in violations)
        for code, count in by_code.items():
            first = next(v for v in violations if v.code == code)
            blocks = blocking or code in ALWAYS_BLOCKING
            level = AlertLevel.WARNING if blocks else AlertLevel.INFO
            self._alert(level, f"risk.{code}", f"{count} order(s) {'blocked' if blocks else 'flagged'}: {first.message}", violation=str(code), count=count)

    def _alert_gate_blocks(self, closed: list[GateDecision], report: GateReport) -> None:
        if report.effective_mode in (EffectiveMode.PAPER, EffectiveMode.SHADOW) and all(d.gate != "kill_switch" for d in closed):
            level = AlertLevel.INFO
        else:
            level = AlertLevel.WARNING
        for d in closed:
            self._alert(level, f"gate.{d.gate}", d.reason, gate=d.gate)

    def preview(self, batch: Sequence[OrderRequest]) -> list[dict[str, Any]]:
        """Risk and gate verdict per order, nothing executed (seed: ``preview_live_orders``)."""
        report = evaluate_gates(self.env, self.kill_switch.state())
        violations = self.check_risk(batch)
        closed = self.check_gates(batch, report)
        rows = []
        for i, order in enumerate(batch):
            risk = [v.message for v in violations if v.order_index in (None, i)]
            gates = [d.reason for d in closed if d.blocks(i)]
            blocking_risk = [
                v.message for v in violations if v.order_index in (None, i) and (self.config.live_risk.block_on_violation or v.code in ALWAYS_BLOCKING)
            ]
            rows.append(
                {
                    "source": order.source_ref,
                    "client_order_id": order.client_order_id,
                    "symbol": order.symbol,
                    "side": order.side.value,
                    "quantity": order.quantity,
                    "notional": order.notional,
                    "risk_violations": risk,
                    "gate_blocks": gates,
                    "would_pass": not blocking_risk and not gates,
                    "effective_mode": report.effective_mode.value,
                }
            )
        return rows

    # -- a session -------------------------------------------------------------------------

    def _open_account(self, mode: str, fresh: bool) -> tuple[Any, Any]:
        """The account store and the stored account (``None`` if none yet) of a recorded
        paper/shadow session, adopted into :attr:`portfolio`; ``(None, None)`` otherwise."""
        from peaktrade_core.accounts import ACCOUNT_MODES, AccountError, AccountStore, adopt

        if self.runlog is None or mode not in ACCOUNT_MODES:
            return None, None
        accounts = AccountStore(self.store)
        try:
            stored = accounts.load(self.config.execution.account, mode)
        except AccountError:
            if not fresh:
                raise
            stored = None
        if fresh:
            logger.bind(tag=SAFETY).warning("account {} ({}) starts over (--fresh-account)", self.config.execution.account, mode)
        elif stored is not None:
            adopt(self.portfolio, stored.portfolio)
        return accounts, stored

    def load_account(self) -> bool:
        """Adopt the stored paper/shadow account without writing anything (previews)."""
        from peaktrade_core.accounts import ACCOUNT_MODES, AccountStore, adopt

        mode = evaluate_gates(self.env, self.kill_switch.state()).effective_mode.value
        if mode not in ACCOUNT_MODES:
            return False
        stored = AccountStore(self.store).load(self.config.execution.account, mode)
        if stored is not None:
            adopt(self.portfolio, stored.portfolio)
        return stored is not None

    def _account_event(self, mode: str, fresh: bool, stored: Any) -> dict[str, Any]:
        """What the session started from; with ``fresh``, also what it discarded."""

        def state(p: PortfolioState) -> dict[str, Any]:
            return {"cash": p.cash, "positions": dict(sorted(p.positions.items())), "realized_pnl": p.realized_pnl}

        event = {"account": self.config.execution.account, "mode": mode, "fresh": fresh, "start": state(self.portfolio)}
        if stored is not None:
            event["last_written_by_run"] = stored.run_id
            if fresh:
                event["discarded"] = state(stored.portfolio)
        return event

    def run(
        self,
        orders: Iterable[OrderRequest],
        *,
        strategy: str = "manual",
        strategy_params: Mapping[str, Any] | None = None,
        operator: str | None = None,
        progress: Callable[[int], None] | None = None,
        skipped: Sequence[Any] = (),
        fresh_account: bool = False,
        batches: Iterable[Sequence[OrderRequest]] | None = None,
    ) -> SessionSummary:
        """Stream ``orders`` through the pipeline in batches; return the session summary.

        ``skipped``: rows of the source that were not valid orders (filled while ``orders``
        streams); they are recorded in the run log when the session ends.

        A recorded session in paper or shadow mode continues its account (see
        :mod:`peaktrade_core.accounts`), or starts it over with ``fresh_account``. Setting
        :attr:`stop_requested` stops the session after the batch in hand (``interrupted``).
        Raises :class:`~peaktrade_core.accounts.AccountError` before anything runs when the
        stored account is damaged. ``batches``: orders already grouped, each run as one batch
        (a strategy's orders of one quote); ``orders`` is then ignored."""
        self.capital = self.capital.for_strategy(strategy)
        report = evaluate_gates(self.env, self.kill_switch.state())
        switch_at_start = report.kill_switch.engaged
        effective = effective_mode_of(report, self.sends, self._validate_only)
        summary = SessionSummary(None, self.env.mode.value, effective.value, self.executor.name, venue=venue_info(self.venue))
        self.summary = summary
        accounts, loaded = self._open_account(report.effective_mode.value, fresh_account)
        if accounts is not None:
            summary.account, summary.fresh_account = self.config.execution.account, fresh_account
        if self.runlog is not None:
            self.run_id = summary.run_id = self.runlog.start_run(
                mode=self.env.mode.value,
                effective_mode=effective.value,
                config_sha256=self.config.sha256,
                operator=operator or current_operator(),
                strategy=strategy,
                strategy_params=dict(strategy_params or {}),
                plugin_versions={i.name: i.version for i in self.pm.infos() if i.status == "loaded"},
            )
            self.runlog.record_event(self.run_id, "session", {"limits_in_force": _limits_dict(self.config, self.capital)})
            if accounts is not None:
                self.runlog.record_event(self.run_id, "account", self._account_event(report.effective_mode.value, fresh_account, loaded))
                if fresh_account:  # the reset holds even if the session stops before its first batch
                    accounts.save(self.config.execution.account, report.effective_mode.value, self.portfolio, self.run_id)
            if summary.venue is not None:
                self.runlog.record_event(self.run_id, "venue", {**summary.venue, "effective_mode": effective.value})
        if self.risk_records is not None:
            self.risk_records.window = self._violations_window
        if accounts is not None and self.runlog is not None:  # written with each batch's run-log commit: they agree after a crash
            account, account_mode, portfolio = self.config.execution.account, report.effective_mode.value, self.portfolio
            self.runlog.on_commit = lambda: accounts.statement_later(account, account_mode, portfolio, self.run_id)
        self.ids = ClientOrderIds(self.run_id) if self.run_id else ClientOrderIds.fresh()
        self._position = 0
        self._alert(AlertLevel.INFO, "session_start", f"session {summary.run_id} started in {effective.value} mode", run_id=summary.run_id)
        started = time.perf_counter()
        status = "finished"
        try:
            self._dead_man_switch("arm")
            # the same test _dead_man_switch makes, once: none of its parts changes during a run
            refresh = self.venue is not None and self.sends and bool(self.env.dead_man_switch_seconds)
            grouped = batched(orders, self.config.execution.batch_size) if batches is None else batches
            for batch_no, batch in enumerate(grouped):
                if self.stop_requested is not None:
                    break
                self.process_batch(batch, batch_no)  # its run-log commit also beats the heartbeat
                summary.orders += len(batch)
                summary.batches += 1
                if refresh:
                    self._dead_man_switch("arm")  # refreshed every batch
                if progress is not None:
                    progress(len(batch))
                self._between_batches()
            if self.stop_requested is not None:
                status = "interrupted"
        except KeyboardInterrupt:  # a second Ctrl-C: stop at once, still on record
            status = "interrupted"
            self.stop_requested = self.stop_requested or "SIGINT"
            raise
        except StateError as exc:  # the store cannot be read or written: nothing more is sent
            status = "failed"
            self._alert(
                AlertLevel.CRITICAL,
                "state_store_unreachable",
                f"trading stopped ({self.env.mode.value}): {exc}; the kill switch and the run log cannot be checked",
                run_id=summary.run_id,
            )
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            if status == "interrupted":
                summary.interrupted_by = self.stop_requested
                logger.bind(tag=SAFETY).warning("session stopped by {} after {} orders", self.stop_requested, summary.orders)
            try:
                kill = self.kill_switch.state()
            except StateError:  # already failing on it (above)
                kill = RELEASED
            summary.kill_switch_engaged_during_run = not switch_at_start and kill.engaged
            if kill.engaged and kill != self._venue_cancelled:  # engaged during the last batch
                self._cancel_on_venue(kill)
            if status == "finished":
                self._dead_man_switch("disarm")
            if self.budget is not None:
                self.budget.close()
            summary.status = status
            summary.seconds = time.perf_counter() - started
            summary.by_status = Counter({k.value: v for k, v in self._by_status.items()})
            summary.blocks_by_reason = Counter(self._blocks_by_reason)
            summary.fills = self._fills
            p = self.portfolio
            summary.fees = p.fees_paid
            summary.realized_pnl = p.realized_pnl
            summary.unrealized_pnl = p.unrealized_pnl()
            summary.positions = dict(p.positions)
            summary.average_prices = {s: p.average_prices[s] for s in p.positions if s in p.average_prices}
            summary.marks = {s: p.mark(s) for s in p.positions}
            summary.cash = p.cash
            summary.starting_cash = self.config.execution.starting_cash
            summary.exposure_by_symbol = {s: p.exposure(s) for s in p.positions}
            summary.total_exposure = sum(summary.exposure_by_symbol.values())
            if self.risk_records is not None:
                self.risk_records.window = 0.0
                try:
                    self.risk_records.flush()
                except StateError as exc:
                    if status != "failed":
                        raise
                    logger.error("run {}: violations not recorded: {}", self.run_id, exc)
            if self.runlog is not None and self.run_id is not None:
                if skipped:
                    self.runlog.record_event(self.run_id, "skipped_rows", {"rows": [str(row) for row in skipped]})
                    self.runlog.commit()
                try:
                    self.runlog.finish_run(self.run_id, status, summary.to_dict())
                except StateError as exc:
                    if status != "failed":
                        raise
                    logger.error("run {}: end not recorded: {}", self.run_id, exc)
                finally:
                    self.runlog.on_commit = None
            self._alert(AlertLevel.INFO, "session_end", f"session {summary.run_id} {status}: {summary.orders} orders", run_id=summary.run_id)
        return summary


def _reason_key(status: OrderStatus, reason: str) -> str:
    """Group block reasons for the summary: a leading ``code:`` (risk violations), the kill
    switch as one key, otherwise the reason itself (cut to 80 characters)."""
    if reason.startswith("kill switch engaged"):
        return f"{status.value}: kill switch engaged"
    head, sep, _ = reason.partition(":")
    key = head if sep and " " not in head else reason[:80]
    return f"{status.value}: {key}"


def _report_dict(report: GateReport, closed: list[GateDecision], effective: EffectiveMode) -> dict[str, Any]:
    return {
        "effective_mode": effective.value,
        "live_allowed": report.live_allowed,
        "gates": {g.gate: g.value for g in report.mode_gates},
        "closed": [{"gate": d.gate, "reason": d.reason, "orders": list(d.orders) if d.orders is not None else None, "plugin": d.plugin} for d in closed],
    }


def _risk_dict(violations: list[RiskViolation]) -> dict[str, Any]:
    if not violations:  # the usual batch (no comprehension to set up)
        return {"violations": []}
    return {
        "violations": [
            {"code": str(v.code), "order_index": v.order_index, "symbol": v.symbol, "limit": v.limit, "value": v.value, "message": v.message, "plugin": v.plugin}
            for v in violations
        ]
    }


def _limits_dict(config: PeakTradeConfig, capital: CapitalLimits | None = None) -> dict[str, Any]:
    from peaktrade_core.config import converter

    return {"live_risk": converter.unstructure(config.live_risk), "environment_limits": {
        k: getattr(config.environment, k) for k in ("max_live_notional_per_order", "max_live_notional_total", "live_trade_min_size")
    }, "capital": capital.in_force() if capital is not None else None}
