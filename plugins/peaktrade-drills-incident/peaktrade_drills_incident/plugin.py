"""Incident drills (DRILL-5): what happens when something goes wrong mid-session.

Each drill plays one incident in memory — the drill's own kill switch, a recorder or an
in-memory fake venue behind the core's guard — and checks a stated expected outcome. The
pipeline-level drills run the core's real :class:`~peaktrade_core.pipeline.ExecutionPipeline`
on the drill's in-memory state store, with a plugin manager of the core's essential plugins
only (safety gates, risk limits, log sinks): the incident, not one of the user's plugins,
must decide, and configuring that manager with the drill's config touches nothing else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from peaktrade_core.plugin_api import (
    LIVE_CONFIRM_TOKEN,
    AlertDispatcher,
    AlertEvent,
    AlertLevel,
    DrillContext,
    EnvironmentConfig,
    ExchangeOrderExecutor,
    LiveDrillResult,
    LiveDrillScenario,
    LiveRiskConfig,
    OrderExecutionResult,
    OrderFill,
    OrderRequest,
    OrderStatus,
    PluginManager,
    PreTradeControls,
    Side,
    TradingMode,
    UnknownOutcomeError,
    ViolationCode,
    hookimpl,
)

if TYPE_CHECKING:
    from peaktrade_core.plugin_api import ExecutionPipeline

PACK = "drills-incident"
SYMBOL = "BTC/USD"
VENUE = "drill-venue"

#: a fully opened live environment: the incident, not a closed gate, must stop the orders
_LIVE = {
    "mode": TradingMode.LIVE,
    "enable_live_trading": True,
    "live_mode_armed": True,
    "live_dry_run_mode": False,
    "confirm_token": LIVE_CONFIRM_TOKEN,
    "max_live_notional_per_order": 1000.0,
    "max_live_notional_total": 5000.0,
    "live_allowed_symbols": (SYMBOL,),
    "exchange": VENUE,
    "live_allowed_exchanges": (VENUE,),
    "require_manual_confirm_for_live": False,
}


def _orders(tag: str, count: int) -> tuple[OrderRequest, ...]:
    # distinct quantities: identical orders within the user's duplicate window would be
    # blocked as duplicates, which is not the incident under test
    return tuple(
        OrderRequest(
            SYMBOL,
            "buy",
            round(0.001 * (i + 1), 6),
            reference_price=50_000.0,
            strategy="drill",
            source_ref=f"{tag}:{i}",
        )
        for i in range(count)
    )


#: how much worse than the paper price the shadow quotes are, in basis points
SHADOW_QUOTE_OFFSET_BPS = 2.0
#: the most fill-price divergence between paper and shadow the drill accepts
MAX_PRICE_DIVERGENCE_BPS = 10.0
#: positions and fill counts must agree to this (identical orders, full fills)
POSITION_TOLERANCE = 1e-12

_MIXED_ORDERS = tuple(
    OrderRequest(
        symbol,
        side,
        quantity,
        reference_price=price,
        strategy="drill",
        source_ref=f"divergence:{i}",
    )
    for i, (symbol, side, quantity, price) in enumerate(
        [
            ("BTC/USD", "buy", 0.002, 50_000.0),
            ("ETH/USD", "buy", 0.05, 3_000.0),
            ("BTC/USD", "sell", 0.001, 50_500.0),
            ("ETH/USD", "buy", 0.03, 2_990.0),
            ("BTC/USD", "buy", 0.003, 49_900.0),
            ("ETH/USD", "sell", 0.02, 3_010.0),
        ]
    )
)


KILL_MID_BATCH = LiveDrillScenario(
    "I1 - Kill switch engaged mid-batch",
    "All gates open; the kill switch is engaged after the 2nd of 5 orders reached the venue.",
    PACK,
    _LIVE,
    expected_is_live_execution_allowed=True,
    simulated_orders=_orders("kill", 5),
    expected_outcome="orders 1-2 reach the venue; orders 3-5 are blocked by the guard, naming the kill switch",
)
VENUE_OUTAGE = LiveDrillScenario(
    "I2 - Venue outage (submit times out)",
    "Through the pipeline: the venue takes order 1 but answers too late and loses the request "
    "for order 2; then it goes down entirely (order 3 is taken, nothing answers any more). "
    "The executor must look each order up before anything is sent again.",
    PACK,
    _LIVE,
    expected_is_live_execution_allowed=True,
    simulated_orders=_orders("outage", 3),
    expected_outcome="each order reaches the venue exactly once; orders 1-2 are recovered "
    "(fetch_order) without an alert; order 3 ends as error with its outcome unknown and the "
    "pipeline raises a critical executor_error alert naming it",
)
RUNAWAY = LiveDrillScenario(
    "I3 - Runaway strategy",
    "A strategy fires order after order; runaway_max_executions=5 within 10 s.",
    PACK,
    _LIVE,
    expected_is_live_execution_allowed=True,
    simulated_orders=_orders("runaway", 10),
    expected_outcome="the runaway throttle blocks the 6th order and engages the kill switch; no later order passes",
)
STALE_DATA = LiveDrillScenario(
    "I4 - Stale market data",
    "Through the pipeline with max_reference_age_seconds=5 and a fixed clock: no price yet, "
    "then a price 60 s old, then a fresh one (pipeline.update_prices).",
    PACK,
    _LIVE,
    expected_is_live_execution_allowed=True,
    simulated_orders=_orders("stale", 3),
    expected_outcome="without a price and with the 60 s old price every order is risk-blocked "
    "as stale_reference_price (alert risk.stale_reference_price) and none reaches the venue; "
    "after a fresh price the same orders are filled",
)
SINK_DOWN = LiveDrillScenario(
    "I5 - Alert sink down",
    "Both alert sinks are down (one refuses, one never answers) when the venue fails an "
    "order, which raises a critical alert; the session goes on.",
    PACK,
    _LIVE,
    expected_is_live_execution_allowed=True,
    simulated_orders=_orders("sink", 4),
    expected_outcome="trading continues (orders 2-4 filled, no batch held up by a sink); the "
    "alert is kept in the alert history with a failed delivery per sink and is listed as "
    "undelivered, so the next dispatcher start resends it",
)
RESTART = LiveDrillScenario(
    "I6 - Restart recovery",
    "A recorded session commits 2 batches of 3 orders, then its process is gone without "
    "finishing the run; the next pipeline starts on the same (in-memory) state.",
    PACK,
    _LIVE,
    expected_is_live_execution_allowed=True,
    simulated_orders=_orders("restart", 9),
    expected_outcome="the interrupted run is marked aborted at the next start; its hash chain "
    "still verifies; its 6 committed orders are all in the log; the new session runs and "
    "finishes normally",
)
DIVERGENCE = LiveDrillScenario(
    "I7 - Paper/shadow divergence",
    "The same 6 orders through two pipelines: paper (fills at the reference price) and shadow "
    f"(fills at quotes {SHADOW_QUOTE_OFFSET_BPS:g} bps worse, as live quotes may be); "
    f"tolerance {MAX_PRICE_DIVERGENCE_BPS:g} bps.",
    PACK,
    {"mode": TradingMode.PAPER},
    expected_is_live_execution_allowed=False,
    expected_reasons=("not LIVE",),
    simulated_orders=_MIXED_ORDERS,
    expected_outcome="both fill every order: fills and positions identical; the reported "
    "fill-price divergence equals the modelled quote offset and is within the tolerance",
)

SCENARIOS = (
    KILL_MID_BATCH,
    VENUE_OUTAGE,
    RUNAWAY,
    STALE_DATA,
    SINK_DOWN,
    RESTART,
    DIVERGENCE,
)

#: what each incident found: (violations, notes, details)
Outcome = tuple[list[str], list[str], dict[str, Any]]


def drill_scenarios() -> tuple[LiveDrillScenario, ...]:
    return SCENARIOS


def run_drill(scenario: LiveDrillScenario, context: DrillContext) -> LiveDrillResult | None:
    if scenario.pack != PACK:
        return None
    before = context.gate_report()  # the gates as the incident finds them
    violations, notes, details = _DRILLS[scenario.name](context)
    notes.insert(0, f"expected: {scenario.expected_outcome}")
    return context.result(before, notes=notes, violations=violations, details=details)


# -- the pipeline, as the drills drive it --------------------------------------------------


def _essential_plugins() -> PluginManager:
    """A manager with only the core's essential plugins (see the module docstring)."""
    return PluginManager(allow=set()).load()


def _pipeline(
    context: DrillContext,
    executor: Any,
    plugins: PluginManager,
    *,
    env: EnvironmentConfig | None = None,
    live_risk: LiveRiskConfig | None = None,
    alerts: Any = None,
    record: bool = False,
    clock: Callable[[], float] | None = None,
) -> ExecutionPipeline:
    """The core's pipeline on the drill's in-memory store (its kill switch and run log)."""
    from peaktrade_core.plugin_api import ExecutionPipeline

    config = attrs.evolve(
        context.config,
        environment=env or context.environment(),
        live_risk=live_risk or context.config.live_risk,
    )
    return ExecutionPipeline(
        config,
        store=context.store,
        executor=executor,
        plugin_manager=plugins,
        alerts=alerts,
        record=record,
        clock=clock or _Clock(),
    )


class _AlertRecorder:
    """Stands in for the alert dispatcher: keeps every event the pipeline hands over."""

    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    def emit(self, event: AlertEvent) -> None:
        self.events.append(event)

    def with_code(self, code: str) -> list[AlertEvent]:
        return [e for e in self.events if e.code == code]


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _statuses(results: Sequence[OrderExecutionResult]) -> str:
    return ", ".join(r.status.value for r in results)


def _kill_mid_batch(context: DrillContext) -> Outcome:
    orders = context.scenario.simulated_orders

    def engage_after_second(order: OrderRequest) -> None:
        if order is orders[1]:
            context.kill_switch.engage(
                "[drill, in memory] operator stops trading mid-batch",
                operator="drill",
                source="drill",
            )

    venue = context.recorder("drill-venue", on_order=engage_after_second)
    results = context.guarded(venue).execute_orders(orders)
    violations = []
    if venue.orders != list(orders[:2]):
        violations.append(
            f"expected exactly orders 1-2 at the venue, got {len(venue.orders)} order(s)"
        )
    late = results[2:]
    if any(
        r.status is not OrderStatus.GATE_BLOCKED or not any("kill switch" in x for x in r.reasons)
        for r in late
    ):
        violations.append(
            "expected orders 3-5 blocked by the guard naming the kill switch, got "
            + ", ".join(r.status.value for r in late)
        )
    statuses = [r.status.value for r in results]
    return (
        violations,
        [f"results: {', '.join(statuses)}"],
        dict(
            orders_at_venue=len(venue.orders),
            orders_blocked=statuses.count(OrderStatus.GATE_BLOCKED.value),
        ),
    )


class _FlakyVenue:
    """An in-memory venue: order ``slow`` is taken but answered after the executor's
    timeout; the request for order ``lost`` is lost once (the venue never saw it). After
    :meth:`go_down` it takes submissions but answers nothing until :meth:`restore`."""

    name = VENUE
    testnet, validate_only, endpoint = True, False, "inproc://drill-venue"

    def __init__(self, slow: OrderRequest, lost: OrderRequest, delay: float):
        self.slow, self.lost, self.delay = slow, lost, delay
        self.book: dict[str, dict[str, Any]] = {}
        self.submissions: list[str] = []
        self._lost_once = False
        self._lock = threading.Lock()
        self._up = threading.Event()
        self._up.set()

    def go_down(self) -> None:
        self._up.clear()

    def restore(self) -> None:
        """Lets hung calls return, so no thread outlives the drill for long."""
        self._up.set()

    def _hang_while_down(self) -> None:
        self._up.wait(OUTAGE_HANG_SECONDS)

    def submit_order(self, order: OrderRequest) -> dict[str, Any]:
        if order is self.lost and not self._lost_once:
            self._lost_once = True
            raise UnknownOutcomeError("connection reset before the venue answered")
        response = {
            "client_order_id": order.client_order_id,
            "status": "filled",
            "fills": [{"quantity": order.quantity, "price": order.price, "timestamp": 0.0}],
        }
        with self._lock:
            self.submissions.append(order.client_order_id)
            self.book[order.client_order_id] = response
        self._hang_while_down()
        if order is self.slow:
            time.sleep(self.delay)
        return response

    def fetch_order(self, client_order_id: str, symbol: str) -> dict[str, Any] | None:
        self._hang_while_down()
        with self._lock:
            return self.book.get(client_order_id)

    def ping(self) -> dict[str, Any]:
        return {"ok": True}

    def cancel_order(self, client_order_id: str, symbol: str) -> bool:
        return False

    def cancel_all(self, symbol: str | None = None) -> int:
        return 0

    def fetch_positions(self) -> dict[str, float]:
        return {}

    def fetch_balances(self) -> dict[str, float]:
        return {}


#: the longest a hung venue or alert-sink call waits (they are released when a drill ends)
OUTAGE_HANG_SECONDS = 2.0


def _venue_outage(context: DrillContext) -> Outcome:
    slow, lost, stranded = context.scenario.simulated_orders
    venue = _FlakyVenue(slow, lost, delay=0.1)
    executor = ExchangeOrderExecutor(
        venue, max_retries=2, backoff_seconds=0.0, timeout_seconds=0.02, sleep=lambda _s: None
    )
    alerts = _AlertRecorder()
    pipeline = _pipeline(context, context.guarded(executor), _essential_plugins(), alerts=alerts)
    try:
        recovered = pipeline.process_batch([slow, lost], 0)
        recovered_alerts = list(alerts.with_code("executor_error"))
        venue.go_down()
        (lost_result,) = pipeline.process_batch([stranded], 1)
    finally:
        venue.restore()
    results = [*recovered, lost_result]
    violations = []
    for order in (slow, lost, stranded):
        sent = venue.submissions.count(order.client_order_id)
        if sent != 1:
            violations.append(
                f"order {order.client_order_id} reached the venue {sent} time(s), expected exactly once"
            )
    if recovered[0].metadata.get("recovered_by") != "fetch_order":
        violations.append(
            f"expected the timed-out order to be recovered by fetch_order, got {recovered[0].metadata.get('recovered_by')!r}"
        )
    if any(r.status is not OrderStatus.FILLED for r in recovered):
        violations.append(f"expected orders 1-2 filled, got {_statuses(recovered)}")
    if recovered_alerts:
        violations.append(
            f"expected no executor_error alert for recovered orders, got {len(recovered_alerts)}"
        )
    if lost_result.status is not OrderStatus.ERROR or not lost_result.metadata.get(
        "outcome_unknown"
    ):
        violations.append(
            f"expected order 3 to end as error with its outcome unknown while the venue is down, got {lost_result.status.value}"
        )
    raised = [
        e
        for e in alerts.with_code("executor_error")
        if e.level is AlertLevel.CRITICAL and stranded.client_order_id in e.message
    ]
    if not raised:
        violations.append(
            f"expected a critical executor_error alert naming order {stranded.client_order_id} "
            f"when the venue is down, got: {', '.join(e.code for e in alerts.events) or 'no alert'}"
        )
    notes = [
        f"{r.order.client_order_id}: {r.status.value} after {r.metadata.get('attempts')} attempt(s)"
        + (f", recovered by {r.metadata['recovered_by']}" if r.metadata.get("recovered_by") else "")
        + (", outcome unknown" if r.metadata.get("outcome_unknown") else "")
        for r in results
    ]
    notes += [f"alert raised: {e.summary_line()}" for e in raised]
    notes.append(
        "alerts are checked where the pipeline hands them to the dispatcher (alerts.emit); "
        "a recovered timeout raises none (only a log warning per retry): nothing is left for "
        "an operator to do. Delivery to the sinks is drill I5's subject"
    )
    return (
        violations,
        notes,
        dict(venue_submissions=len(venue.submissions), alerts_raised=len(raised)),
    )


def _runaway(context: DrillContext) -> Outcome:
    limits = attrs.evolve(
        context.config.live_risk,
        runaway_max_executions=5,
        runaway_window_seconds=10.0,
        max_orders_per_second=0,
        duplicate_window_seconds=0.0,
    )
    clock = _Clock()
    controls = PreTradeControls(limits, context.kill_switch, clock=clock)
    venue = context.recorder("drill-venue")
    executor = context.guarded(venue)
    statuses = []
    for order in context.scenario.simulated_orders:  # one order per batch, as a runaway loop sends
        clock.now += 0.1
        if controls.check([order]):
            statuses.append("risk_blocked")
            controls.record_executions(0)  # after every batch, as the pipeline does
            continue
        result = executor.execute_orders([order])[0]
        statuses.append(result.status.value)
        controls.record_executions(1 if result.status is OrderStatus.FILLED else 0)
    state = context.kill_switch.state()
    violations = []
    if not state.engaged or "runaway" not in state.reason:
        violations.append(
            f"expected the runaway throttle to engage the kill switch, it is {state.describe()}"
        )
    if len(venue.orders) != 5:
        violations.append(
            f"expected exactly 5 orders (the limit) at the venue before the throttle stopped it, got {len(venue.orders)}"
        )
    return (
        violations,
        [f"results: {', '.join(statuses)}", f"kill switch {state.describe()}"],
        dict(
            orders_at_venue=len(venue.orders),
            kill_switch_after="ENGAGED" if state.engaged else "released",
        ),
    )


def _stale_data(context: DrillContext) -> Outcome:
    orders = list(context.scenario.simulated_orders)
    limits = attrs.evolve(context.config.live_risk, max_reference_age_seconds=5.0)
    clock = _Clock()
    venue = context.recorder(VENUE)
    alerts = _AlertRecorder()
    pipeline = _pipeline(
        context,
        context.guarded(venue),
        _essential_plugins(),
        live_risk=limits,
        alerts=alerts,
        clock=clock,
    )
    prices = {SYMBOL: 50_000.0}
    unpriced = pipeline.process_batch(orders, 0)
    pipeline.update_prices(prices, at=clock.now - 60)
    stale = pipeline.process_batch(orders, 1)
    at_venue_while_stale = len(venue.orders)
    pipeline.update_prices(prices, at=clock.now - 1)
    fresh = pipeline.process_batch(orders, 2)

    violations = []
    for label, results in (("without a price", unpriced), ("with the 60 s old price", stale)):
        blocked = [r for r in results if r.status is OrderStatus.RISK_BLOCKED]
        if len(blocked) != len(orders):
            violations.append(
                f"expected all {len(orders)} orders risk-blocked {label}, got {_statuses(results)}"
            )
    if not all(any("60.0s old" in x for x in r.reasons) for r in stale):
        violations.append(
            "expected the reason to say the reference price is 60.0s old, got: "
            + "; ".join(x for r in stale for x in r.reasons)
        )
    stale_code = f"risk.{ViolationCode.STALE_REFERENCE.value}"
    if not alerts.with_code(stale_code):
        violations.append(
            f"expected a {stale_code} alert, got: {', '.join(e.code for e in alerts.events) or 'none'}"
        )
    if at_venue_while_stale:
        violations.append(
            f"expected no order at the venue while prices are stale, got {at_venue_while_stale}"
        )
    if any(r.status is not OrderStatus.FILLED for r in fresh):
        violations.append(f"expected the orders to pass with a fresh price, got {_statuses(fresh)}")
    stale_blocked = sum(r.status is OrderStatus.RISK_BLOCKED for r in stale)
    fresh_blocked = sum(r.status is not OrderStatus.FILLED for r in fresh)
    notes = [
        f"no price: {_statuses(unpriced)}",
        f"60 s old price: {_statuses(stale)} ({stale[0].reasons[0] if stale[0].reasons else 'no reason'})",
        f"fresh price: {_statuses(fresh)}",
    ]
    return (
        violations,
        notes,
        dict(
            stale_blocked=stale_blocked,
            fresh_blocked=fresh_blocked,
            orders_at_venue=len(venue.orders),
        ),
    )


# -- I5: alert sinks down ------------------------------------------------------------------

REFUSING_SINK = "drill-sink-refusing"
SILENT_SINK = "drill-sink-silent"


class _DownSinks:
    """An alert-sink plugin, registered only on the drill's own plugin manager: one sink
    refuses every delivery, the other never answers (until the drill ends)."""

    def __init__(self) -> None:
        self.released = threading.Event()

    @hookimpl
    def emit_alert(self, event: AlertEvent, sinks: frozenset[str]) -> Any:
        if REFUSING_SINK in sinks:
            raise ConnectionRefusedError(f"{REFUSING_SINK} is down (drill)")
        if SILENT_SINK in sinks:
            self.released.wait(OUTAGE_HANG_SECONDS)
        return None


def _sink_down(context: DrillContext) -> Outcome:
    first, *rest = context.scenario.simulated_orders

    def venue_fails_first(order: OrderRequest) -> None:
        if order is first:
            raise ConnectionResetError("venue dropped the connection (drill)")

    venue = context.recorder(VENUE, on_order=venue_fails_first)
    plugins = _essential_plugins()
    sinks = _DownSinks()
    plugins.register(sinks, "drill-sinks-down")
    alert_config = attrs.evolve(
        context.config.live_alerts,
        enabled=True,
        sinks=(REFUSING_SINK, SILENT_SINK),
        sink_timeout_seconds=0.05,
        max_retries=0,
    )
    dispatcher = AlertDispatcher(alert_config, context.store, plugins)
    pipeline = _pipeline(context, context.guarded(venue), plugins, alerts=dispatcher)
    violations: list[str] = []
    batch_seconds: list[float] = []
    results: list[OrderExecutionResult] = []
    dispatcher.start()
    try:
        try:
            for batch_no, batch in enumerate(([first], rest)):
                started = time.perf_counter()
                results += pipeline.process_batch(batch, batch_no)
                batch_seconds.append(time.perf_counter() - started)
        except Exception as exc:  # the drill's verdict, not a crash of the runner
            violations.append(
                f"expected trading to continue while the alert sinks are down; the batch raised {type(exc).__name__}: {exc}"
            )
        if not dispatcher.flush(1.0):
            violations.append("expected the dispatcher to finish its delivery attempts within 1 s")
        history = dispatcher.history.query()
        undelivered = dispatcher.history.undelivered(alert_config.sinks)
    finally:
        sinks.released.set()
        dispatcher.close(0.2)

    filled = [r for r in results[1:] if r.status is OrderStatus.FILLED]
    if len(filled) != len(rest):
        violations.append(
            f"expected trading to continue: orders 2-{len(rest) + 1} filled, got {_statuses(results[1:]) or 'none'}"
        )
    slowest = max(batch_seconds, default=0.0)
    if slowest >= OUTAGE_HANG_SECONDS / 2:
        violations.append(f"expected no batch held up by a sink, the slowest took {slowest:.2f} s")
    kept = [a for a in history if a["code"] == "executor_error"]
    if not kept:
        violations.append(
            f"expected the executor_error alert kept in the alert history, got: {', '.join(a['code'] for a in history) or 'nothing'}"
        )
    for alert in kept[:1]:
        by_sink = {d["sink"]: d for d in alert["deliveries"]}
        for sink in alert_config.sinks:
            d = by_sink.get(sink)
            if d is None or d["status"] != "failed" or d["attempts"] < 1 or not d["error"]:
                got = (
                    "no delivery row"
                    if d is None
                    else f"{d['status']} after {d['attempts']} attempt(s)"
                )
                violations.append(
                    f"expected the failed delivery to {sink} recorded as failed with its error, got {got}"
                )
        waiting = {sink for event, sink in undelivered if event.id == alert["id"]}
        if waiting != set(alert_config.sinks):
            violations.append(
                f"expected the alert listed as undelivered for both sinks (resent at the next start), got {sorted(waiting) or 'none'}"
            )
    notes = [
        f"orders: {_statuses(results)}; slowest batch {slowest * 1000:.1f} ms",
        *(
            f"kept: {a['level']} {a['code']}: "
            + "; ".join(f"{d['sink']} {d['status']} ({d['error']})" for d in a["deliveries"])
            for a in kept
        ),
        "the sinks are a drill-only plugin on the drill's own plugin manager; the alert "
        "history is the drill's in-memory store",
    ]
    return (
        violations,
        notes,
        dict(orders_filled=len(filled), alerts_kept=len(kept), undelivered=len(undelivered)),
    )


# -- I6: restart recovery ------------------------------------------------------------------


def _restart(context: DrillContext) -> Outcome:
    from peaktrade_core.plugin_api import iter_run_events, list_runs, load_run_snapshot, verify_run

    orders = context.scenario.simulated_orders
    committed_batches = [list(orders[0:3]), list(orders[3:6])]
    after_restart = list(orders[6:])
    plugins = _essential_plugins()
    before = _pipeline(context, context.guarded(context.recorder(VENUE)), plugins, record=True)
    # driven step by step as run() does, stopping where a killed process stops: after the
    # commits, before finish_run
    run_id = before.runlog.start_run(
        mode=before.env.mode.value,
        effective_mode=context.gate_report().effective_mode.value,
        config_sha256=context.config.sha256,
        operator="drill",
        strategy="drill-restart",
    )
    before.run_id = run_id
    for batch_no, batch in enumerate(committed_batches):
        before.process_batch(batch, batch_no)
    committed = [o.client_order_id for batch in committed_batches for o in batch]
    del before
    # The process is gone: the run's pid is our own (alive), so make it look the way a
    # pid reused by another process looks — its recorded start time no longer matches.
    # (proc_start is monitoring data outside the hash chain; Linux /proc decides.)
    with context.store.transaction() as conn:  # a write: in a transaction on either backend
        conn.execute(
            "UPDATE runlog_runs SET proc_start = 'drill: process gone' WHERE run_id = ?", (run_id,)
        )

    venue = context.recorder(VENUE)
    after = _pipeline(context, context.guarded(venue), plugins, record=True)  # the next start
    runs = {r.run_id: r for r in list_runs(context.store)}
    interrupted = runs[run_id]
    check = verify_run(context.store, run_id)
    logged = [
        e.client_order_id for e in iter_run_events(context.store, run_id) if e.kind == "order"
    ]
    counted = load_run_snapshot(context.store, run_id).orders
    summary = after.run(after_restart, strategy="drill-after-restart", operator="drill")
    resumed = verify_run(context.store, summary.run_id)

    violations = []
    if interrupted.status != "aborted":
        violations.append(
            f"expected the interrupted run marked aborted at the next start, it is {interrupted.status!r}"
        )
    if not check.ok:
        violations.append(
            "expected the interrupted run's log to verify: " + "; ".join(check.problems)
        )
    if logged != committed:
        violations.append(
            f"expected the {len(committed)} committed orders in the log, in order; found {len(logged)}"
            + (" (different orders)" if len(logged) == len(committed) else "")
        )
    if counted != len(committed):
        violations.append(
            f"expected the run's counters to show {len(committed)} orders, got {counted}"
        )
    if summary.status != "finished" or not resumed.ok or len(venue.orders) != len(after_restart):
        violations.append(
            f"expected the session after the restart to run and finish, got {summary.status} with "
            f"{len(venue.orders)} order(s) at the venue; log verifies: {resumed.ok}"
        )
    notes = [
        f"run {run_id}: {interrupted.status} ({interrupted.summary.get('reason', 'no reason')})",
        f"log: {check.records} records, verifies: {check.ok}; orders logged {len(logged)} of {len(committed)} committed",
        f"after the restart: run {summary.run_id} {summary.status}, {summary.orders} orders",
        "the process is made gone by a mismatching process start time (Linux /proc); "
        "on a system without /proc only another host's stale heartbeat can be detected",
    ]
    return (
        violations,
        notes,
        dict(
            interrupted_status=interrupted.status,
            orders_committed=len(committed),
            orders_logged=len(logged),
            log_verified=check.ok,
        ),
    )


# -- I7: paper/shadow divergence -----------------------------------------------------------


class _SimulatedFills:
    """A paper-like (or, with ``shadow=True``, shadow-like) executor: every order fills in
    full at its reference price moved ``offset_bps`` against the trader. Sends nothing."""

    sends_real_orders = False

    def __init__(self, name: str, offset_bps: float, shadow: bool = False):
        self.name = name
        self.offset_bps = offset_bps
        self.shadow = shadow

    def execute_orders(self, orders: Sequence[OrderRequest]) -> list[OrderExecutionResult]:
        results = []
        for order in orders:
            move = self.offset_bps / 10_000.0
            price = order.price * (1 + move if order.side is Side.BUY else 1 - move)
            fill = OrderFill(order.client_order_id, order.symbol, order.side, order.quantity, price)
            results.append(
                OrderExecutionResult(
                    order, OrderStatus.FILLED, [fill], metadata={"shadow": self.shadow}
                )
            )
        return results

    def cancel_order(self, client_order_id: str) -> bool:
        return False


def _divergence(context: DrillContext) -> Outcome:
    orders = context.scenario.simulated_orders
    plugins = _essential_plugins()
    outcomes = {}
    for label, mode, executor in (
        ("paper", TradingMode.PAPER, _SimulatedFills("drill-paper", 0.0)),
        (
            "shadow",
            TradingMode.SHADOW,
            _SimulatedFills("drill-shadow", SHADOW_QUOTE_OFFSET_BPS, shadow=True),
        ),
    ):
        pipeline = _pipeline(context, executor, plugins, env=context.environment(mode=mode))
        results = pipeline.process_batch(orders, 0)
        outcomes[label] = (results, dict(pipeline.portfolio.positions))
    (paper, paper_positions), (shadow, shadow_positions) = outcomes["paper"], outcomes["shadow"]

    fills = {label: sum(len(r.fills) for r in results) for label, (results, _p) in outcomes.items()}
    symbols = sorted(set(paper_positions) | set(shadow_positions))
    position_gap = {s: shadow_positions.get(s, 0.0) - paper_positions.get(s, 0.0) for s in symbols}
    # per order: how much worse the shadow fill is than the paper fill, in bps
    worse_bps = [
        (1 if p.order.side is Side.BUY else -1)
        * (s.fills[0].price - p.fills[0].price)
        / p.fills[0].price
        * 10_000
        for p, s in zip(paper, shadow, strict=True)
        if p.fills and s.fills
    ]
    # measured to a millionth of a basis point: the price arithmetic itself is off by
    # ~1e-12 bps, which must not turn an offset exactly at the tolerance into a failure
    widest = round(max((abs(x) for x in worse_bps), default=0.0), 6)
    mean = round(sum(worse_bps) / len(worse_bps), 6) if worse_bps else 0.0

    violations = []
    if fills["paper"] != len(orders) or fills["shadow"] != fills["paper"]:
        violations.append(
            f"expected every order filled in both: paper {fills['paper']}, shadow {fills['shadow']} fills of {len(orders)} orders"
        )
    for symbol, gap in position_gap.items():
        if abs(gap) > POSITION_TOLERANCE:
            violations.append(
                f"expected identical positions, {symbol} differs by {gap:+g} (paper {paper_positions.get(symbol, 0.0):g}, shadow {shadow_positions.get(symbol, 0.0):g})"
            )
    if widest > MAX_PRICE_DIVERGENCE_BPS:
        violations.append(
            f"fill prices diverge by up to {widest:.2f} bps > tolerance {MAX_PRICE_DIVERGENCE_BPS:g} bps"
        )
    if abs(mean - SHADOW_QUOTE_OFFSET_BPS) > 1e-6:
        violations.append(
            f"expected the reported divergence to equal the modelled quote offset {SHADOW_QUOTE_OFFSET_BPS:g} bps, got {mean:.4f} bps"
        )
    notes = [
        f"fills: paper {fills['paper']}, shadow {fills['shadow']}",
        "position difference (shadow - paper): "
        + ", ".join(f"{s} {g:+g}" for s, g in position_gap.items()),
        f"fill-price divergence: mean {mean:.2f} bps, widest {widest:.2f} bps (tolerance {MAX_PRICE_DIVERGENCE_BPS:g} bps)",
        "the executors are the pack's own paper-/shadow-like models; the peaktrade-paper "
        "plugin's executors are not used (a pack never imports another plugin)",
    ]
    return (
        violations,
        notes,
        dict(
            fills_paper=fills["paper"],
            fills_shadow=fills["shadow"],
            max_position_gap=max((abs(g) for g in position_gap.values()), default=0.0),
            price_divergence_bps=mean,
        ),
    )


_DRILLS: dict[str, Callable[[DrillContext], Outcome]] = {
    KILL_MID_BATCH.name: _kill_mid_batch,
    VENUE_OUTAGE.name: _venue_outage,
    RUNAWAY.name: _runaway,
    STALE_DATA.name: _stale_data,
    SINK_DOWN.name: _sink_down,
    RESTART.name: _restart,
    DIVERGENCE.name: _divergence,
}
