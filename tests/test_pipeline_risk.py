"""Risk in the pipeline: every violation code blocks the order before any executor sees it,
and the runaway throttle latches the kill switch."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core import hookimpl
from peaktrade_core.config import PeakTradeConfig
from peaktrade_core.environment import LIVE_CONFIRM_TOKEN, EnvironmentConfig, TradingMode
from peaktrade_core.orders import OrderRequest, OrderStatus
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.risk import LiveRiskConfig
from peaktrade_core.state import StateStore
from peaktrade_core.testing import FillingExecutor, registered_plugin

OFF = dict(max_orders_per_second=0, max_orders_per_minute=0, duplicate_window_seconds=0, runaway_max_executions=0, price_collar_pct=0)
LIVE = EnvironmentConfig(
    mode=TradingMode.LIVE, enable_live_trading=True, live_mode_armed=True, live_dry_run_mode=False,
    confirm_token=LIVE_CONFIRM_TOKEN, max_live_notional_per_order=500.0, max_live_notional_total=800.0,
    live_trade_min_size=50.0, live_allowed_symbols=("BTC/EUR", "ETH/EUR"), exchange="kraken", live_allowed_exchanges=("kraken",),
)


Filler = FillingExecutor


def run(limits: dict, orders: list[OrderRequest], env: EnvironmentConfig | None = None, clock=None) -> tuple[ExecutionPipeline, list]:
    config = PeakTradeConfig(environment=env or EnvironmentConfig(), live_risk=LiveRiskConfig(**{**OFF, **limits}))
    kwargs = {"clock": clock} if clock else {}
    p = ExecutionPipeline(config, store=StateStore(":memory:"), executor=Filler(), record=False, **kwargs)
    return p, p.process_batch(orders)


def o(symbol="BTC/EUR", side="buy", qty=0.01, price=40_000.0, **kw) -> OrderRequest:
    return OrderRequest(symbol, side, qty, reference_price=price, **kw)


CASES = [
    ("max_order_notional", {"max_order_notional": 300.0}, [o()], None),
    ("min_order_notional", {"min_order_notional": 500.0}, [o()], None),
    ("max_symbol_exposure_notional", {"max_symbol_exposure_notional": 600.0}, [o(), o(qty=0.011)], None),
    ("max_total_exposure_notional", {"max_total_exposure_notional": 600.0}, [o(), o("ETH/EUR", qty=0.2, price=2_000.0)], None),
    ("max_open_positions", {"max_open_positions": 1}, [o(), o("ETH/EUR", qty=0.1, price=2_000.0)], None),
    ("max_live_notional_per_order", {}, [o(qty=0.02)], LIVE),
    ("max_live_notional_total", {}, [o(), o(qty=0.011)], LIVE),
    ("live_trade_min_size", {}, [o(qty=0.001)], LIVE),
    ("price_collar", {"price_collar_pct": 5.0}, [o(order_type="limit", limit_price=45_000.0)], None),
    ("max_order_quantity", {"max_order_quantity": {"BTC/EUR": 0.005}}, [o()], None),
    ("max_orders_per_second", {"max_orders_per_second": 1}, [o(), o(qty=0.011)], EnvironmentConfig(mode=TradingMode.TESTNET)),
    ("duplicate_order", {"duplicate_window_seconds": 5.0}, [o(), o(source_ref="again")], None),
    ("stale_reference_price", {"max_reference_age_seconds": 1.0}, [o()], None),
]


@pytest.mark.parametrize(("code", "limits", "orders", "env"), CASES, ids=[c[0] for c in CASES])
def test_each_violation_blocks_with_its_code_and_never_reaches_the_executor(code, limits, orders, env):
    p, results = run(limits, orders, env)
    blocked = results[-1]
    assert blocked.status is OrderStatus.RISK_BLOCKED
    assert any(reason.startswith(code) for reason in blocked.reasons), blocked.reasons
    assert blocked.order not in p.executor.received


def test_daily_loss_blocks_new_risk_after_the_day_went_wrong():
    p, _ = run({"max_daily_loss_abs": 100.0}, [o(qty=0.1)])
    p.update_prices({"BTC/EUR": 38_000.0})  # -200 unrealized
    results = p.process_batch([o(qty=0.001, price=38_000.0, source_ref="more")])
    assert results[0].status is OrderStatus.RISK_BLOCKED
    assert results[0].reasons[0].startswith("max_daily_loss_abs")
    assert len(p.executor.received) == 1


def test_message_limits_do_not_apply_to_orders_that_reach_no_venue():
    _, results = run({"max_orders_per_second": 1}, [o(), o(qty=0.011)])  # paper
    assert [r.status for r in results] == [OrderStatus.FILLED, OrderStatus.FILLED]


def test_warn_only_mode_records_but_executes():
    p, results = run({"max_order_notional": 300.0, "block_on_violation": False}, [o()])
    assert results[0].status is OrderStatus.FILLED and p.executor.received == [o()]


def test_a_raising_risk_plugin_blocks_the_batch_and_is_named():
    class Broken:
        @hookimpl
        def check_risk(self, orders):
            raise ValueError("no data")

    with registered_plugin(Broken(), "broken-risk"):
        p, results = run({}, [o(), o(qty=0.02)])
    assert {r.status for r in results} == {OrderStatus.RISK_BLOCKED}
    assert "risk plugin broken-risk failed: ValueError: no data" in results[0].reasons[0]
    assert p.executor.received == []


def test_runaway_throttle_engages_the_kill_switch_which_then_blocks_everything():
    now = [1000.0]
    p, results = run({"runaway_max_executions": 3, "runaway_window_seconds": 60.0}, [o(qty=0.001 * (i + 1)) for i in range(4)], clock=lambda: now[0])
    # exactly the limit executes; the fourth order of the same batch is the runaway
    assert [r.status for r in results] == [OrderStatus.FILLED] * 3 + [OrderStatus.RISK_BLOCKED]
    assert "runaway_throttle: runaway throttle: order 4 within 60s > limit 3" in results[3].reasons[0]
    state = p.kill_switch.state()
    assert state.engaged and state.operator == "runaway-throttle"
    after = p.process_batch([o(qty=0.5, source_ref="later")])
    assert after[0].status is OrderStatus.GATE_BLOCKED and "runaway throttle" in after[0].reasons[0]
    assert len(p.executor.received) == 3


def test_the_runaway_throttle_blocks_even_when_violations_only_warn_and_is_recorded_as_a_block():
    config = PeakTradeConfig(live_risk=LiveRiskConfig(**{**OFF, "runaway_max_executions": 2, "block_on_violation": False}))
    p = ExecutionPipeline(config, store=StateStore(":memory:"), executor=Filler(), clock=lambda: 1000.0)
    p.run([o(qty=0.001 * (i + 1)) for i in range(5)])
    assert p.summary.by_status == {"filled": 2, "risk_blocked": 3}
    assert len(p.executor.received) == 2 and p.kill_switch.state().engaged
    history = p.risk_records.query()
    assert len(history) == 3 and all(r["code"] == "runaway_throttle" and r["blocked"] for r in history)


@settings(max_examples=40, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=60),
    batch_sizes=st.lists(st.integers(min_value=1, max_value=150), min_size=1, max_size=5),
)
def test_runaway_limit_n_means_at_most_n_executions_in_the_window_whatever_the_batch_size(limit, batch_sizes):
    """The issue's case: a limit of 500 let 928 orders through, because it was checked once
    per batch. Within one window (the clock stands still) exactly min(N, sent) execute, and
    the switch engages exactly when more were sent."""
    config = PeakTradeConfig(live_risk=LiveRiskConfig(**{**OFF, "runaway_max_executions": limit, "runaway_window_seconds": 60.0}))
    p = ExecutionPipeline(config, store=StateStore(":memory:"), executor=Filler(), record=False, clock=lambda: 5000.0)
    sent = 0
    for n, size in enumerate(batch_sizes):
        p.process_batch([o(qty=0.001, source_ref=f"{n}:{i}") for i in range(size)], n)
        sent += size
    assert len(p.executor.received) == min(limit, sent)
    assert p.kill_switch.state().engaged is (sent > limit)


def test_a_non_finite_or_overflowing_order_is_refused_with_its_own_code_even_when_violations_only_warn():
    huge = o(qty=1e308, price=50_000.0, source_ref="huge")
    endless = o(qty=float("inf"), price=50_000.0, source_ref="inf")
    unpriced = OrderRequest("BTC/EUR", "buy", 1e308, source_ref="unpriced")  # filled at the market's price
    p, results = run({"block_on_violation": False}, [huge, endless, unpriced, o(source_ref="fine")])
    assert [r.status.value for r in results] == ["risk_blocked"] * 3 + ["filled"]
    assert all(r.reasons[0].startswith("non_finite_number: quantity") for r in results[:3])
    assert [x.source_ref for x in p.executor.received] == ["fine"]
    assert p.portfolio.cash == pytest.approx(99_600.0) and p.portfolio.positions == {"BTC/EUR": 0.01}


class _OverflowingFiller(Filler):
    """A venue that reports a fill no account can hold (1e308 at 50,000)."""

    def execute_orders(self, orders):
        from peaktrade_core.orders import OrderExecutionResult, OrderFill

        return [OrderExecutionResult(x, OrderStatus.FILLED, fills=[OrderFill(x.client_order_id, x.symbol, x.side, 1e308, 50_000.0)]) for x in orders]


def test_a_fill_that_would_make_cash_non_finite_is_refused_never_stored_and_alerted_critical():
    raised = []

    class Alerts:
        def emit(self, event):
            raised.append(event)

    config = PeakTradeConfig(live_risk=LiveRiskConfig(**OFF))
    p = ExecutionPipeline(config, store=StateStore(":memory:"), executor=_OverflowingFiller(), record=False, alerts=Alerts())
    (result,) = p.process_batch([o()])
    assert result.status is OrderStatus.ERROR and "accounting refused the fill" in result.reasons[-1]
    assert p.portfolio.cash == config.execution.starting_cash and p.portfolio.positions == {}
    assert [(e.level.name, e.code) for e in raised] == [("CRITICAL", "accounting_refused")]


def test_the_duplicate_check_memory_stays_bounded(monkeypatch):
    import peaktrade_core.risk.controls as controls

    monkeypatch.setattr(controls, "SEEN_IDS_KEPT", 100)
    p, _ = run({"duplicate_window_seconds": 1.0}, [o(qty=0.0001 * (i + 1)) for i in range(300)])
    assert len(p.controls._seen_ids) == 100
    again = p.process_batch([o(qty=0.0001 * 300)])  # among the most recent: still caught
    assert again[0].status is OrderStatus.RISK_BLOCKED
