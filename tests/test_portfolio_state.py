"""PortfolioState PnL and the calendar day; LivePortfolioMonitor snapshots."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core.portfolio import LivePortfolioMonitor
from peaktrade_core.risk import NonFiniteAccountingError, PortfolioState


def test_long_round_trip_with_fees():
    p = PortfolioState(cash=1000.0, starting_equity=1000.0)
    p.apply_fill("BTC/EUR", 2.0, 100.0, 1.0)
    p.update_prices({"BTC/EUR": 110.0})
    assert (p.unrealized_pnl(), p.realized_pnl, p.equity()) == (20.0, -1.0, 1019.0)
    p.apply_fill("BTC/EUR", -2.0, 120.0, 1.0)
    assert (p.realized_pnl, p.positions, p.cash, p.fees_paid) == (38.0, {}, 1038.0, 2.0)


def test_short_gains_when_price_falls():
    p = PortfolioState(cash=1000.0)
    p.apply_fill("ETH/EUR", -3.0, 100.0, 0.0)
    p.update_prices({"ETH/EUR": 90.0})
    assert (p.unrealized_pnl(), p.exposure("ETH/EUR")) == (30.0, 270.0)
    p.apply_fill("ETH/EUR", 1.0, 90.0, 0.0)
    assert (p.realized_pnl, p.positions["ETH/EUR"], p.average_prices["ETH/EUR"]) == (
        10.0,
        -2.0,
        100.0,
    )


def test_flip_realizes_the_closed_part_and_opens_at_the_fill_price():
    p = PortfolioState()
    p.apply_fill("BTC/EUR", 2.0, 100.0, 0.0)
    p.apply_fill("BTC/EUR", -5.0, 120.0, 0.0)
    assert (p.realized_pnl, p.positions["BTC/EUR"], p.average_prices["BTC/EUR"]) == (
        40.0,
        -3.0,
        120.0,
    )


def test_adding_averages_the_entry_price():
    p = PortfolioState()
    p.apply_fill("BTC/EUR", 1.0, 100.0, 0.0)
    p.apply_fill("BTC/EUR", 3.0, 200.0, 0.0)
    assert p.average_prices["BTC/EUR"] == 175.0


def test_roll_day_rebases_daily_pnl_at_local_midnight():
    zone = ZoneInfo("Europe/Berlin")
    p = PortfolioState(cash=1000.0, starting_equity=1000.0)
    morning = datetime(2025, 3, 29, 9, 0, tzinfo=zone).timestamp()
    assert p.roll_day(morning, "Europe/Berlin") is True and p.day == "2025-03-29"
    p.apply_fill("BTC/EUR", 1.0, 100.0, 0.0)
    p.update_prices({"BTC/EUR": 80.0})
    assert p.daily_pnl() == -20.0
    assert (
        p.roll_day(datetime(2025, 3, 29, 23, 59, tzinfo=zone).timestamp(), "Europe/Berlin") is False
    )
    # the night the clocks go forward: the day still ends at local midnight
    assert p.day_ends_at == datetime(2025, 3, 30, 0, 0, tzinfo=zone).timestamp()
    assert p.roll_day(datetime(2025, 3, 30, 0, 0, 1, tzinfo=zone).timestamp(), zone) is True
    assert (p.day, p.daily_pnl(), p.day_start_equity) == ("2025-03-30", 0.0, 980.0)


@settings(max_examples=60)
@given(st.lists(st.floats(min_value=0.0, max_value=4.1e9, allow_nan=False), min_size=1, max_size=6))
def test_the_utc_day_without_the_zone_database_is_the_zone_database_utc_day(times):
    """``UTC`` is the fixed zone (no zone database, no zoneinfo import at start-up): the
    days it rolls, their names and their ends equal those of the database's UTC."""
    fixed, database = PortfolioState(cash=1000.0), PortfolioState(cash=1000.0)
    for now in sorted(times):
        assert fixed.roll_day(now, "UTC") == database.roll_day(now, ZoneInfo("UTC"))
        assert (fixed.day, fixed.day_ends_at) == (database.day, database.day_ends_at)


def test_snapshot_from_state():
    p = PortfolioState(cash=1000.0, starting_equity=1000.0)
    p.roll_day(0.0)
    p.apply_fill("BTC/EUR", 2.0, 100.0, 0.0)
    p.apply_fill("ETH/EUR", -1.0, 50.0, 0.0)
    snap = LivePortfolioMonitor(p, prices={"BTC/EUR": 110.0}, clock=lambda: 0.0).snapshot()
    btc, eth = snap.positions
    assert (btc.side, eth.side, eth.size) == ("long", "short", -1.0)
    assert snap.exposure_by_symbol == {"BTC/EUR": 220.0, "ETH/EUR": 50.0}
    assert (snap.total_exposure, snap.open_positions, snap.unrealized_pnl, snap.daily_pnl) == (
        270.0,
        2,
        20.0,
        20.0,
    )
    assert snap.equity == p.cash + 220.0 - 50.0
    data = snap.to_dict()
    assert data["positions"][1]["side"] == "short" and data["as_of"] == "1970-01-01T00:00:00+00:00"


class TinyVenue:
    """A real ExchangeClient implementation, answering from memory."""

    name, testnet, validate_only, endpoint = "tiny", True, False, "inproc://tiny"

    def ping(self):
        return {}

    def server_time(self):
        return 0.0

    def instrument_rules(self, symbol):
        return None

    def submit_order(self, order):
        return {}

    def cancel_order(self, client_order_id, symbol):
        return False

    def cancel_all(self, symbol=None):
        return 0

    def fetch_open_orders(self, symbol=None):
        return []

    def fetch_order(self, client_order_id, symbol):
        return None

    def fetch_positions(self):
        return {"BTC/EUR": 0.5, "ETH/EUR": -2.0, "DOGE/EUR": 0.0}

    def fetch_balances(self):
        return {"EUR": 750.0, "BTC": 0.5}


def test_snapshot_from_an_exchange_client():
    snap = LivePortfolioMonitor(TinyVenue(), prices={"BTC/EUR": 100.0}).snapshot()
    assert [(p.symbol, p.side) for p in snap.positions] == [
        ("BTC/EUR", "long"),
        ("ETH/EUR", "short"),
    ]
    assert (snap.cash, snap.balances, snap.source) == (750.0, {"BTC": 0.5}, "exchange:tiny")
    assert snap.unpriced == ("ETH/EUR",) and snap.total_exposure == 50.0
    assert snap.unrealized_pnl is None  # a venue reports no entry prices


def test_monitor_rejects_other_sources():
    with pytest.raises(TypeError):
        LivePortfolioMonitor({"BTC/EUR": 1.0})


_any_float = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.sampled_from([1e308, -1e308, 1e200, 1e155]),
)


@settings(max_examples=150, deadline=None)
@given(fills=st.lists(st.tuples(st.sampled_from(["BTC/EUR", "ETH/EUR"]), _any_float, _any_float, _any_float), max_size=12))
def test_no_fill_ever_puts_a_non_finite_number_into_the_accounts(fills):
    """The issue's 1e308 fill left cash and PnL NaN. Whatever fills arrive, each one is
    either accounted with every number finite, or refused with nothing changed."""
    p = PortfolioState(cash=100_000.0, starting_equity=100_000.0)
    for symbol, qty, price, fee in fills:
        if qty == 0 or not price > 0:
            continue  # not fills an executor produces (OrderRequest quantities are > 0)
        before = (p.cash, p.realized_pnl, p.fees_paid, dict(p.positions), dict(p.average_prices), dict(p.last_prices))
        try:
            p.apply_fill(symbol, qty, price, fee)
        except NonFiniteAccountingError:
            assert (p.cash, p.realized_pnl, p.fees_paid, dict(p.positions), dict(p.average_prices), dict(p.last_prices)) == before
            continue
        numbers = [p.cash, p.realized_pnl, p.fees_paid, *p.positions.values(), *p.average_prices.values(), *p.last_prices.values()]
        assert all(math.isfinite(x) for x in numbers)
        assert math.isfinite(p.equity())


def test_a_non_finite_price_update_is_refused_whole():
    p = PortfolioState()
    with pytest.raises(ValueError, match="finite"):
        p.update_prices({"BTC/EUR": 100.0, "ETH/EUR": math.inf})
    assert p.last_prices == {}
