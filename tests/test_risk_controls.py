"""Stateful pre-trade controls: throttle, duplicates, stale references, runaway → kill switch."""

from __future__ import annotations

import math

from attrs import evolve
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core.killswitch import KillSwitch
from peaktrade_core.orders import OrderRequest
from peaktrade_core.risk import LiveRiskConfig, PreTradeControls, ViolationCode
from peaktrade_core.state import StateStore

OFF = dict(
    max_orders_per_second=0,
    max_orders_per_minute=0,
    duplicate_window_seconds=0.0,
    runaway_max_executions=0,
    max_reference_age_seconds=0.0,
)


def controls(**overrides) -> PreTradeControls:
    return PreTradeControls(LiveRiskConfig(**{**OFF, **overrides}), clock=lambda: 1000.0)


def order(i: int, symbol: str = "BTC/EUR", qty: float = 1.0) -> OrderRequest:
    return OrderRequest(
        symbol=symbol, side="buy", quantity=qty, reference_price=100.0, source_ref=f"line {i}"
    )


def codes(found):
    return [(v.code, v.order_index) for v in found]


def test_all_controls_off_let_everything_through():
    c = controls()
    batch = [order(i, qty=1.0) for i in range(500)]  # identical but for their source line
    assert c.check(batch, now=0.0, reference_times={}) == []


def test_rate_per_second_counts_only_orders_let_through_in_a_sliding_window():
    c = controls(max_orders_per_second=3)
    found = c.check([order(i) for i in range(5)], now=10.0)
    assert codes(found) == [("max_orders_per_second", 3), ("max_orders_per_second", 4)]
    assert (found[0].limit, found[0].value) == (3.0, 4.0)
    assert codes(c.check([order(10)], now=10.5)) == [("max_orders_per_second", 0)]
    # one second after the first three, the window has room again
    assert codes(c.check([order(11), order(12), order(13)], now=11.0)) == []


def test_rate_per_minute():
    c = controls(max_orders_per_minute=4)
    assert codes(c.check([order(i) for i in range(3)], now=0.0)) == []
    assert codes(c.check([order(i) for i in range(3, 6)], now=30.0)) == [
        ("max_orders_per_minute", 1),
        ("max_orders_per_minute", 2),
    ]
    assert codes(c.check([order(9)], now=59.0)) == [("max_orders_per_minute", 0)]
    assert codes(c.check([order(10), order(11)], now=60.5)) == []


def test_same_client_order_id_is_a_duplicate_for_the_whole_session():
    c = controls()
    first = order(1)
    assert c.check([first], now=0.0) == []
    found = c.check([first], now=10_000.0)
    assert codes(found) == [("duplicate_order", 0)]
    assert first.client_order_id in found[0].message


def test_identical_order_within_the_window_is_a_duplicate():
    c = controls(duplicate_window_seconds=2.0)
    assert c.check([order(1)], now=0.0) == []
    found = c.check([order(2), order(3, qty=2.0)], now=1.5)  # other source line, same order
    assert codes(found) == [("duplicate_order", 0)]
    assert (found[0].limit, found[0].value) == (2.0, 1.5)
    assert c.check([order(4)], now=2.0) == []


def test_blocked_or_skipped_orders_are_not_remembered():
    c = controls(max_orders_per_second=1, duplicate_window_seconds=5.0)
    assert codes(c.check([order(1), order(2, "ETH/EUR")], now=0.0)) == [
        ("max_orders_per_second", 1)
    ]
    # the throttled order was never let through, so sending it later is no duplicate
    assert c.check([order(2, "ETH/EUR")], now=1.0) == []
    # a skipped order (blocked earlier in the pipeline) is neither checked nor counted
    assert c.check([order(1), order(3, "SOL/EUR")], now=2.0, skip={0}) == []


def test_stale_and_unknown_reference_times_block():
    c = controls(max_reference_age_seconds=5.0)
    times = {"BTC/EUR": 94.0, "ETH/EUR": 96.0}
    found = c.check(
        [order(1), order(2, "ETH/EUR"), order(3, "SOL/EUR")], now=100.0, reference_times=times
    )
    assert codes(found) == [("stale_reference_price", 0), ("stale_reference_price", 2)]
    assert (found[0].limit, found[0].value) == (5.0, 6.0)
    assert found[1].value is None and "no time known" in found[1].message


def test_runaway_throttle_engages_a_real_kill_switch_seen_by_another_process(tmp_path):
    store = StateStore.in_dir(tmp_path)
    switch = KillSwitch(store)
    c = PreTradeControls(
        LiveRiskConfig(runaway_max_executions=5, runaway_window_seconds=10.0), switch
    )
    assert c.record_executions(3, now=0.0) is False
    assert c.record_executions(2, now=5.0) is False
    assert c.record_executions(1, now=9.0) is True

    other = KillSwitch(StateStore.in_dir(tmp_path))  # a second handle on the same file
    state = other.state()
    assert state.engaged and state.operator == "runaway-throttle" and state.source == "risk"
    assert "6 executions within 10s > limit 5" in state.reason
    # latched: only a person releases it
    assert c.record_executions(0, now=100.0) is False and other.state().engaged
    other.release("checked the strategy", operator="alice")
    assert not switch.state().engaged


def test_runaway_window_slides():
    c = PreTradeControls(LiveRiskConfig(runaway_max_executions=5, runaway_window_seconds=10.0))
    assert c.record_executions(5, now=0.0) is False
    assert c.record_executions(5, now=10.0) is False  # the first five left the window


def test_runaway_without_kill_switch_blocks_every_later_order():
    c = controls(runaway_max_executions=2)
    assert c.record_executions(3, now=0.0) is True
    found = c.check([order(1), order(2)], now=1.0)
    assert codes(found) == [(ViolationCode.RUNAWAY.value, 0), (ViolationCode.RUNAWAY.value, 1)]
    assert "runaway throttle: 3 executions" in found[0].message


def test_identical_order_right_after_the_window_was_pruned_is_a_duplicate(monkeypatch):
    """The batch that prunes the remembered orders must remember its own in what is kept."""
    from peaktrade_core.risk import controls as module

    for fast in (True, False):
        monkeypatch.setattr(module, "BATCH_FAST_PATH", fast)
        c = controls(duplicate_window_seconds=2.0)
        assert c.check([order(i, qty=1.0 + i) for i in range(1100)], now=0.0) == []
        assert c.check([order(2000, qty=0.5)], now=3.0) == []  # prunes the 1,100 orders
        found = c.check([order(2001, qty=0.5)], now=3.5)
        assert codes(found) == [("duplicate_order", 0)], f"fast path {fast}"


# -- the whole-batch fast path against order by order ----------------------------------------

_SOME_IDS = ["a" * 32, "b" * 32, "c" * 32]


@st.composite
def _orders(draw):
    limit = draw(st.booleans())
    return OrderRequest(
        symbol=draw(st.sampled_from(["BTC/EUR", "ETH/EUR", "SOL/EUR"])),
        side=draw(st.sampled_from(["buy", "sell"])),
        quantity=draw(st.sampled_from([1.0, 2.0, 1e300, math.inf])),
        order_type="limit" if limit else "market",
        limit_price=draw(st.sampled_from([100.0, 1e10])) if limit else None,
        reference_price=draw(st.sampled_from([None, 100.0, 1e300])),
        client_order_id=draw(st.sampled_from(["", "", "", *_SOME_IDS])),
    )


@st.composite
def _batches(draw):
    pool = draw(st.lists(_orders(), min_size=1, max_size=6))
    steps = []
    for _ in range(draw(st.integers(1, 5))):
        # the same order again, or an identical one under another client order id
        picks = draw(st.lists(st.tuples(st.sampled_from(pool), st.booleans()), max_size=8))
        batch = [evolve(o, client_order_id="") if again else o for o, again in picks]
        skip = draw(st.sets(st.integers(0, max(len(batch) - 1, 0)), max_size=2)) if batch and draw(st.booleans()) else set()
        steps.append((batch, draw(st.sampled_from([0.0, 0.4, 1.5, 3.0, 70.0])), skip))
    return steps


LIMITS = st.fixed_dictionaries(
    {
        "max_orders_per_second": st.sampled_from([0, 3, 50]),
        "max_orders_per_minute": st.sampled_from([0, 10, 1000]),
        "duplicate_window_seconds": st.sampled_from([0.0, 2.0]),
        "runaway_max_executions": st.sampled_from([0, 6, 10**6]),
        "max_reference_age_seconds": st.sampled_from([0.0, 5.0]),
    }
)
SYMBOLS = ["BTC/EUR", "ETH/EUR", "SOL/EUR"]


def _run_controls(steps, limits, message_limits, times, fast: bool):
    """Violations per batch, the runaway throttle and what is remembered (ids, identical
    orders, counts), with the whole-batch path on or off."""
    from peaktrade_core.risk import controls as module

    module.BATCH_FAST_PATH = fast
    try:
        c = PreTradeControls(LiveRiskConfig(**limits), clock=lambda: 0.0, message_limits=message_limits)
        out, now = [], 1000.0
        for batch, step, skip in steps:
            now += step
            found = c.check(batch, now, times, skip=skip)
            blocked = {v.order_index for v in found} | skip
            tripped = c.record_executions(len(batch) - len(blocked), now)
            out.append((found, tripped, c.runaway_reason))
        state = (list(c._seen_ids), dict(c._recent), c._per_second.total, c._per_minute.total, c._executions.total)
        return out, state
    finally:
        module.BATCH_FAST_PATH = True


@settings(deadline=None, max_examples=300)
@given(
    steps=_batches(),
    limits=LIMITS,
    message_limits=st.booleans(),
    times=st.dictionaries(st.sampled_from(SYMBOLS), st.sampled_from([-10.0, 999.0, 1e9])),
)
def test_whole_batch_fast_path_equals_order_by_order(steps, limits, message_limits, times):
    assert _run_controls(steps, limits, message_limits, times, True) == _run_controls(steps, limits, message_limits, times, False)


@settings(deadline=None, max_examples=300)
@given(
    orders=st.lists(st.tuples(_orders(), st.booleans(), st.sampled_from([0.0, 0.4, 3.0, 70.0])), min_size=1, max_size=12),
    limits=LIMITS,
    message_limits=st.booleans(),
    ages=st.fixed_dictionaries({s: st.sampled_from([-10.0, 999.0, 1e9]) for s in SYMBOLS}),
)
def test_one_order_per_call_equals_order_by_order(orders, limits, message_limits, ages):
    """An event-driven strategy's batches of one order (their own branch of the fast path):
    the same answers as order by order, for every reference age, repeat and limit."""
    steps = [([evolve(o, client_order_id="") if again else o], step, set()) for o, again, step in orders]
    assert _run_controls(steps, limits, message_limits, ages, True) == _run_controls(steps, limits, message_limits, ages, False)
