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

from peaktrade_core.alerts import AlertDispatcher, AlertEvent, AlertLevel
from peaktrade_core.drills import DrillContext, LiveDrillResult, LiveDrillScenario
from peaktrade_core.environment import LIVE_CONFIRM_TOKEN, EnvironmentConfig, TradingMode
from peaktrade_core.exchange_executor import ExchangeOrderExecutor
from peaktrade_core.hookspecs import hookimpl
from peaktrade_core.orders import (
    OrderExecutionResult,
    OrderFill,
    OrderRequest,
    OrderStatus,
    Side,
    UnknownOutcomeError,
)
from peaktrade_core.plugins import PluginManager
from peaktrade_core.risk import LiveRiskConfig, PreTradeControls, ViolationCode

if TYPE_CHECKING:
    from peaktrade_core.pipeline import ExecutionPipeline

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
    "The venue takes the first order but answers too late; it loses the second request. "
    "The executor must look each order up before anything is sent again.",
    PACK,
    _LIVE,
    expected_is_live_execution_allowed=True,
    simulated_orders=_orders("outage", 2),
    expected_outcome="each order reaches the venue exactly once; the late one is recovered by fetch_order",
)
RUNAWAY = LiveDrillScenario(
    "I3 - Runaway strategy",
    "A strategy fires order after order; runaway_max_executions=5 within 10 s.",
    PACK,
    _LIVE,
    expected_is_live_execution_allowed=True,
    simulated_orders=_orders("runaway", 10),
    expected_outcome="the runaway throttle engages the kill switch after 6 executions; no later order passes",
)
STALE_DATA = LiveDrillScenario(
    "I4 - Stale market data",
    "The last price is 60 s old with max_reference_age_seconds=5 (pre-trade controls level).",
    PACK,
    _LIVE,
    expected_is_live_execution_allowed=True,
    simulated_orders=_orders("stale", 3),
    expected_outcome="every order is blocked as stale_reference_price; with a fresh price they pass",
)

#: what each incident found: (violations, notes, details)
Outcome = tuple[list[str], list[str], dict[str, Any]]

SCENARIOS = (KILL_MID_BATCH, VENUE_OUTAGE, RUNAWAY, STALE_DATA)


def drill_scenarios() -> tuple[LiveDrillScenario, ...]:
    return SCENARIOS


def run_drill(scenario: LiveDrillScenario, context: DrillContext) -> LiveDrillResult | None:
    if scenario.pack != PACK:
        return None
    before = context.gate_report()  # the gates as the incident finds them
    violations, notes, details = _DRILLS[scenario.name](context)
    notes.insert(0, f"expected: {scenario.expected_outcome}")
    return context.result(before, notes=notes, violations=violations, details=details)


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
    """An in-memory venue: order 1 is taken but answered after the executor's timeout;
    the request for order 2 is lost once (the venue never saw it)."""

    name = VENUE

    def __init__(self, slow: OrderRequest, lost: OrderRequest, delay: float):
        self.slow, self.lost, self.delay = slow, lost, delay
        self.book: dict[str, dict[str, Any]] = {}
        self.submissions: list[str] = []
        self._lost_once = False
        self._lock = threading.Lock()

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
        if order is self.slow:
            time.sleep(self.delay)
        return response

    def fetch_order(self, client_order_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self.book.get(client_order_id)

    def ping(self) -> dict[str, Any]:
        return {"ok": True}

    def cancel_order(self, client_order_id: str) -> bool:
        return False

    def cancel_all(self) -> int:
        return 0

    def fetch_positions(self) -> dict[str, float]:
        return {}

    def fetch_balances(self) -> dict[str, float]:
        return {}


def _venue_outage(context: DrillContext) -> Outcome:
    slow, lost = context.scenario.simulated_orders
    venue = _FlakyVenue(slow, lost, delay=0.1)
    executor = ExchangeOrderExecutor(
        venue, max_retries=2, backoff_seconds=0.0, timeout_seconds=0.02, sleep=lambda _s: None
    )
    results = context.guarded(executor).execute_orders([slow, lost])
    violations = []
    for order in (slow, lost):
        sent = venue.submissions.count(order.client_order_id)
        if sent != 1:
            violations.append(
                f"order {order.client_order_id} reached the venue {sent} time(s), expected exactly once"
            )
    if results[0].metadata.get("recovered_by") != "fetch_order":
        violations.append(
            f"expected the timed-out order to be recovered by fetch_order, got {results[0].metadata.get('recovered_by')!r}"
        )
    if any(r.status is not OrderStatus.FILLED for r in results):
        violations.append(
            "expected both orders filled, got " + ", ".join(r.status.value for r in results)
        )
    notes = [
        f"{r.order.client_order_id}: {r.status.value} after {r.metadata.get('attempts')} attempt(s)"
        + (f", recovered by {r.metadata['recovered_by']}" if r.metadata.get("recovered_by") else "")
        for r in results
    ]
    return violations, notes, dict(venue_submissions=len(venue.submissions))


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
            continue
        result = executor.execute_orders([order])[0]
        statuses.append(result.status.value)
        if result.status is OrderStatus.FILLED:
            controls.record_executions(1)
    state = context.kill_switch.state()
    violations = []
    if not state.engaged or "runaway" not in state.reason:
        violations.append(
            f"expected the runaway throttle to engage the kill switch, it is {state.describe()}"
        )
    if len(venue.orders) != 6:
        violations.append(
            f"expected exactly 6 orders at the venue before the throttle stopped it, got {len(venue.orders)}"
        )
    return (
        violations,
        [f"results: {', '.join(statuses)}", f"kill switch {state.describe()}"],
        dict(
            orders_at_venue=len(venue.orders),
            kill_switch_after="ENGAGED" if state.engaged else "released",
        ),
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _stale_data(context: DrillContext) -> Outcome:
    limits = attrs.evolve(
        context.config.live_risk, max_reference_age_seconds=5.0, duplicate_window_seconds=0.0
    )
    orders = context.scenario.simulated_orders
    now = 1_000_000.0
    stale = PreTradeControls(limits, context.kill_switch, clock=lambda: now).check(
        orders, reference_times={SYMBOL: now - 60}
    )
    fresh = PreTradeControls(limits, context.kill_switch, clock=lambda: now).check(
        orders, reference_times={SYMBOL: now - 1}
    )
    violations = []
    stale_blocked = {v.order_index for v in stale if v.code == ViolationCode.STALE_REFERENCE.value}
    if stale_blocked != set(range(len(orders))):
        violations.append(
            f"expected all {len(orders)} orders blocked as stale, got {len(stale_blocked)}"
        )
    if fresh:
        violations.append(
            "expected orders with a fresh price to pass, got: "
            + "; ".join(v.message for v in fresh)
        )
    notes = [
        stale[0].message if stale else "no violation with a stale price",
        "this drill exercises the pre-trade controls; the pipeline-level data feed is not simulated",
    ]
    return violations, notes, dict(stale_blocked=len(stale_blocked), fresh_blocked=len(fresh))


_DRILLS: dict[str, Callable[[DrillContext], Outcome]] = {
    KILL_MID_BATCH.name: _kill_mid_batch,
    VENUE_OUTAGE.name: _venue_outage,
    RUNAWAY.name: _runaway,
    STALE_DATA.name: _stale_data,
}
