"""Market data: quotes, read-only feeds, the core's last prices, and recorded feeds.

A :class:`Feed` is an iterator of :class:`Quote` objects that blocks until the next quote
and ends when the feed ends (a recorded file) or is closed. Feeds never send anything: a
venue plugin offers one through the ``open_market_feed`` hook, a recorded file (CSV or
JSONL, one quote per line) replays one offline. :class:`LastPrices` keeps the newest quote
per symbol with its time; ``ExecutionPipeline.on_quote`` hands it to risk (stale data,
price collars) and to dry-run and shadow pricing. See docs/marketdata.md.
"""

from __future__ import annotations

import csv
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from attrs import frozen

#: columns of a recorded feed, in the order the recorder writes them
COLUMNS = ("at", "symbol", "price", "bid", "ask", "volume")
_REQUIRED = ("at", "symbol", "price")
_KNOWN = frozenset(COLUMNS)


class FeedError(Exception):
    """A feed cannot be opened or a recorded file is unusable (one line: file, line, problem)."""


def _not_a_number(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)


def _check_price(name: str, value: Any) -> None:
    if value is not None and (_not_a_number(value) or value <= 0):
        raise ValueError(f"{name} must be a finite number above 0, got {value!r}")


def _check_quote(symbol: Any, price: Any, at: Any, bid: Any, ask: Any, volume: Any) -> None:
    """:class:`Quote`'s checks, field by field in its order, in one call per quote (a feed
    makes one per price; a validator per field was most of the quote's cost). A float in
    range passes on one chained comparison (NaN and infinities fail it); anything else
    takes the full test."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError("symbol must be a non-empty string")
    if not (type(price) is float and 0.0 < price < _INF):
        _check_price("price", price)
    if not (type(at) is float and 0.0 <= at < _INF) and (_not_a_number(at) or at < 0):
        raise ValueError(f"at must be epoch seconds (a finite number >= 0), got {at!r}")
    if not (type(bid) is float and 0.0 < bid < _INF):
        _check_price("bid", bid)
    if not (type(ask) is float and 0.0 < ask < _INF):
        _check_price("ask", ask)
    if volume is not None and not (type(volume) is float and 0.0 <= volume < _INF) and (_not_a_number(volume) or volume < 0):
        raise ValueError(f"volume must be a finite number >= 0, got {volume!r}")


_INF = math.inf


@frozen
class Quote:
    """One price of one symbol at one time. ``price`` is the last trade or the mid.

    Checked when made: a non-empty ``symbol``; ``price``, ``bid`` and ``ask`` (each may be
    ``None``) finite and above 0; ``at`` finite epoch seconds >= 0; ``volume`` (or ``None``)
    finite and >= 0."""

    symbol: str
    price: float
    #: epoch seconds, the source's time (a venue without one: when the quote was received)
    at: float
    bid: float | None = None
    ask: float | None = None
    volume: float | None = None

    def __attrs_post_init__(self) -> None:
        _check_quote(self.symbol, self.price, self.at, self.bid, self.ask, self.volume)

    def to_dict(self) -> dict[str, Any]:
        """The quote as one recorded-feed record (absent optional fields left out)."""
        record = {"at": self.at, "symbol": self.symbol, "price": self.price}
        for name in ("bid", "ask", "volume"):
            value = getattr(self, name)
            if value is not None:
                record[name] = value
        return record


@runtime_checkable
class Feed(Protocol):
    """Read-only market data; iterating blocks until the next quote."""

    name: str

    def __iter__(self) -> Iterator[Quote]:
        """Quotes in order; ends when the feed ends (a recorded file) or after ``close()``."""
        ...

    def close(self) -> None:
        """Stop the feed; an iteration in progress ends. Safe to call twice."""
        ...


class LastPrices:
    """The core's last price per symbol with its time.

    A quote older than the one kept for its symbol is ignored: a late or replayed quote
    never makes a price look fresher than it is, nor older.
    """

    def __init__(self) -> None:
        self._quotes: dict[str, Quote] = {}

    def update(self, quote: Quote) -> bool:
        """Keep ``quote`` unless a newer one of its symbol is kept; True when kept."""
        kept = self._quotes.get(quote.symbol)
        if kept is not None and kept.at > quote.at:
            return False
        self._quotes[quote.symbol] = quote
        return True

    def get(self, symbol: str) -> Quote | None:
        """The newest quote of ``symbol``, or None."""
        return self._quotes.get(symbol)

    def age(self, symbol: str, now: float) -> float | None:
        """Seconds since the newest quote of ``symbol`` (None: never quoted)."""
        quote = self._quotes.get(symbol)
        return None if quote is None else max(0.0, now - quote.at)

    def prices(self) -> dict[str, float]:
        """symbol -> last price."""
        return {symbol: q.price for symbol, q in self._quotes.items()}

    def times(self) -> dict[str, float]:
        """symbol -> time of the last price."""
        return {symbol: q.at for symbol, q in self._quotes.items()}

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._quotes

    def __len__(self) -> int:
        return len(self._quotes)

    def __iter__(self) -> Iterator[Quote]:
        return iter(list(self._quotes.values()))


# -- recorded feeds ------------------------------------------------------------------------


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise FeedError(f"{path}: unknown recorded-feed format {suffix or '(no extension)'!r}; use .csv or .jsonl")


def _number(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name}: not a number: {value!r}")
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{name}: not a number: {value!r}") from None
    if isinstance(value, (int, float)):
        return float(value)
    raise ValueError(f"{name}: not a number: {value!r}")


def quote_from_record(record: Mapping[str, Any]) -> Quote:
    """A :class:`Quote` from one recorded record; ValueError names the field at fault."""
    if not _KNOWN.issuperset(record):
        unknown = sorted(set(record) - _KNOWN)
        raise ValueError(f"{unknown[0]}: unknown field; expected {', '.join(COLUMNS)}")
    for name in _REQUIRED:
        if record.get(name) in (None, ""):
            raise ValueError(f"{name}: missing")
    symbol = record["symbol"]
    if not isinstance(symbol, str):
        raise ValueError(f"symbol: not a string: {symbol!r}")
    values = {name: _number(record.get(name), name) for name in ("price", "at", "bid", "ask", "volume")}
    try:
        return Quote(symbol=symbol.strip(), **values)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None


def _records(path: Path, fmt: str) -> Iterator[tuple[int, Any]]:
    """(line number, record) of each data line (a JSON object, or a :class:`_CsvRow`);
    blank lines and ``#`` comments skipped."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise FeedError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        if fmt == "jsonl":
            for number, line in enumerate(handle, 1):
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise FeedError(f"{path}:{number}: not JSON: {exc.msg}") from None
                if not isinstance(record, dict):
                    raise FeedError(f"{path}:{number}: expected one JSON object per line")
                yield number, record
            return
        lines = ((n, line) for n, line in enumerate(handle, 1) if line.strip() and not line.lstrip().startswith("#"))
        first = next(lines, None)
        if first is None:
            raise FeedError(f"{path}: empty file, expected a header line ({','.join(COLUMNS)})")
        header_line, header_text = first
        header = [column.strip() for column in next(csv.reader([header_text]))]
        for column in header:
            if column not in COLUMNS:
                raise FeedError(f"{path}:{header_line}: {column!r}: unknown column; expected {', '.join(COLUMNS)}")
        missing = [column for column in _REQUIRED if column not in header]
        if missing:
            raise FeedError(f"{path}:{header_line}: missing column {missing[0]!r}")
        if len(set(header)) != len(header):
            raise FeedError(f"{path}:{header_line}: duplicate column")
        # where each of Quote's fields is in a row (None: not a column of this file)
        plan = tuple(header.index(name) if name in header else None for name in _QUOTE_FIELDS)
        for number, text in lines:
            # the recorder writes no quotes: split plainly, let csv read what has them
            row = next(csv.reader([text])) if '"' in text else text.rstrip("\r\n").split(",")
            if len(row) != len(header):
                raise FeedError(f"{path}:{number}: {len(row)} fields, the header has {len(header)}")
            yield number, _CsvRow(header, plan, row)


#: Quote's fields in the order of its constructor
_QUOTE_FIELDS = ("symbol", "price", "at", "bid", "ask", "volume")


class _CsvRow:
    """One CSV row: its quote is built straight from the cells (the header was checked)."""

    __slots__ = ("header", "plan", "row")

    def __init__(self, header: list[str], plan: tuple[int | None, ...], row: list[str]):
        self.header, self.plan, self.row = header, plan, row

    def quote(self) -> Quote:
        """The row's quote; a row that is not a good one gets the error :meth:`_checked`
        names (a row that is one gives the same quote either way)."""
        row = self.row
        symbol, price, at, bid, ask, volume = self.plan
        try:  # the usual row, cells read at their places
            b = "" if bid is None else row[bid].strip()
            a = "" if ask is None else row[ask].strip()
            v = "" if volume is None else row[volume].strip()
            return Quote(
                row[symbol].strip(),  # type: ignore[index]
                float(row[price].strip()),  # type: ignore[index]
                float(row[at].strip()),  # type: ignore[index]
                float(b) if b else None,
                float(a) if a else None,
                float(v) if v else None,
            )
        except (TypeError, ValueError):
            return self._checked()

    def _checked(self) -> Quote:
        """Cell by cell in the header's order: the first fault, named."""
        values: dict[str, Any] = {"bid": None, "ask": None, "volume": None}
        for name, cell in zip(self.header, self.row, strict=True):
            cell = cell.strip()
            if name == "symbol":
                values[name] = cell
            elif cell:
                try:
                    values[name] = float(cell)
                except ValueError:
                    raise ValueError(f"{name}: not a number: {cell!r}") from None
            elif name in _REQUIRED:
                raise ValueError(f"{name}: missing")
        if not values["symbol"]:
            raise ValueError("symbol: missing")
        try:
            return Quote(**values)
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None


def read_recorded_quotes(path: str | Path) -> Iterator[Quote]:
    """Every quote of a recorded feed, in file order; FeedError (one line) on the first fault.

    Times must not go backwards: a replay is a history, not a shuffled bag of prices.
    """
    path = Path(path)
    fmt = _format_of(path)
    previous = -math.inf
    for number, record in _records(path, fmt):
        try:
            quote = record.quote() if isinstance(record, _CsvRow) else quote_from_record(record)
        except ValueError as exc:
            raise FeedError(f"{path}:{number}: {exc}") from None
        if quote.at < previous:
            raise FeedError(f"{path}:{number}: at: {quote.at} is earlier than the line before ({previous}); times must not go backwards")
        previous = quote.at
        yield quote


class RecordedFeed:
    """Replays a recorded file. ``speed`` 0: as fast as possible; 1: real time; 10: ten times.

    The whole file is checked when the feed is opened, so a bad line refuses the replay
    before the first quote rather than in the middle of a session.
    """

    def __init__(self, path: str | Path, *, speed: float = 0.0, sleep: Callable[[float], Any] | None = None):
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not math.isfinite(speed) or speed < 0:
            raise FeedError(f"speed must be a finite number >= 0, got {speed!r}")
        self.path = Path(path)
        self.name = f"file:{self.path.name}"
        self.speed = float(speed)
        self._closed = threading.Event()
        self._sleep = sleep
        self.count = 0
        self.symbols: set[str] = set()
        for quote in read_recorded_quotes(self.path):
            self.count += 1
            self.symbols.add(quote.symbol)

    def __iter__(self) -> Iterator[Quote]:
        previous: float | None = None
        for quote in read_recorded_quotes(self.path):
            if self._closed.is_set():
                return
            if self.speed > 0 and previous is not None and quote.at > previous:
                wait = (quote.at - previous) / self.speed
                if self._sleep is not None:
                    self._sleep(wait)
                elif self._closed.wait(wait):
                    return
            previous = quote.at
            yield quote

    def close(self) -> None:
        self._closed.set()


def open_recorded_feed(path: str | Path, *, speed: float = 0.0) -> Feed:
    """A feed replaying a recorded CSV or JSONL file (see docs/marketdata.md)."""
    return RecordedFeed(path, speed=speed)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else repr(float(value))


class QuoteWriter:
    """Writes quotes in the recorded format (CSV or JSONL by the file's extension), one
    flushed line per quote so a recording cut short keeps every quote written so far."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.format = _format_of(self.path)
        try:
            self._handle = self.path.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise FeedError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        self.count = 0
        if self.format == "csv":
            self._csv = csv.writer(self._handle, lineterminator="\n")
            self._csv.writerow(COLUMNS)
            self._handle.flush()

    def write(self, quote: Quote) -> None:
        if self.format == "csv":
            record = quote.to_dict()
            # repr: the shortest text that reads back as the same float
            self._csv.writerow([_cell(record.get(column)) for column in COLUMNS])
        else:
            self._handle.write(json.dumps(quote.to_dict(), separators=(",", ":")) + "\n")
        self._handle.flush()
        self.count += 1

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> QuoteWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_recorded_feed(path: str | Path, quotes: Iterable[Quote]) -> int:
    """Write ``quotes`` to ``path`` in the recorded format; returns how many."""
    with QuoteWriter(path) as writer:
        for quote in quotes:
            writer.write(quote)
        return writer.count


# -- live feeds ----------------------------------------------------------------------------


class PollingFeed:
    """A feed that asks a venue for its ticker every ``interval`` seconds: what a venue
    plugin returns from ``open_market_feed`` (docs/plugins.md, "Offer a market-data feed").

    :param fetch: returns the current quotes of the given symbols (one HTTP request or a
        few). An exception is a failed poll: logged, no quote this round, polled again next
        round, so quotes stop while the venue is unreachable and resume when it answers.
    :param on_close: called once by :meth:`close` (close the HTTP client).
    """

    def __init__(
        self,
        name: str,
        fetch: Callable[[list[str]], Iterable[Quote]],
        symbols: Iterable[str],
        *,
        interval: float = 1.0,
        on_close: Callable[[], Any] | None = None,
    ):
        self.name = name
        self._on_close = on_close
        self.symbols = list(symbols)
        self.interval = interval
        self._fetch = fetch
        self._closed = threading.Event()
        #: failed polls in a row (0 after a poll that answered)
        self.failures = 0
        #: the last failed poll's error, one line
        self.last_error: str | None = None

    def poll(self) -> list[Quote]:
        """One round: the quotes the venue gave now ([] when it did not answer)."""
        try:
            quotes = list(self._fetch(self.symbols))
        except Exception as exc:  # noqa: BLE001 - a failed poll is no quote, never a crash
            from peaktrade_core.log import logger

            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            logger.warning("market data {}: poll failed ({} in a row): {}", self.name, self.failures, self.last_error)
            return []
        self.failures, self.last_error = 0, None
        return quotes

    def __iter__(self) -> Iterator[Quote]:
        while not self._closed.is_set():
            for quote in self.poll():
                if self._closed.is_set():
                    return
                yield quote
            if self._closed.wait(self.interval):
                return

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._on_close is not None:
            self._on_close()


_END = object()


class GuardedFeed:
    """A plugin's feed as the core reads it: the plugin's iterator runs on a daemon thread
    of its own, so a feed that hangs never holds the session; one that raises, or yields
    anything but a :class:`Quote` of a symbol it was asked for, ends (``error`` says why).
    Either way quotes simply stop and prices go stale; nothing is ever sent.

    Only the newest ``buffer`` quotes wait for a slow reader: older ones are superseded.
    """

    def __init__(self, inner: Any, plugin: str, symbols: Iterable[str], *, buffer: int = 1000):
        self.inner = inner
        self.plugin = plugin
        self.name = str(getattr(inner, "name", None) or plugin)
        self.symbols = frozenset(symbols)
        self.error: str | None = None
        self._queue: deque[Any] = deque(maxlen=buffer)
        self._ready = threading.Condition()
        self._closed = threading.Event()
        self._started = False

    def _start(self) -> None:
        with self._ready:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._pump, name=f"peaktrade-feed-{self.plugin}", daemon=True).start()

    def _fail(self, why: str) -> None:
        from peaktrade_core.log import logger

        self.error = f"plugin {self.plugin}: market-data feed {why}"
        logger.warning("{}; quotes stopped", self.error)

    def _pump(self) -> None:
        try:
            for item in self.inner:
                if self._closed.is_set():
                    break
                if not isinstance(item, Quote):
                    self._fail(f"yielded {type(item).__name__}, not a Quote")
                    break
                if item.symbol not in self.symbols:
                    self._fail(f"yielded a quote of {item.symbol!r}, which was not asked for")
                    break
                with self._ready:
                    self._queue.append(item)
                    self._ready.notify_all()
        except Exception as exc:  # noqa: BLE001 - the plugin's failure ends its quotes only
            self._fail(f"failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": "))
        finally:
            with self._ready:
                self._queue.append(_END)
                self._ready.notify_all()

    def next_quote(self, timeout: float | None = None) -> Quote | None:
        """The next quote, waiting at most ``timeout`` seconds; None when none came in time
        or the feed ended (``ended`` tells which)."""
        self._start()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while not self._queue:
                if self._closed.is_set():
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._ready.wait(left)
            item = self._queue[0]
            if item is _END:
                return None
            self._queue.popleft()
            return item

    @property
    def ended(self) -> bool:
        """The feed ended or was closed: no quote will come."""
        with self._ready:
            return self._closed.is_set() or bool(self._queue and self._queue[0] is _END)

    def __iter__(self) -> Iterator[Quote]:
        while True:
            quote = self.next_quote()
            if quote is None:
                return
            yield quote

    def close(self) -> None:
        """Stop reading; the plugin's ``close()`` runs on a thread of its own (it may hang)."""
        self._closed.set()
        with self._ready:
            self._ready.notify_all()
        closer = getattr(self.inner, "close", None)
        if callable(closer):
            threading.Thread(target=_quietly, args=(closer,), name=f"peaktrade-feed-close-{self.plugin}", daemon=True).start()


def _quietly(function: Callable[[], Any]) -> None:
    import contextlib

    with contextlib.suppress(Exception):  # closing a failed feed: nothing left to save
        function()


class FeedClock:
    """A clock that follows the quotes (``advance`` to each quote's time): a replay of a
    recorded feed judges prices as fresh or stale as they were when they were recorded.

        clock = FeedClock()
        pipeline = ExecutionPipeline(config, clock=clock)
        for quote in open_recorded_feed(path):
            clock.advance(quote.at)
            pipeline.on_quote(quote)
    """

    def __init__(self, start: float = 0.0):
        self.now = start

    def advance(self, to: float) -> None:
        """Move to ``to``; never backwards."""
        if to > self.now:
            self.now = to

    def __call__(self) -> float:
        return self.now


# -- orders on quotes ----------------------------------------------------------------------


def orders_at_quotes(
    pipeline: Any,
    feed: Any,
    orders: Iterable[Any],
    *,
    wait: float = 10.0,
    clock: FeedClock | None = None,
    recorder: QuoteWriter | None = None,
) -> Iterator[Any]:
    """Each of ``orders`` in turn, released when a fresh quote of its symbol has reached
    ``pipeline.on_quote`` — or after ``wait`` seconds without one, or when the feed ends:
    then it goes with the last price the pipeline has, and the stale-data check decides.
    Quotes of other symbols update their prices on the way. Give the result to
    ``pipeline.run`` with ``[execution] batch_size = 1`` (one order per decision).

    :param clock: a replay's clock (advanced to each quote's time).
    :param recorder: every quote seen is also written here (replay it later in paper).
    """
    pending = iter(orders)
    order = next(pending, None)
    poll = getattr(feed, "next_quote", None)
    quotes = None if poll is not None else iter(feed)
    while order is not None:
        deadline = time.monotonic() + wait
        released = False
        while not released:
            if getattr(pipeline, "stop_requested", None) is not None:
                return
            if poll is not None:
                quote = poll(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
                ended = quote is None and feed.ended
            else:
                quote = next(quotes, None)  # type: ignore[arg-type]
                ended = quote is None
            if quote is not None:
                if clock is not None:
                    clock.advance(quote.at)
                if recorder is not None:
                    recorder.write(quote)
                pipeline.on_quote(quote)
                released = quote.symbol == order.symbol
            elif ended or time.monotonic() >= deadline:
                released = True
        yield order
        order = next(pending, None)


# -- choosing a feed -----------------------------------------------------------------------


def is_recorded_source(source: str) -> bool:
    """Does ``source`` name a recording (a path, or a .csv/.jsonl name) rather than a venue?"""
    return Path(source).suffix.lower() in (".csv", ".jsonl", ".ndjson") or "/" in source or "\\" in source


def open_feed(config: Any, plugin_manager: Any, *, source: str | None = None, symbols: Iterable[str] | None = None) -> Feed:
    """The feed named by ``source``: a recorded file's path, or a venue name (that venue
    plugin's read-only feed). ``None``: ``[marketdata] source`` of the config.

    :param symbols: symbols a venue feed polls; default ``[marketdata] symbols``.
    :raises FeedError: no source, an unusable file, or no plugin offering that venue's feed.
    """
    settings = getattr(config, "marketdata", None)
    if source is None:
        source = getattr(settings, "source", None) or None
    if not source:
        raise FeedError("no market-data source: pass a recorded file or a venue name, or set [marketdata] source")
    if is_recorded_source(source):
        return open_recorded_feed(source, speed=float(getattr(settings, "speed", 0.0) or 0.0))
    wanted = list(symbols) if symbols is not None else list(getattr(settings, "symbols", ()) or ())
    if not wanted:
        raise FeedError(f"venue feed {source!r}: no symbols to quote; pass them or set [marketdata] symbols")
    if plugin_manager is None:
        from peaktrade_core.plugins import get_plugin_manager

        plugin_manager = get_plugin_manager()
    return plugin_manager.open_market_feed(config, source, wanted)

