"""The pipeline's per-batch fast paths give what order by order gives: the accounts from a
batch of single fills, and this run's client order ids."""

from __future__ import annotations

import contextlib
import math
import re

import attrs
from hypothesis import example, given, settings
from hypothesis import strategies as st

import peaktrade_core.pipeline as pipeline_module
from peaktrade_core.config import PeakTradeConfig
from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderRequest, OrderStatus, Side
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.risk import LiveRiskConfig, NonFiniteAccountingError, PortfolioState
from peaktrade_core.state import StateStore
from peaktrade_core.venues import _GENERATED, ClientOrderIds

OFF = dict(max_orders_per_second=0, max_orders_per_minute=0, duplicate_window_seconds=0, runaway_max_executions=0, price_collar_pct=0)

symbols = st.sampled_from(["BTC/EUR", "ETH/EUR"])
quantities = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 1e-13, 1e308])
prices = st.sampled_from([90.0, 100.0, 110.0, 1e300])
fees = st.sampled_from([0.0, 0.25, 1e308])
fills = st.builds(
    lambda symbol, side, quantity, price, fee: OrderFill("x", symbol, side, quantity, price, fee),
    symbols, st.sampled_from([Side.BUY, Side.SELL]), quantities, prices, fees,
)


def _state(p: PortfolioState) -> tuple:
    # the dicts' order too: what the account snapshot and the summary list comes out the same
    return attrs.asdict(p), list(p.positions.items()), list(p.average_prices.items()), list(p.last_prices.items())


@settings(deadline=None, max_examples=400)
@given(start=st.lists(fills, max_size=3), batch=st.lists(fills, max_size=12))
@example(  # a position closed and opened again within one run of its symbol moves to the end
    start=[OrderFill("x", "BTC/EUR", Side.BUY, 1.0, 100.0), OrderFill("x", "ETH/EUR", Side.BUY, 1.0, 100.0)],
    batch=[OrderFill("x", "BTC/EUR", Side.SELL, 1.0, 100.0), OrderFill("x", "BTC/EUR", Side.BUY, 2.0, 90.0)],
)
def test_apply_fills_equals_apply_fill_one_by_one(start, batch):
    """Same positions, average prices, marks, cash, fees and PnL to the last bit, and the same
    fill refused with the same error (non-finite numbers never enter the accounts; a fill of
    nothing on a flat position divides by zero either way)."""
    plain, fast = PortfolioState(cash=1000.0), PortfolioState(cash=1000.0)
    for p in (plain, fast):
        for f in start:
            with contextlib.suppress(NonFiniteAccountingError, ZeroDivisionError):
                p.apply_fill(f.symbol, f.quantity if f.side is Side.BUY else -f.quantity, f.price, f.fee)
    refused_plain = None
    for i, f in enumerate(batch):
        try:
            plain.apply_fill(f.symbol, f.quantity if f.side is Side.BUY else -f.quantity, f.price, f.fee)
        except (NonFiniteAccountingError, ZeroDivisionError) as exc:
            refused_plain = (i, type(exc), str(exc))
            break
    refused_fast = None
    try:
        fast.apply_fills(batch)
    except (NonFiniteAccountingError, ZeroDivisionError) as exc:
        refused_fast = (exc.applied, type(exc), str(exc))
    assert refused_fast == refused_plain
    assert _state(fast) == _state(plain)
    assert all(math.isfinite(x) for x in (fast.cash, fast.fees_paid, fast.realized_pnl))


# -- _account: a batch of single fills in one loop, or result by result ----------------------

outcomes = st.sampled_from(["filled", "filled", "filled", "overflow", "nothing", "two_fills", "partial", "rejected", "error", "no_fill"])


class _ScriptedExecutor:
    """Returns the scripted outcome for each order, in turn."""

    name = "scripted"
    sends_real_orders = False

    def __init__(self, script: list[str]):
        self.script = iter(script)

    def execute_orders(self, orders):
        out = []
        for o in orders:
            kind = next(self.script)
            fill = OrderFill(o.client_order_id, o.symbol, o.side, o.quantity, 100.0, 0.1)
            if kind == "filled":
                out.append(OrderExecutionResult(o, OrderStatus.FILLED, [fill]))
            elif kind == "nothing":  # a fill of 0: on a flat position, apply_fill divides by zero
                out.append(OrderExecutionResult(o, OrderStatus.FILLED, [attrs.evolve(fill, quantity=0.0)]))
            elif kind == "overflow":
                out.append(OrderExecutionResult(o, OrderStatus.FILLED, [attrs.evolve(fill, quantity=1e308)]))
            elif kind == "two_fills":
                out.append(OrderExecutionResult(o, OrderStatus.FILLED, [fill, attrs.evolve(fill, price=101.0)]))
            elif kind == "partial":
                out.append(OrderExecutionResult(o, OrderStatus.PARTIALLY_FILLED, [attrs.evolve(fill, quantity=o.quantity / 2)]))
            elif kind == "rejected":
                out.append(OrderExecutionResult(o, OrderStatus.REJECTED, reasons=["no liquidity"]))
            elif kind == "error":
                out.append(OrderExecutionResult(o, OrderStatus.ERROR, reasons=["venue down"]))
            else:
                out.append(OrderExecutionResult(o, OrderStatus.FILLED, []))
        return out

    def cancel_order(self, client_order_id: str) -> bool:
        return False


#: when the kill switch was engaged (differs between the two sessions)
_TIME = re.compile(r"\d{4}-\d\d-\d\dT[\d:.+]+")


class _Alerts:
    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append((event.level.name, event.code))


def _session(batches: list[list[tuple[str, str, float]]], runaway: int) -> tuple:
    script = [kind for batch in batches for kind, _, _ in batch]
    config = PeakTradeConfig(live_risk=LiveRiskConfig(**{**OFF, "runaway_max_executions": runaway}))
    alerts = _Alerts()
    p = ExecutionPipeline(config, store=StateStore(":memory:"), executor=_ScriptedExecutor(script), record=False, alerts=alerts)
    seen = []
    for n, batch in enumerate(batches):
        orders = [OrderRequest(symbol, "buy" if q > 0 else "sell", abs(q), reference_price=100.0, source_ref=f"{n}:{i}") for i, (_, symbol, q) in enumerate(batch)]
        try:
            results = p.process_batch(orders)
        except ZeroDivisionError as exc:  # the session would fail here: where it stood
            seen.append((repr(exc), dict(p._by_status), p._fills, _state(p.portfolio)))
            break
        seen.append([(r.status, [_TIME.sub("<time>", x) for x in r.reasons], len(r.fills)) for r in results])
        seen.append(dict(p._by_status))
    return _observed(p, alerts, seen)



def _observed(p, alerts, seen):
    """What a session shows after its batches: results, accounts, counters, kill switch, alerts."""
    return (
        seen,
        _state(p.portfolio),
        dict(p._by_status),
        {_TIME.sub("<time>", k): v for k, v in p._blocks_by_reason.items()},
        p._fills,
        p.controls._executions.total,
        p.kill_switch.state().engaged,
        alerts.events,
    )

@settings(deadline=None, max_examples=60)
@given(
    batches=st.lists(st.lists(st.tuples(outcomes, symbols, st.sampled_from([1.0, -1.0, 2.5, -0.5])), max_size=8), min_size=1, max_size=4),
    runaway=st.sampled_from([0, 6]),
)
@example(batches=[[("overflow", "BTC/EUR", 1.0)]], runaway=0)
@example(batches=[[("filled", "ETH/EUR", 1.0), ("nothing", "BTC/EUR", 1.0), ("filled", "BTC/EUR", 1.0)]], runaway=0)
def test_accounting_a_batch_of_single_fills_in_one_loop_equals_result_by_result(batches, runaway):
    """Results (a fill the accounts cannot hold turns the order into an error), the account,
    the session counters, the runaway count and the alerts come out the same."""
    fast = _session(batches, runaway)
    saved = pipeline_module._JUST_FILLED
    pipeline_module._JUST_FILLED = frozenset()  # never "only filled": result by result
    try:
        plain = _session(batches, runaway)
    finally:
        pipeline_module._JUST_FILLED = saved
    assert fast == plain


# -- this run's client order ids --------------------------------------------------------------

def _plain_assign(ids: ClientOrderIds, batch: list[OrderRequest], position: int) -> list[str]:
    """The rule, order by order: an id the core made (a known prefix, 32 characters), not
    already this run's, becomes this run's id for the order's position."""
    out = []
    for i, order in enumerate(batch, position):
        cid = order.client_order_id
        head = cid[:16]
        out.append(f"{ids.prefix}{i:016x}" if head != ids.prefix and head in _GENERATED and len(cid) == 32 else cid)
    return out


@settings(deadline=None, max_examples=200)
@given(
    kinds=st.lists(st.lists(st.sampled_from(["core", "core", "user", "user32", "run", "core_short", "other_core"]), max_size=6), min_size=1, max_size=3),
)
def test_run_ids_given_to_a_whole_batch_equal_the_rule_order_by_order(kinds):
    config = PeakTradeConfig(live_risk=LiveRiskConfig(**OFF))
    p = ExecutionPipeline(config, store=StateStore(":memory:"), executor=_ScriptedExecutor([]), record=False)
    p.ids, p._position = ClientOrderIds("run-under-test"), 0
    other = ClientOrderIds("another-generator")
    position = 0
    for batch_kinds in kinds:
        made = {
            "core": "",
            "user": "my-order-1",
            "user32": "u" * 32,
            "run": p.ids.at(999),
            "core_short": other.next()[:31],
            "other_core": other.next(),
        }
        batch = [OrderRequest("BTC/EUR", "buy", 1.0, reference_price=1.0, client_order_id=made[k]) for k in batch_kinds]
        expected = _plain_assign(p.ids, batch, position)
        p._assign_ids(batch)
        assert [o.client_order_id for o in batch] == expected
        position += len(batch)
        assert p._position == position


# -- one order per call: the per-result rules against the loops over a whole batch -----------

one_order_outcomes = st.sampled_from(["filled", "filled", "filled", "overflow", "nothing", "two_fills", "partial", "rejected", "error", "no_fill", "raises", "two_results", "no_result"])


class _OneOrderExecutor(_ScriptedExecutor):
    """The scripted outcomes, and executors that break: raising, or answering with the wrong
    number of results."""

    def execute_orders(self, orders):
        kind = next(self.script)
        if kind == "raises":
            raise RuntimeError("executor broke")
        if kind in ("two_results", "no_result"):
            return [OrderExecutionResult(o, OrderStatus.FILLED) for o in orders for _ in range(2 if kind == "two_results" else 0)]
        self.script = iter([kind, *self.script])
        return super().execute_orders(orders)


def _one_order_session(steps: list[tuple[str, str, float, bool]], limits: dict) -> tuple:
    """One order per ``process_batch`` (what happens, symbol, signed quantity, the kill switch
    engaged before it)."""
    config = PeakTradeConfig(live_risk=LiveRiskConfig(**{**OFF, **limits}))
    alerts = _Alerts()
    p = ExecutionPipeline(
        config, store=StateStore(":memory:"), executor=_OneOrderExecutor([kind for kind, *_ in steps]), record=False, alerts=alerts, clock=lambda: 1.7e9
    )  # a fixed clock: the duplicate check's reason names the seconds since the last order
    seen = []
    for n, (_, symbol, q, engage) in enumerate(steps):
        if engage and not p.kill_switch.state().engaged:
            p.kill_switch.engage("test", operator="bob")
        order = OrderRequest(symbol, "buy" if q > 0 else "sell", abs(q), reference_price=100.0, source_ref=f"{n}")
        try:
            results = p.process_batch([order], n)
        except ZeroDivisionError as exc:  # the session would fail here: where it stood
            seen.append((repr(exc), dict(p._by_status), p._fills, _state(p.portfolio)))
            break
        seen.append([(r.status, [_TIME.sub("<time>", x) for x in r.reasons], len(r.fills), r.order.client_order_id.startswith(p.ids.prefix)) for r in results])
    return _observed(p, alerts, seen)


@settings(deadline=None, max_examples=60)
@given(
    steps=st.lists(st.tuples(one_order_outcomes, symbols, st.sampled_from([1.0, -1.0, 2.5, -0.5, 30.0]), st.sampled_from([False] * 9 + [True])), min_size=1, max_size=12),
    limits=st.sampled_from([{}, {"runaway_max_executions": 4}, {"max_order_notional": 1_000.0}, {"duplicate_window_seconds": 2.0}]),
)
@example(steps=[("two_fills", "BTC/EUR", 1.0, False), ("no_result", "BTC/EUR", 1.0, False), ("raises", "ETH/EUR", -1.0, False)], limits={})
@example(steps=[("filled", "BTC/EUR", 30.0, False), ("filled", "BTC/EUR", 1.0, True), ("filled", "BTC/EUR", -1.0, False)], limits={"max_order_notional": 1_000.0})
def test_one_order_per_call_equals_the_paths_of_a_whole_batch(steps, limits):
    """Results and their reasons, ids, the account, the counters, the runaway count, the kill
    switch and the alerts are the same with the one-order branches as with the loops a whole
    batch takes (risk blocks, a kill switch closing the gate, executors that raise or answer
    with the wrong number of results, fills the accounts cannot hold)."""
    fast = _one_order_session(steps, limits)
    with contextlib.ExitStack() as stack:
        stack.callback(setattr, pipeline_module, "ONE_ORDER_FAST_PATH", True)
        pipeline_module.ONE_ORDER_FAST_PATH = False
        plain = _one_order_session(steps, limits)
    assert fast == plain


@settings(deadline=None, max_examples=60)
@given(items=st.lists(st.integers(), max_size=30), size=st.integers(1, 7))
def test_batches_of_any_size_are_the_orders_in_order_each_handed_on_when_full(items, size):
    from peaktrade_core.pipeline import batched

    taken = []

    def source():
        for item in items:
            taken.append(item)
            yield item

    batches = []
    for batch in batched(source(), size):
        assert taken == [*(x for b in batches for x in b), *batch]  # nothing read ahead
        batches.append(batch)
    assert batches == [items[i : i + size] for i in range(0, len(items), size)]
    assert all(type(b) is list for b in batches)
