"""Quotes, the core's last prices, and recorded feeds (CSV and JSONL): what a replay and the
stale-data check rely on."""

from __future__ import annotations

import math
import threading

import pytest
from attrs import field, frozen
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core.marketdata import (
    Feed,
    FeedError,
    LastPrices,
    Quote,
    RecordedFeed,
    open_feed,
    open_recorded_feed,
    write_recorded_feed,
)


def q(symbol="BTC/EUR", price=40_000.0, at=1_000.0, **kw) -> Quote:
    return Quote(symbol, price, at, **kw)


# -- Quote -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"price": 0.0}, "price"),
        ({"price": -1.0}, "price"),
        ({"price": math.nan}, "price"),
        ({"price": math.inf}, "price"),
        ({"at": math.nan}, "at"),
        ({"at": -1.0}, "at"),
        ({"bid": 0.0}, "bid"),
        ({"ask": math.inf}, "ask"),
        ({"volume": -1.0}, "volume"),
        ({"symbol": " "}, "symbol"),
    ],
)
def test_a_quote_that_could_not_be_a_price_is_refused(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        q(**kwargs)


def _finite_positive(name):
    def check(_instance, _attribute, value):
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number above 0, got {value!r}")

    return check


def _finite_time(_instance, _attribute, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"at must be epoch seconds (a finite number >= 0), got {value!r}")


def _nonnegative_volume(_instance, _attribute, value):
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"volume must be a finite number >= 0, got {value!r}")


def _symbol(_instance, _attribute, value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError("symbol must be a non-empty string")


@frozen
class PerFieldQuote:
    """``Quote`` as it was defined before: a validator per field."""

    symbol: str = field(validator=_symbol)
    price: float = field(validator=_finite_positive("price"))
    at: float = field(validator=_finite_time)
    bid: float | None = field(default=None, validator=_finite_positive("bid"))
    ask: float | None = field(default=None, validator=_finite_positive("ask"))
    volume: float | None = field(default=None, validator=_nonnegative_volume)


QUOTE_NUMBERS = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-2, 2),
    st.sampled_from([0.0, -0.0, 5e-324, -1.0, math.inf, -math.inf, math.nan, True, False, "1.5", 1 << 1100]),
)


def _made(build, values):
    try:
        quote = build(**values)
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return ("raised", type(exc), str(exc))
    return ("made", [(type(v), repr(v)) for v in (quote.symbol, quote.price, quote.at, quote.bid, quote.ask, quote.volume)])


QUOTE_SYMBOLS = st.one_of(st.sampled_from(["BTC/EUR", "", " ", "\t"]), st.none(), st.integers(0, 1))
ANY_QUOTE = st.fixed_dictionaries({"symbol": QUOTE_SYMBOLS, **{name: QUOTE_NUMBERS for name in ("price", "at", "bid", "ask", "volume")}})


EDGES = [None, 0.0, -0.0, 5e-324, -1.0, 2, 0, math.inf, -math.inf, math.nan, True, False, "1.5", "", " ", 1 << 1100]


@settings(max_examples=800, deadline=None)
@given(values=ANY_QUOTE)
def test_a_quote_accepts_and_refuses_what_the_per_field_definition_did(values):
    """Quote checks in one call per quote: the same quotes made, the same first error."""
    assert _made(Quote, values) == _made(PerFieldQuote, values)


@pytest.mark.parametrize("edge", EDGES, ids=repr)
@pytest.mark.parametrize("name", ["symbol", "price", "at", "bid", "ask", "volume"])
def test_each_field_of_a_good_quote_meets_each_edge_case_as_before(name, edge):
    """Every field behind good ones (which random quotes seldom reach), every edge case."""
    values = {"symbol": "BTC/EUR", "price": 1.5, "at": 1.0, "bid": 1.0, "ask": 2.0, "volume": 3.0, name: edge}
    assert _made(Quote, values) == _made(PerFieldQuote, values)


# -- LastPrices ------------------------------------------------------------------------------


def test_last_prices_keep_the_newest_quote_per_symbol():
    prices = LastPrices()
    assert prices.get("BTC/EUR") is None
    prices.update(q(price=1.0, at=10.0))
    prices.update(q("ETH/EUR", price=2.0, at=11.0))
    prices.update(q(price=3.0, at=12.0))
    assert prices.get("BTC/EUR") == q(price=3.0, at=12.0)
    assert prices.prices() == {"BTC/EUR": 3.0, "ETH/EUR": 2.0}
    assert prices.times() == {"BTC/EUR": 12.0, "ETH/EUR": 11.0}
    assert prices.age("BTC/EUR", now=15.0) == 3.0
    assert prices.age("XRP/EUR", now=15.0) is None


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["A", "B"]), st.floats(1, 1e6), st.floats(0, 1e9)), min_size=1, max_size=30))
def test_a_late_quote_never_makes_a_price_look_fresher_or_older(updates):
    """Whatever order quotes arrive in, each symbol keeps its newest quote: the stale-data
    check sees the true age of the newest price."""
    prices = LastPrices()
    for symbol, price, at in updates:
        prices.update(Quote(symbol, price, at))
    for symbol in {s for s, _, _ in updates}:
        newest = max(at for s, _, at in updates if s == symbol)
        assert prices.get(symbol).at == newest


# -- recorded feeds --------------------------------------------------------------------------

CSV = """# a recorded feed
at,symbol,price,bid,ask,volume
1700000000.0,BTC/EUR,40000.5,40000,40001,1.5
1700000001.0,ETH/EUR,2000,,,

1700000002.5,BTC/EUR,40010,,,
"""


def test_a_csv_recording_replays_every_quote_in_order(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text(CSV)
    feed = open_recorded_feed(path)
    assert isinstance(feed, Feed)
    assert list(feed) == [
        Quote("BTC/EUR", 40000.5, 1700000000.0, bid=40000.0, ask=40001.0, volume=1.5),
        Quote("ETH/EUR", 2000.0, 1700000001.0),
        Quote("BTC/EUR", 40010.0, 1700000002.5),
    ]
    assert list(feed) == list(open_recorded_feed(path))  # replayable


def test_a_jsonl_recording_replays_every_quote_in_order(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text('{"at": 5, "symbol": "BTC/EUR", "price": 1.5, "bid": 1.4}\n\n{"at": 6, "symbol": "BTC/EUR", "price": "1.6"}\n')
    assert list(open_recorded_feed(path)) == [Quote("BTC/EUR", 1.5, 5.0, bid=1.4), Quote("BTC/EUR", 1.6, 6.0)]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_written_quotes_replay_exactly(tmp_path, suffix):
    quotes = [
        Quote("BTC/EUR", 40000.123456789, 1700000000.25, bid=40000.1, ask=40000.2, volume=0.001),
        Quote("ETH/EUR", 0.1 + 0.2, 1700000000.5),
    ]
    path = tmp_path / f"rec{suffix}"
    assert write_recorded_feed(path, quotes) == 2
    assert list(open_recorded_feed(path)) == quotes


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("f.csv", "", "f.csv: empty file"),
        ("f.csv", "at,symbol,cost\n", "f.csv:1: 'cost': unknown column"),
        ("f.csv", "at,symbol\n", "f.csv:1: missing column 'price'"),
        ("f.csv", "at,symbol,price\n1,BTC/EUR,abc\n", "f.csv:2: price: not a number: 'abc'"),
        ("f.csv", "at,symbol,price\n1,BTC/EUR,0\n", "f.csv:2: price must be a finite number above 0"),
        ("f.csv", "at,symbol,price\n1,BTC/EUR,1,2\n", "f.csv:2: 4 fields, the header has 3"),
        ("f.csv", "at,symbol,price\n2,BTC/EUR,1\n1,BTC/EUR,1\n", "f.csv:3: at: 1.0 is earlier than the line before"),
        ("f.jsonl", '{"at": 1, "symbol": "X", "price": 1}\n{"at": 2\n', "f.jsonl:2: not JSON"),
        ("f.jsonl", "[1, 2]\n", "f.jsonl:1: expected one JSON object per line"),
        ("f.jsonl", '{"at": 1, "price": 1}\n', "f.jsonl:1: symbol: missing"),
        ("f.jsonl", '{"at": 1, "symbol": "X", "price": 1, "px": 2}\n', "f.jsonl:1: px: unknown field"),
        ("f.jsonl", '{"at": 1, "symbol": "X", "price": NaN}\n', "f.jsonl:1: price must be a finite number"),
        ("f.txt", "", "f.txt: unknown recorded-feed format '.txt'"),
    ],
)
def test_a_bad_recording_is_refused_before_the_first_quote_with_one_line(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(FeedError) as caught:
        open_recorded_feed(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.removeprefix(str(tmp_path) + "/").startswith(expected), message


def test_a_missing_recording_is_one_line(tmp_path):
    with pytest.raises(FeedError, match=r"nope\.csv: cannot read"):
        open_recorded_feed(tmp_path / "nope.csv")


def test_replay_speed_waits_the_recorded_gaps_scaled(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text("at,symbol,price\n10,A,1\n12,A,1\n12,B,1\n18,A,1\n")
    waits: list[float] = []
    feed = RecordedFeed(path, speed=2.0, sleep=waits.append)
    assert len(list(feed)) == 4
    assert waits == [1.0, 3.0]
    assert list(RecordedFeed(path, speed=0.0, sleep=waits.append)) and waits == [1.0, 3.0]


def test_closing_a_replay_ends_the_iteration(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text("at,symbol,price\n" + "".join(f"{i},A,1\n" for i in range(100)))
    feed = open_recorded_feed(path)
    seen = []
    for quote in feed:
        seen.append(quote)
        if len(seen) == 3:
            feed.close()
    assert len(seen) == 3


def test_closing_a_real_time_replay_wakes_it_up(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text("at,symbol,price\n0,A,1\n100000,A,1\n")
    feed = open_recorded_feed(path, speed=1.0)
    seen: list[Quote] = []
    reader = threading.Thread(target=lambda: seen.extend(feed))
    reader.start()
    while not seen:
        reader.join(0.01)
    feed.close()
    reader.join(60)
    assert not reader.is_alive() and len(seen) == 1


def test_open_feed_takes_a_recorded_file_by_path(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text('{"at": 1, "symbol": "A", "price": 1}\n')
    assert [x.symbol for x in open_feed(None, None, source=str(path))] == ["A"]
    with pytest.raises(FeedError, match="no market-data source"):
        open_feed(None, None)


# -- the pipeline ----------------------------------------------------------------------------


def test_a_quote_gives_the_pipeline_its_price_and_time():
    from peaktrade_core.config import PeakTradeConfig
    from peaktrade_core.pipeline import ExecutionPipeline
    from peaktrade_core.state import StateStore
    from peaktrade_core.testing import FillingExecutor

    p = ExecutionPipeline(PeakTradeConfig(), store=StateStore(":memory:"), executor=FillingExecutor(), record=False)
    p.on_quote(q(price=41_000.0, at=50.0))
    p.on_quote(q(price=39_000.0, at=40.0))  # late: ignored
    assert p.reference_times["BTC/EUR"] == 50.0
    assert p.portfolio.last_prices["BTC/EUR"] == 41_000.0
    assert p.last_quotes.get("BTC/EUR").price == 41_000.0


# -- the documented example --------------------------------------------------------------------


def test_the_example_recording_in_the_docs_is_the_file_and_replays():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    example = root / "examples" / "feeds" / "btc_eth_eur.csv"
    doc = (root / "docs" / "marketdata.md").read_text()
    shown = doc.split("`examples/feeds/btc_eth_eur.csv`:\n\n```csv\n", 1)[1].split("```", 1)[0]
    assert shown == example.read_text()
    quotes = list(open_recorded_feed(example))
    assert len(quotes) == 6 and {q.symbol for q in quotes} == {"BTC/EUR", "ETH/EUR"}
    assert quotes[3] == Quote("ETH/EUR", 2251.0, 1767225601.0)
    assert quotes[0] == Quote("BTC/EUR", 42000.5, 1767225600.0, bid=42000.0, ask=42001.0, volume=12.5)


CELLS = ["1.5", " 2 ", "0", "-1", "nan", "inf", "1e400", "1_000", "abc", "", " ", "\u0661", "BTC/EUR", "1767225600.25"]


@settings(max_examples=600, deadline=None)
@given(
    header=st.permutations(["at", "symbol", "price", "bid", "ask", "volume"]).flatmap(
        lambda columns: st.sets(st.sampled_from(["bid", "ask", "volume"])).map(lambda dropped: [c for c in columns if c not in dropped])
    ),
    data=st.data(),
)
def test_a_recorded_csv_row_gives_the_quote_or_the_error_of_the_cell_by_cell_reading(header, data):
    """The row's quote is read at the cells' places, with the cell-by-cell reading (which
    names the first bad cell) only for a row that is not a good one: both give the same."""
    from peaktrade_core.marketdata import _QUOTE_FIELDS, _CsvRow

    row = [data.draw(st.sampled_from(CELLS) | st.floats(0.001, 1e9).map(repr)) for _ in header]
    plan = tuple(header.index(name) if name in header else None for name in _QUOTE_FIELDS)
    record = _CsvRow(header, plan, row)
    assert _made(lambda **_: record.quote(), {}) == _made(lambda **_: record._checked(), {})
