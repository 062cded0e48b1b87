"""The strategy driver: each quote reaches the pipeline before the strategy, one quote's
intents run as one batch (the next quote sees the positions they left), a strategy that
raises stops the session fail-closed and the run log says which strategy failed where."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core.config import PeakTradeConfig
from peaktrade_core.marketdata import Quote
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.risk import LiveRiskConfig
from peaktrade_core.runlog import iter_run_events, load_run_metadata, verify_run
from peaktrade_core.state import StateStore
from peaktrade_core.strategy import OrderIntent, StrategyError, run_strategy
from peaktrade_core.testing import FillingExecutor
from peaktrade_core.venues import InstrumentRules

OFF = dict(max_orders_per_second=0, max_orders_per_minute=0, duplicate_window_seconds=0, runaway_max_executions=0, price_collar_pct=0)
T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z


def quotes(prices, symbol="BTC/EUR"):
    return [Quote(symbol, p, T0 + 60 * i) for i, p in enumerate(prices)]


@pytest.fixture
def pipeline(tmp_path):
    config = PeakTradeConfig(live_risk=LiveRiskConfig(**OFF))
    return ExecutionPipeline(config, store=StateStore(tmp_path / "state.sqlite3"), executor=FillingExecutor())


class Targets:
    """Holds the position the quote's price asks for: 0.01 per 1000 above 40000."""

    def start(self, context):
        self.context = context
        self.seen = []

    def on_quote(self, quote):
        self.seen.append((quote.price, self.context.position(quote.symbol), self.context.price(quote.symbol)))
        return self.context.target_position(quote.symbol, max(quote.price - 40_000, 0) / 1000 * 0.01)

    def stop(self):
        return self.context.target_position("BTC/EUR", 0.0)  # flat at the end


def test_each_quote_is_one_batch_and_the_next_quote_sees_the_position_it_left(pipeline):
    strategy = Targets()
    summary = run_strategy(pipeline, strategy, quotes([41_000, 43_000, 43_000, 42_000]), params={"step": 0.01})
    # the pipeline had the quote's price before the strategy ran; positions are after the last batch
    assert [(p, round(pos, 10), mark) for p, pos, mark in strategy.seen] == [
        (41_000, 0.0, 41_000), (43_000, 0.01, 43_000), (43_000, 0.03, 43_000), (42_000, 0.03, 42_000)
    ]
    assert summary.status == "finished" and summary.batches == 4 and summary.orders == 4  # buy, buy, -, sell; stop() flattens
    assert summary.positions.get("BTC/EUR", 0.0) == pytest.approx(0.0, abs=1e-12)
    store = pipeline.store
    meta = load_run_metadata(store, summary.run_id)
    assert meta.strategy == "Targets" and meta.strategy_params == {"step": 0.01}
    orders = [e for e in iter_run_events(store, summary.run_id) if e.kind == "order"]
    assert [(e.side, round(e.quantity, 10)) for e in orders] == [("buy", 0.01), ("buy", 0.02), ("sell", 0.01), ("sell", 0.02)]
    assert verify_run(store, summary.run_id).ok


def test_a_strategy_that_raises_stops_the_session_and_the_run_log_says_where(pipeline):
    class Breaks:
        def on_quote(self, quote):
            if quote.price > 42_000:
                raise ZeroDivisionError("division by zero")
            return [OrderIntent(quote.symbol, "buy", 0.01)]

    with pytest.raises(StrategyError) as failed:
        run_strategy(pipeline, Breaks(), quotes([41_000, 41_500, 42_500, 41_000]))
    assert str(failed.value) == "strategy Breaks failed in on_quote(BTC/EUR at 2025-01-01T00:02:00Z): raised ZeroDivisionError: division by zero"
    run_id = pipeline.run_id
    events = list(iter_run_events(pipeline.store, run_id))
    assert [e.kind for e in events if e.kind == "order"] == ["order", "order"]  # the quotes before; nothing after
    (error,) = [e.extra for e in events if e.kind == "strategy_error"]
    assert error == {"strategy": "Breaks", "where": "on_quote(BTC/EUR at 2025-01-01T00:02:00Z)", "error": "raised ZeroDivisionError: division by zero"}
    assert load_run_metadata(pipeline.store, run_id).status == "failed"
    assert verify_run(pipeline.store, run_id).ok


def test_something_that_is_not_an_intent_is_a_failing_strategy_not_an_order(pipeline):
    class Sloppy:
        def on_quote(self, quote):
            return [{"symbol": quote.symbol, "side": "buy", "quantity": 1}]

    with pytest.raises(StrategyError, match=r"strategy Sloppy failed in on_quote\(BTC/EUR at .*\): returned dict as intent 1, not an OrderIntent"):
        run_strategy(pipeline, Sloppy(), quotes([41_000]))
    assert pipeline.executor.received == []


def test_start_failing_sends_nothing(pipeline):
    class NoStart:
        def start(self, context):
            raise RuntimeError("no model file")

        def on_quote(self, quote):
            return [OrderIntent(quote.symbol, "buy", 0.01)]

    with pytest.raises(StrategyError, match="strategy NoStart failed in start: raised RuntimeError: no model file"):
        run_strategy(pipeline, NoStart(), quotes([41_000, 41_000]))
    assert pipeline.executor.received == []


def test_the_mappers_rounding_and_skipped_trades_are_in_the_run_log(pipeline):
    class Weights:
        def start(self, context):
            self.context = context

        def on_quote(self, quote):
            return self.context.target_weight(quote.symbol, 0.5)

    rules = {"BTC/EUR": InstrumentRules("BTC/EUR", lot_step=0.001, min_quantity=0.001, min_notional=100.0)}
    pipeline.portfolio.cash = 1_000.0
    summary = run_strategy(pipeline, Weights(), quotes([41_000, 41_100]), rules=rules)
    events = list(iter_run_events(pipeline.store, summary.run_id))
    (rounding,) = [e.extra for e in events if e.kind == "strategy_rounding"]
    assert rounding["rounded_down_to_lot_step"] == [{"symbol": "BTC/EUR", "side": "buy", "quantity": 0.012, "wanted": pytest.approx(500 / 41_000)}]
    (skipped,) = [e.extra for e in events if e.kind == "strategy_skipped"]  # the second quote: less than one lot step to go
    assert "less than one lot step" in skipped["not_traded"][0]["reason"]
    assert [round(o.quantity, 10) for o in pipeline.executor.received] == [0.012]


def test_a_quiet_strategy_on_a_flowing_feed_keeps_the_run_alive_between_batches(pipeline):
    from peaktrade_core.strategy import StrategyDriver

    class Quiet:
        def on_quote(self, quote):
            return None

    beats = []
    heartbeat = pipeline.runlog.heartbeat
    pipeline.runlog.heartbeat = lambda run_id: (beats.append(run_id), heartbeat(run_id))
    now = [0.0]

    def clock():
        now[0] += 7.0  # every look at the clock: 7 s later
        return now[0]

    driver = StrategyDriver(pipeline, Quiet(), name="quiet", clock=clock)
    assert driver.keepalive_seconds == 20.0  # a third of the default 60 s dead man's switch
    summary = pipeline.run((), batches=driver.batches(quotes([41_000] * 12)))
    assert summary.batches == 0 and len(beats) >= 3 and set(beats) == {summary.run_id}


@settings(max_examples=40, deadline=None)
@given(
    step=st.sampled_from([0.001, 0.01, 0.5]),
    targets=st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=12),
)
def test_through_the_pipeline_the_position_follows_the_targets_within_one_lot_step_and_every_order_fits(step, targets):
    rules = InstrumentRules("BTC/EUR", lot_step=step, min_quantity=step)
    config = PeakTradeConfig(live_risk=LiveRiskConfig(**OFF))
    executor = FillingExecutor()
    p = ExecutionPipeline(config, store=StateStore(":memory:"), executor=executor, record=False)
    wanted = iter(targets)
    after = []

    class Follows:
        def start(self, context):
            self.context = context

        def on_quote(self, quote):
            after.append(self.context.position("BTC/EUR"))  # what the previous quote's batch left
            self.target = next(wanted)
            return self.context.target_position("BTC/EUR", self.target)

    strategy = Follows()
    run_strategy(p, strategy, quotes([40_000.0] * len(targets)), rules={"BTC/EUR": rules})
    after.append(p.portfolio.positions.get("BTC/EUR", 0.0))
    for target, position in zip(targets, after[1:], strict=True):
        assert abs(position - target) < step * (1 + 1e-9)
    for order in executor.received:
        assert rules.problems(order) == []


def test_sigterm_while_the_feed_waits_for_its_next_quote_closes_it_and_the_run_ends_interrupted(pipeline):
    import os
    import signal
    import threading

    from peaktrade_core.cli_session import run_pipeline
    from peaktrade_core.strategy import StrategyDriver

    class WaitingFeed:
        """One quote, then waits (as a quiet venue does) until closed."""

        name = "waiting"

        def __init__(self):
            self.closed = threading.Event()

        def __iter__(self):
            yield Quote("BTC/EUR", 41_000.0, T0)
            os.kill(os.getpid(), signal.SIGTERM)  # the supervisor's stop, while we wait
            assert self.closed.wait(120), "SIGTERM did not close the feed"

        def close(self):
            self.closed.set()

    class Once:
        def on_quote(self, quote):
            return [OrderIntent(quote.symbol, "buy", 0.01)]

        def stop(self):
            return [OrderIntent("BTC/EUR", "sell", 0.01)]  # not sent: the session was stopped

    feed = WaitingFeed()
    driver = StrategyDriver(pipeline, Once(), name="once")
    summary = run_pipeline(pipeline, (), on_stop=feed.close, batches=driver.batches(feed))
    assert summary.status == "interrupted" and summary.interrupted_by == "SIGTERM"
    assert [o.side.value for o in pipeline.executor.received] == ["buy"]
    end = [e.extra for e in iter_run_events(pipeline.store, summary.run_id) if e.kind == "strategy_end"]
    assert end == [{"quotes": 1, "orders": 1, "feed_ended": False, "final_intents": 1}]


def test_an_on_bar_strategy_gets_each_complete_bar_and_its_orders_are_priced_at_the_close(pipeline):
    class Bars:
        bar_seconds = 180

        def __init__(self):
            self.bars = []

        def on_bar(self, bar):
            self.bars.append(bar)
            return [OrderIntent(bar.symbol, "buy", 0.01)]

    strategy = Bars()
    summary = run_strategy(pipeline, strategy, quotes([100, 105, 99, 101, 110, 108, 120]))
    assert [(b.start - T0, b.open, b.high, b.low, b.close, b.quotes) for b in strategy.bars] == [
        (0, 100, 105, 99, 99, 3), (180, 101, 110, 101, 108, 3), (360, 120, 120, 120, 120, 1)  # the last: the feed ended
    ]
    assert [o.reference_price for o in pipeline.executor.received] == [99, 108, 120]
    assert [o.source_ref for o in pipeline.executor.received] == ["BTC/EUR@2025-01-01T00:03:00Z", "BTC/EUR@2025-01-01T00:06:00Z", "BTC/EUR@2025-01-01T00:09:00Z"]
    assert summary.orders == 3 and summary.status == "finished"


def test_an_on_bar_strategy_without_a_bar_length_is_refused_before_the_run(pipeline):
    from peaktrade_core.strategy import StrategyLoadError

    class NoLength:
        def on_bar(self, bar):
            return None

    with pytest.raises(StrategyLoadError, match="on_bar needs bar_seconds, a number of seconds above 0"):
        run_strategy(pipeline, NoLength(), quotes([100]))
    assert pipeline.run_id is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 4e9, allow_nan=False), min_size=1, max_size=20).flatmap(lambda ats: st.permutations(ats + [a + 0.5 for a in ats])))
def test_a_quote_is_named_by_its_second_whatever_came_before(ats):
    """Orders and failures name the quote's time to the second; the text is made once per
    second, so a quote of the same second, or of another one in between, must not get a
    stale text."""
    from datetime import UTC, datetime

    from peaktrade_core.strategy import _iso

    for at in ats:
        assert _iso(at) == datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
