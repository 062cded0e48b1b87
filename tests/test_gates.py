"""The live gates: one test per reason an order can be blocked, each proving both the block
(with its reason) and that no executor received the order; plus properties over every
configuration."""

from __future__ import annotations

import threading

import pytest
from attrs import evolve
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core import hookimpl
from peaktrade_core.config import ExecutionConfig, PeakTradeConfig
from peaktrade_core.environment import (
    LIVE_CONFIRM_TOKEN,
    EffectiveMode,
    EnvironmentConfig,
    TradingMode,
)
from peaktrade_core.executors import GuardedExecutor
from peaktrade_core.gates import (
    RELEASED,
    KillSwitchState,
    LiveExecutionBlocked,
    SafetyGuard,
    evaluate_gates,
    is_live_execution_allowed,
)
from peaktrade_core.orders import OrderExecutionResult, OrderRequest, OrderStatus
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.state import StateStore
from peaktrade_core.testing import live_environment, registered_plugin

ENGAGED = KillSwitchState(True, "alice", "drill", "2026-01-01T00:00:00+00:00", "cli")

#: every environment gate open: live execution allowed
OPEN = live_environment(
    max_live_notional_per_order=1000.0,
    max_live_notional_total=5000.0,
    exchange="kraken",
    live_allowed_exchanges=("kraken",),
)


class Recorder:
    """An executor that records what reaches it (declares it sends real orders)."""

    name = "recorder"

    def __init__(self, sends_real_orders: bool = True):
        self.sends_real_orders = sends_real_orders
        self.received: list[OrderRequest] = []

    def execute_orders(self, orders):
        self.received.extend(orders)
        return [OrderExecutionResult(o, OrderStatus.ACCEPTED) for o in orders]

    def cancel_order(self, client_order_id):
        return False


def order(symbol="BTC/EUR", side="buy", qty=0.01, **kw) -> OrderRequest:
    return OrderRequest(symbol, side, qty, reference_price=40_000.0, **kw)


def pipeline(env: EnvironmentConfig, executor=None, **kw) -> ExecutionPipeline:
    config = PeakTradeConfig(environment=env, execution=ExecutionConfig(plugin_timeout_seconds=0.2))
    return ExecutionPipeline(config, store=StateStore(":memory:"), executor=executor or Recorder(), record=False, **kw)


# -- environment gates: the reasons operators read (seed 002) ------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"mode": TradingMode.SHADOW}, "environment mode is 'shadow', not LIVE"),
        ({"enable_live_trading": False}, "enable_live_trading=False (gate 1 blocked)"),
        ({"live_mode_armed": False}, "live_mode_armed=False (gate 2 blocked)"),
        ({"confirm_token": None}, "confirm_token NOT SET"),
        ({"confirm_token": "i know"}, "confirm_token INVALID"),
        ({"live_dry_run_mode": True}, "live_dry_run_mode=True (technical gate blocks real orders)"),
        ({"max_live_notional_total": None}, "live limits not set: max_live_notional_total"),
    ],
)
def test_each_closed_environment_gate_stops_real_orders_at_the_guard(change, reason):
    env = evolve(OPEN, **change)
    allowed, why = is_live_execution_allowed(env)
    assert not allowed and reason in why
    inner = Recorder()
    results = GuardedExecutor(inner, SafetyGuard(env)).execute_orders([order()])
    assert results[0].status is OrderStatus.GATE_BLOCKED
    assert any(reason in r for r in results[0].reasons)
    assert inner.received == []


def test_all_gates_open_lets_the_order_through_the_guard():
    inner = Recorder()
    results = GuardedExecutor(inner, SafetyGuard(OPEN)).execute_orders([order()])
    assert results[0].status is OrderStatus.ACCEPTED and len(inner.received) == 1
    assert is_live_execution_allowed(OPEN) == (True, "all live gates open: live execution allowed")


def test_safety_guard_checks_in_the_seed_order_and_raises_with_all_reasons():
    env = EnvironmentConfig(mode=TradingMode.LIVE)
    with pytest.raises(LiveExecutionBlocked) as info:
        SafetyGuard(env).ensure_may_place_order(order())
    assert info.value.reasons[0] == "enable_live_trading=False (gate 1 blocked)"
    assert [r.split("=")[0].split(" ")[0] for r in info.value.reasons[:4]] == [
        "enable_live_trading", "live_mode_armed", "confirm_token", "live_dry_run_mode"
    ]


def test_the_guard_re_checks_before_every_order_so_a_switch_pulled_mid_batch_stops_the_rest():
    state = {"ks": RELEASED}
    inner = Recorder()

    class EngageAfterFirst(Recorder):
        def execute_orders(self, orders):
            out = inner.execute_orders(orders)
            state["ks"] = ENGAGED
            return out

    guarded = GuardedExecutor(EngageAfterFirst(), SafetyGuard(OPEN, lambda: state["ks"]))
    results = guarded.execute_orders([order(qty=0.01), order(qty=0.02), order(qty=0.03)])
    assert [r.status for r in results] == [OrderStatus.ACCEPTED, OrderStatus.GATE_BLOCKED, OrderStatus.GATE_BLOCKED]
    assert "kill switch engaged by alice" in results[1].reasons[0]
    assert [o.quantity for o in inner.received] == [0.01]


# -- per-order gates in the pipeline -------------------------------------------------------


def test_kill_switch_blocks_every_order_in_every_mode():
    p = pipeline(EnvironmentConfig())  # paper
    p.kill_switch.engage("drill", operator="alice")
    results = p.process_batch([order(), order(side="sell")])
    assert {r.status for r in results} == {OrderStatus.GATE_BLOCKED}
    assert results[0].reasons == ["kill switch engaged by alice at " + p.kill_switch.state().at + ": drill"]
    assert p.executor.received == []


def test_kill_switch_lets_reduce_only_orders_through_when_configured():
    p = pipeline(EnvironmentConfig(kill_switch_allow_reduce_only=True))
    p.portfolio.positions["BTC/EUR"] = 0.05
    p.kill_switch.engage("orderly exit", operator="alice")
    results = p.process_batch([order(side="sell", qty=0.05, reduce_only=True), order(side="buy"), order(side="sell", qty=0.5, reduce_only=True)])
    assert [r.status for r in results] == [OrderStatus.ACCEPTED, OrderStatus.GATE_BLOCKED, OrderStatus.GATE_BLOCKED]
    assert p.executor.received == [order(side="sell", qty=0.05, reduce_only=True)]


def test_a_kill_switch_engaged_by_another_process_mid_batch_stops_the_rest_of_the_batch(tmp_path):
    from peaktrade_core.killswitch import KillSwitch

    path = tmp_path / "state.sqlite3"
    other_process = KillSwitch(StateStore(path))

    class EngagingRecorder(Recorder):
        def execute_orders(self, orders):
            if not self.received:
                other_process.engage("pulled mid-batch", operator="bob")
            return super().execute_orders(orders)

    from peaktrade_core.risk import LiveRiskConfig

    no_rate_limit = LiveRiskConfig(max_orders_per_second=0, max_orders_per_minute=0, duplicate_window_seconds=0)
    config = PeakTradeConfig(live_risk=no_rate_limit, execution=ExecutionConfig(batch_size=1000))
    executor = EngagingRecorder(sends_real_orders=False)
    p = ExecutionPipeline(config, store=StateStore(path), executor=executor, record=False)
    results = p.process_batch([order(qty=0.001 * (i + 1)) for i in range(200)])
    passed = [r for r in results if r.status is OrderStatus.ACCEPTED]
    assert 0 < len(passed) <= 64  # at most the chunk already handed over
    assert all("pulled mid-batch" in r.reasons[0] for r in results if r.status is OrderStatus.GATE_BLOCKED)
    assert len(executor.received) == len(passed)


def test_live_symbol_not_allowed_is_blocked():
    p = pipeline(OPEN)
    results = p.process_batch([order("ETH/EUR"), order("BTC/EUR")])
    assert results[0].status is OrderStatus.GATE_BLOCKED
    assert results[0].reasons == ["symbol not in live_allowed_symbols (BTC/EUR)"]
    assert p.executor.received == [order("BTC/EUR")]


def test_live_exchange_not_allowed_is_blocked():
    p = pipeline(evolve(OPEN, live_allowed_exchanges=("binance",)))
    results = p.process_batch([order()])
    assert results[0].reasons == ["exchange 'kraken' not in live_allowed_exchanges"]
    assert p.executor.received == []


def test_manual_confirmation_without_a_terminal_blocks():
    p = pipeline(evolve(OPEN, require_manual_confirm_for_live=True), confirm=None)
    results = p.process_batch([order()])
    assert results[0].status is OrderStatus.GATE_BLOCKED
    assert "no terminal" in results[0].reasons[0]
    assert p.executor.received == []


def test_manual_confirmation_asks_per_order_and_a_refusal_blocks():
    asked = []

    def person(o):
        asked.append(o)
        return o.quantity < 0.012

    p = pipeline(evolve(OPEN, require_manual_confirm_for_live=True), confirm=person)
    results = p.process_batch([order(qty=0.01), order(qty=0.015)])
    assert [r.status for r in results] == [OrderStatus.ACCEPTED, OrderStatus.GATE_BLOCKED]
    assert results[1].reasons == ["not confirmed by the operator"]
    assert len(asked) == 2 and p.executor.received == [order(qty=0.01)]


def test_live_mode_with_a_closed_gate_never_reaches_live_in_the_report():
    report = evaluate_gates(evolve(OPEN, live_mode_armed=False))
    assert report.effective_mode is EffectiveMode.LIVE_DRY_RUN
    assert [g.gate for g in report.closed] == ["live_mode_armed"]


# -- plugins can only add blocks -----------------------------------------------------------


class RaisingGate:
    @hookimpl
    def check_gate(self, orders):
        raise RuntimeError("database down")


class HangingGate:
    def __init__(self):
        self.release = threading.Event()

    @hookimpl
    def check_gate(self, orders):
        self.release.wait(5)


class GarbageGate:
    @hookimpl
    def check_gate(self, orders):
        return "yes, fine"


class OpeningGate:
    """Tries to lift the kill switch by returning an open decision: must not work."""

    @hookimpl
    def check_gate(self, orders):
        from peaktrade_core.gates import GateDecision

        return GateDecision("kill_switch", True, "I say it is fine")


@pytest.mark.parametrize(
    ("plugin", "fragment"),
    [
        (RaisingGate(), "gate plugin flaky raised RuntimeError: database down"),
        (GarbageGate(), "gate plugin flaky returned something that is not a GateDecision"),
    ],
)
def test_a_failing_gate_plugin_blocks_every_order_and_is_named(plugin, fragment):
    with registered_plugin(plugin, "flaky"):
        p = pipeline(EnvironmentConfig())
        results = p.process_batch([order(), order(side="sell")])
    assert {r.status for r in results} == {OrderStatus.GATE_BLOCKED}
    assert all(any(fragment in reason for reason in r.reasons) for r in results)
    assert p.executor.received == []


def test_a_gate_plugin_that_hangs_past_the_timeout_blocks():
    plugin = HangingGate()
    try:
        with registered_plugin(plugin, "slow"):
            p = pipeline(EnvironmentConfig())
            results = p.process_batch([order()])
    finally:
        plugin.release.set()
    assert results[0].status is OrderStatus.GATE_BLOCKED
    assert "gate plugin slow raised TimeoutError: no answer within 0.2s" in results[0].reasons[0]
    assert p.executor.received == []


def test_an_open_decision_from_a_plugin_never_lifts_a_block():
    with registered_plugin(OpeningGate(), "opener"):
        p = pipeline(EnvironmentConfig())
        p.kill_switch.engage("stop", operator="alice")
        results = p.process_batch([order()])
    assert results[0].status is OrderStatus.GATE_BLOCKED and p.executor.received == []


def test_a_plugin_that_failed_to_load_blocks_trading_until_disabled():
    p = pipeline(EnvironmentConfig())
    p.pm._fail("broken", "peaktrade-broken", "1.0", "entry-point", "ImportError: nope")
    try:
        results = p.process_batch([order()])
    finally:
        p.pm._infos.pop("broken")
    assert results[0].status is OrderStatus.GATE_BLOCKED
    assert "plugin broken failed (ImportError: nope)" in results[0].reasons[0]
    assert "PEAK_TRADE_DISABLE_PLUGINS=broken" in results[0].reasons[0]
    assert p.executor.received == []


# -- research cannot reach live (ENV-5) ----------------------------------------------------


@pytest.mark.parametrize("mode", [TradingMode.PAPER, TradingMode.SHADOW])
def test_research_modes_never_get_a_trading_client(mode):
    from peaktrade_core.executors import ExecutorContext, create_order_executor

    seen: list[ExecutorContext] = []

    class Selector:
        @hookimpl
        def select_executor(self, context):
            seen.append(context)
            return Recorder(sends_real_orders=False)

    with registered_plugin(Selector(), "selector"):
        with pytest.raises(ValueError, match="never gets a trading client"):
            create_order_executor(EnvironmentConfig(mode=mode), trading_client=object())
        create_order_executor(EnvironmentConfig(mode=mode))
    assert [c.trading_client for c in seen] == [None]


# -- properties over every configuration ---------------------------------------------------

TOKENS = st.sampled_from([None, "", "wrong", LIVE_CONFIRM_TOKEN])
LIMIT = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6))


@st.composite
def environments(draw):
    return EnvironmentConfig(
        mode=draw(st.sampled_from(list(TradingMode))),
        enable_live_trading=draw(st.booleans()),
        live_mode_armed=draw(st.booleans()),
        live_dry_run_mode=draw(st.booleans()),
        require_confirm_token=draw(st.booleans()),
        confirm_token=draw(TOKENS),
        max_live_notional_per_order=draw(LIMIT),
        max_live_notional_total=draw(LIMIT),
    )


@settings(max_examples=400, deadline=None)
@given(env=environments(), engaged=st.booleans())
def test_allowed_exactly_when_every_gate_is_open_and_the_reason_names_a_closed_gate(env, engaged):
    kill = ENGAGED if engaged else RELEASED
    allowed, reason = is_live_execution_allowed(env, kill)
    token_ok = not env.require_confirm_token or env.confirm_token == LIVE_CONFIRM_TOKEN
    limits_set = env.max_live_notional_per_order is not None and env.max_live_notional_total is not None
    expected = (
        env.mode is TradingMode.LIVE and env.enable_live_trading and env.live_mode_armed
        and not env.live_dry_run_mode and token_ok and not engaged and limits_set
    )
    assert allowed == expected
    if not allowed:
        closed = {g.gate: g.reason for g in evaluate_gates(env, kill).closed}
        assert reason in closed.values()
        gate = next(g for g, r in closed.items() if r == reason)
        actually_closed = {
            "mode": env.mode is not TradingMode.LIVE,
            "enable_live_trading": not env.enable_live_trading,
            "live_mode_armed": not env.live_mode_armed,
            "confirm_token": not token_ok,
            "live_dry_run_mode": env.live_dry_run_mode,
            "kill_switch": engaged,
            "live_limits": not limits_set,
        }
        assert actually_closed[gate]


@settings(max_examples=200, deadline=None)
@given(env=environments(), engaged=st.booleans(), symbols=st.lists(st.sampled_from(["BTC/EUR", "ETH/EUR", "XRP/EUR"]), min_size=1, max_size=5))
def test_no_order_reaches_a_real_order_executor_through_a_closed_gate(env, engaged, symbols):
    env = evolve(env, live_allowed_symbols=("BTC/EUR", "ETH/EUR"), exchange="kraken", live_allowed_exchanges=("kraken",))
    kill = ENGAGED if engaged else RELEASED
    inner = Recorder()
    GuardedExecutor(inner, SafetyGuard(env, lambda: kill)).execute_orders([order(s) for s in symbols])
    allowed, _ = is_live_execution_allowed(env, kill)
    if not allowed:
        assert inner.received == []
    else:
        assert [o.symbol for o in inner.received] == [s for s in symbols if s != "XRP/EUR"]
