"""Venue feeds through the ``open_market_feed`` hook: the loopback venue's ticker feed, a feed
that stops (orders blocked as stale, resumed when it returns) and feed plugins that fail or
hang (quotes stop; nothing crashes, nothing is sent)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core import hookimpl
from peaktrade_core.config import PeakTradeConfig
from peaktrade_core.marketdata import (
    FeedError,
    GuardedFeed,
    PollingFeed,
    Quote,
    open_feed,
    open_recorded_feed,
)
from peaktrade_core.orders import OrderRequest, OrderStatus
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.plugins import get_plugin_manager
from peaktrade_core.risk import LiveRiskConfig
from peaktrade_core.state import StateStore
from peaktrade_core.testing import FillingExecutor, next_quote_where, registered_plugin
from peaktrade_core.testing.loopback import LoopbackSettings, LoopbackVenue, LoopbackVenuePlugin

OFF = dict(max_orders_per_second=0, max_orders_per_minute=0, duplicate_window_seconds=0, runaway_max_executions=0)


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def venue():
    clock = Clock()
    with LoopbackVenue() as venue:
        venue.clock = clock
        yield venue


@pytest.fixture
def loopback_plugin():
    with registered_plugin(LoopbackVenuePlugin(), "loopback"):
        yield


def config_for(venue: LoopbackVenue, **risk) -> PeakTradeConfig:
    settings = LoopbackSettings(base_url=venue.url, feed_interval_seconds=0.01)
    return PeakTradeConfig(plugins={"loopback": settings}, live_risk=LiveRiskConfig(**{**OFF, **risk}))


def test_the_loopback_venue_serves_its_ticker_as_a_feed(venue, loopback_plugin):
    venue.set_price("BTC/EUR", 41_000.0, spread=2.0)
    feed = open_feed(config_for(venue), get_plugin_manager(), source="loopback", symbols=["BTC/EUR", "ETH/EUR"])
    try:
        assert isinstance(feed, GuardedFeed)
        seen = {}
        while len(seen) < 2:
            quote = next_quote_where(feed, lambda q: True)
            seen[quote.symbol] = quote
        assert seen["BTC/EUR"] == Quote("BTC/EUR", 41_000.0, venue.clock.now, bid=40_999.0, ask=41_001.0)
        assert seen["ETH/EUR"].price == 2_000.0
        venue.set_price("BTC/EUR", 42_000.0)
        assert next_quote_where(feed, lambda q: q.symbol == "BTC/EUR" and q.price == 42_000.0)
    finally:
        feed.close()
    assert venue.orders() == []  # a feed reads; it never places anything


def test_a_feed_that_stops_blocks_orders_as_stale_and_they_resume_when_it_returns(venue, loopback_plugin):
    """Time is the pipeline's clock (the venue stamps its ticker with the same clock): the
    order is judged by how old the last quote is, never by how long the test waited."""
    clock = venue.clock
    config = config_for(venue, max_reference_age_seconds=5.0)
    executor = FillingExecutor()
    pipeline = ExecutionPipeline(config, store=StateStore(":memory:"), executor=executor, record=False, clock=clock)
    feed = open_feed(config, get_plugin_manager(), source="loopback", symbols=["BTC/EUR"])
    order = lambda ref: OrderRequest("BTC/EUR", "buy", 0.001, source_ref=ref)  # noqa: E731
    try:
        pipeline.on_quote(next_quote_where(feed, lambda q: True))
        assert pipeline.process_batch([order("fresh")])[0].status is OrderStatus.FILLED

        venue.market_data_down = True  # the venue stops answering its ticker
        clock.now += 4.0
        assert pipeline.process_batch([order("still fresh")])[0].status is OrderStatus.FILLED
        clock.now += 2.0  # 6 s since the last quote: over the 5 s limit
        while (quote := feed.next_quote(timeout=0.05)) is not None:  # polled before the outage
            pipeline.on_quote(quote)
        stale = pipeline.process_batch([order("stale")])[0]
        assert stale.status is OrderStatus.RISK_BLOCKED
        assert stale.reasons[0].startswith("stale_reference_price"), stale.reasons
        assert "6.0s old > limit 5s" in stale.reasons[0]
        assert [o.source_ref for o in executor.received] == ["fresh", "still fresh"]

        venue.market_data_down = False  # it answers again
        pipeline.on_quote(next_quote_where(feed, lambda q: q.at == clock.now))
        assert pipeline.process_batch([order("resumed")])[0].status is OrderStatus.FILLED
        assert [o.source_ref for o in executor.received] == ["fresh", "still fresh", "resumed"]
    finally:
        feed.close()


def test_without_any_quote_orders_are_stale_blocked():
    config = PeakTradeConfig(live_risk=LiveRiskConfig(**OFF, max_reference_age_seconds=5.0))
    pipeline = ExecutionPipeline(config, store=StateStore(":memory:"), executor=FillingExecutor(), record=False)
    result = pipeline.process_batch([OrderRequest("BTC/EUR", "buy", 0.001, reference_price=1.0)])[0]
    assert result.status is OrderStatus.RISK_BLOCKED and pipeline.executor.received == []


# -- plugins that fail -----------------------------------------------------------------------


class _Venue:
    def __init__(self, feed):
        self.feed = feed

    @hookimpl
    def exchange_venues(self):
        return ["zz"]

    @hookimpl
    def open_market_feed(self, venue, symbols):
        if isinstance(self.feed, Exception):
            raise self.feed
        return self.feed() if callable(self.feed) and not hasattr(self.feed, "close") else self.feed


class _Iterating:
    """A feed whose iterator runs ``body``."""

    name = "zz:test"

    def __init__(self, body):
        self.body = body
        self.closed = threading.Event()

    def __iter__(self):
        return self.body(self)

    def close(self):
        self.closed.set()


def _open(feed) -> GuardedFeed:
    with registered_plugin(_Venue(feed), "zz-venue"):
        return open_feed(PeakTradeConfig(), get_plugin_manager(), source="zz", symbols=["BTC/EUR"])


def test_a_feed_whose_iterator_raises_ends_its_quotes_only():
    def body(_feed):
        yield Quote("BTC/EUR", 1.0, 1.0)
        raise ConnectionError("socket closed\nwith detail")

    feed = _open(_Iterating(body))
    assert list(feed) == [Quote("BTC/EUR", 1.0, 1.0)]
    assert feed.error == "plugin zz-venue: market-data feed failed: ConnectionError: socket closed"


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ({"symbol": "BTC/EUR", "price": 1.0}, "yielded dict, not a Quote"),
        (Quote("XRP/EUR", 1.0, 1.0), "yielded a quote of 'XRP/EUR', which was not asked for"),
    ],
)
def test_a_feed_that_yields_garbage_ends_before_the_garbage_reaches_anyone(item, why):
    feed = _open(_Iterating(lambda _f: iter([Quote("BTC/EUR", 1.0, 1.0), item, Quote("BTC/EUR", 2.0, 2.0)])))
    assert list(feed) == [Quote("BTC/EUR", 1.0, 1.0)]
    assert feed.error == f"plugin zz-venue: market-data feed {why}"


def test_a_hanging_feed_gives_no_quote_and_closes_without_waiting_for_the_plugin():
    release = threading.Event()

    def body(_feed):
        release.wait(120)  # hangs (released at the end so no thread outlives the test long)
        yield Quote("BTC/EUR", 1.0, 1.0)

    hanging = _Iterating(body)
    hanging.close = lambda: release.wait(120)  # its close() hangs too
    feed = _open(hanging)
    try:
        assert feed.next_quote(timeout=0.2) is None
        assert not feed.ended
        feed.close()  # returns at once although the plugin's close() hangs
        assert feed.ended and feed.next_quote(timeout=0.2) is None and list(feed) == []
    finally:
        release.set()


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        (RuntimeError("no route"), "plugin zz-venue: open_market_feed for venue 'zz' failed: RuntimeError: no route"),
        (None, "plugin zz-venue offers no market-data feed for venue 'zz'"),
        (42, "plugin zz-venue: open_market_feed for venue 'zz' returned int, not a feed"),
    ],
)
def test_a_feed_that_cannot_open_is_one_line_naming_the_plugin(feed, message):
    with pytest.raises(FeedError) as caught:
        _open(feed)
    assert str(caught.value) == message


def test_a_source_that_is_neither_file_nor_venue_is_one_line():
    with pytest.raises(FeedError, match=r"^market-data source 'nowhere': not a recorded file .* \(installed venues: none\)$"):
        open_feed(PeakTradeConfig(), get_plugin_manager(), source="nowhere", symbols=["BTC/EUR"])
    with pytest.raises(FeedError, match="no symbols to quote"):
        open_feed(PeakTradeConfig(), get_plugin_manager(), source="nowhere")


# -- the polling helper ----------------------------------------------------------------------


def test_a_failed_poll_is_no_quote_and_the_next_poll_tries_again():
    answers = [ConnectionError("down"), [Quote("A", 1.0, 1.0)]]

    def fetch(symbols):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    feed = PollingFeed("t", fetch, ["A"], interval=0)
    assert feed.poll() == [] and feed.failures == 1 and feed.last_error == "ConnectionError: down"
    assert feed.poll() == [Quote("A", 1.0, 1.0)] and feed.failures == 0


# -- the stale check on quotes, as a property ------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    times=st.lists(st.floats(0, 1_000), min_size=1, max_size=8),
    now=st.floats(0, 1_000),
    max_age=st.floats(0.5, 100),
)
def test_an_order_passes_only_while_the_newest_quote_is_within_the_age(times, now, max_age):
    """Whatever order quotes arrive in, and even stamped after the pipeline's now (a skewed
    venue clock), an order passes exactly when the newest quote, counted at most as of now,
    is no older than the limit."""
    clock = Clock(now)
    config = PeakTradeConfig(live_risk=LiveRiskConfig(**OFF, max_reference_age_seconds=max_age))
    executor = FillingExecutor()
    pipeline = ExecutionPipeline(config, store=StateStore(":memory:"), executor=executor, record=False, clock=clock)
    for at in times:
        pipeline.on_quote(Quote("BTC/EUR", 100.0, at))
    newest = max(min(at, now) for at in times)
    result = pipeline.process_batch([OrderRequest("BTC/EUR", "buy", 0.001)])[0]
    assert (result.status is OrderStatus.FILLED) == (now - newest <= max_age)
    assert len(executor.received) == (1 if now - newest <= max_age else 0)


def test_recording_from_a_feed_that_breaks_keeps_its_quotes_and_exits_1(tmp_path):
    from click.testing import CliRunner

    from peaktrade_core.cli import cli

    def body(_feed):
        yield Quote("BTC/EUR", 1.0, 1.0)
        yield Quote("BTC/EUR", 2.0, 2.0)
        raise ConnectionError("socket closed")

    with registered_plugin(_Venue(_Iterating(body)), "zz-venue"):
        done = CliRunner().invoke(cli, ["feed", "record", "--source", "zz", "--symbols", "BTC/EUR", "--output", "rec.csv",
                                         "--count", "10"])
    assert done.exit_code == 1
    assert done.stdout.strip() == "recorded 2 quote(s) of BTC/EUR from zz to rec.csv (the feed ended)"
    assert done.stderr.strip().splitlines()[-1] == "error: plugin zz-venue: market-data feed failed: ConnectionError: socket closed"
    assert [q.price for q in open_recorded_feed(tmp_path / "rec.csv")] == [1.0, 2.0]
