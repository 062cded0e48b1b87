"""Strategies: a small protocol, order intents, target mappers and the driver that runs a
strategy on a market-data feed through the execution pipeline.

A strategy only *asks* for orders; peaktrade decides what happens to them (risk, gates,
the executor of the configured mode), exactly as for an orders file::

    class MyStrategy:
        def start(self, context): ...              # once, before the first quote
        def on_quote(self, quote): return [...]     # each quote: order intents (or None)
        def stop(self): return [...]                # once, at the end: final intents (or None)

(or ``on_bar(bar)`` with ``bar_seconds``: complete :class:`Bar` objects built from the
quotes). For each quote of the feed the driver (:class:`StrategyDriver`,
:func:`run_strategy`) first hands the quote to the pipeline (marks, the stale-data check,
collars, dry-run and shadow pricing), then to the strategy; the intents of one quote run as one batch, so the next quote sees the positions
that batch left. A strategy that raises is a failing plugin: the session stops at once
(fail closed), nothing more is sent, and the run log records which strategy failed where.

**Instrument rules and rounding.** The target mappers (:func:`target_position_orders`,
:func:`target_weight_orders`) never produce an order that breaks the venue's instrument
rules. They round the *trade* toward zero to a whole number of lot steps — never past the
target — and say so: each rounded intent carries ``rounded_from`` (the unrounded size), and
the driver records it in the run log (event ``strategy_rounding``). A trade that would fall
below the venue's minimum quantity or notional is not made; the mapper returns no intent
for it and the driver records why (``strategy_skipped``). Prices are never rounded: a
limit intent off the tick size is refused by the executor, as for any order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from attrs import define, field, frozen

from peaktrade_core.orders import (
    OrderRequest,
    OrderType,
    Side,
    check_positive,
    to_order_type,
    to_side,
)

if TYPE_CHECKING:
    from peaktrade_core.marketdata import Quote
    from peaktrade_core.venues import InstrumentRules


class StrategyError(Exception):
    """The strategy raised or returned something that is not an intent: one line naming the
    strategy and where; the session stops (fail closed)."""


class StrategyLoadError(Exception):
    """``module:Class`` or its parameters are not usable: one line, nothing ran."""


@frozen
class OrderIntent:
    """What a strategy asks for. The driver turns it into an :class:`OrderRequest` of the
    run (strategy name and parameters, a source reference, the quote's price as reference
    price unless the intent gives one). Checked when made, in this order: ``side`` and
    ``order_type`` one of their values, ``quantity > 0``, ``limit_price`` and
    ``reference_price`` (if any) ``> 0`` (one check per intent, not a validator per field:
    a strategy makes one per decision)."""

    symbol: str
    side: Side = field(converter=to_side)
    quantity: float
    order_type: OrderType = field(default=OrderType.MARKET, converter=to_order_type)
    limit_price: float | None = None
    reduce_only: bool = False
    reference_price: float | None = None
    #: where in the strategy it came from; default: ``symbol@time of the quote``
    source_ref: str = ""
    #: the size before the mapper rounded it down to the lot step (``None``: not rounded)
    rounded_from: float | None = None

    def __attrs_post_init__(self) -> None:
        check_positive("quantity", self.quantity)
        if self.limit_price is not None:
            check_positive("limit_price", self.limit_price)
        if self.reference_price is not None:
            check_positive("reference_price", self.reference_price)

    @property
    def signed_quantity(self) -> float:
        return self.quantity if self.side is Side.BUY else -self.quantity


@frozen
class Skipped:
    """A trade a mapper did not make, and why (below the venue's minimum)."""

    symbol: str
    wanted: float  #: signed size the target asked for
    reason: str


@define
class Mapped:
    """A mapper's answer: the intents (at most one) and the trades it did not make."""

    intents: list[OrderIntent] = field(factory=list)
    skipped: list[Skipped] = field(factory=list)

    def __iter__(self) -> Iterator[OrderIntent]:
        return iter(self.intents)

    def __len__(self) -> int:
        return len(self.intents)


@runtime_checkable
class Strategy(Protocol):
    """The strategy protocol; ``start`` and ``stop`` are optional. Instead of (or beside)
    ``on_quote`` a strategy may define ``on_bar(bar)`` and ``bar_seconds``: it then gets
    each :class:`Bar` of each symbol when the bar is complete."""

    def on_quote(self, quote: Quote) -> Iterable[OrderIntent] | None: ...


# -- mappers ------------------------------------------------------------------------------


def _steps_down(size: float, step: float) -> float:
    """``size`` (>= 0) rounded down to a whole number of ``step``s, as a clean decimal."""
    q = size / step
    k = math.floor(q + 1e-9)  # 2.9999999999 steps of float noise is 3 steps
    if k <= 0:
        return 0.0
    return float(Decimal(k) * Decimal(repr(step)))


def target_position_orders(
    symbol: str,
    current: float,
    target: float,
    *,
    rules: InstrumentRules | None = None,
    price: float | None = None,
    source_ref: str = "",
) -> Mapped:
    """The order that moves ``current`` toward ``target`` (signed quantities).

    With ``rules`` the trade is rounded toward zero to the lot step (never past the target:
    what is left is less than one lot step, and ``rounded_from`` says so), and a trade below
    the minimum quantity or, at ``price``, the minimum notional is not made (``skipped``).
    Without ``price`` a minimum notional cannot be checked: that trade is skipped too (fail
    closed)."""
    for name, value in (("current", current), ("target", target)):
        if not math.isfinite(value):
            raise ValueError(f"{symbol}: {name} position {value!r} is not a finite number")
    if price is not None and not (math.isfinite(price) and price > 0):
        raise ValueError(f"{symbol}: price {price!r} is not a positive number")
    delta = target - current
    size = abs(delta)
    out = Mapped()
    if size == 0.0 or size < 1e-12 * max(abs(current), abs(target), 1.0):
        return out
    rounded_from = None
    if rules is not None and rules.lot_step:
        stepped = _steps_down(size, rules.lot_step)
        if stepped != size and abs(stepped - size) > 1e-12 * size:
            rounded_from = size
        size = stepped
        if size == 0.0:
            out.skipped.append(Skipped(symbol, delta, f"{abs(delta):.10g} is less than one lot step {rules.lot_step!r}"))
            return out
    if rules is not None and rules.min_quantity and size < rules.min_quantity * (1 - 1e-12):
        out.skipped.append(Skipped(symbol, delta, f"{size:.10g} is below the minimum quantity {rules.min_quantity!r}"))
        return out
    if rules is not None and rules.min_notional:
        if price is None:
            out.skipped.append(Skipped(symbol, delta, f"no price to check the minimum notional {rules.min_notional!r} (fail closed)"))
            return out
        if size * price < rules.min_notional * (1 - 1e-12):
            out.skipped.append(Skipped(symbol, delta, f"notional {size * price:.8g} is below the minimum {rules.min_notional!r}"))
            return out
    side = Side.BUY if delta > 0 else Side.SELL
    out.intents.append(OrderIntent(symbol, side, size, reference_price=price, source_ref=source_ref, rounded_from=rounded_from))
    return out


def target_weight_orders(
    symbol: str,
    current: float,
    weight: float,
    *,
    equity: float,
    price: float,
    rules: InstrumentRules | None = None,
    source_ref: str = "",
) -> Mapped:
    """The order that brings ``symbol`` to ``weight`` × ``equity`` in value at ``price``
    (negative weight: short), with the same rounding as :func:`target_position_orders`."""
    if not (math.isfinite(weight) and math.isfinite(equity)):
        raise ValueError(f"{symbol}: weight {weight!r} and equity {equity!r} must be finite numbers")
    if not (math.isfinite(price) and price > 0):
        raise ValueError(f"{symbol}: price {price!r} is not a positive number")
    return target_position_orders(symbol, current, weight * equity / price, rules=rules, price=price, source_ref=source_ref)


# -- the context a strategy gets ----------------------------------------------------------


class StrategyContext:
    """What :meth:`start` receives: the run's name and parameters, the current positions and
    prices of the pipeline's portfolio, the venue's instrument rules, and the mappers bound
    to them."""

    def __init__(self, pipeline: Any, name: str, params: Mapping[str, Any], rules: Mapping[str, InstrumentRules] | None = None):
        self.pipeline = pipeline
        self.name = name
        self.params = dict(params)
        self._rules: dict[str, InstrumentRules | None] = dict(rules or {})
        #: the mapper's trades not made since the driver last looked (recorded in the run log)
        self.skipped: list[Skipped] = []

    @property
    def mode(self) -> str:
        return self.pipeline.env.mode.value

    def position(self, symbol: str) -> float:
        """The current position (signed) of the pipeline's portfolio: fills of this run and
        the paper/shadow account it continues."""
        return float(self.pipeline.portfolio.positions.get(symbol, 0.0))

    def price(self, symbol: str) -> float | None:
        """The last price the pipeline has for ``symbol`` (``None``: none yet)."""
        value = self.pipeline.portfolio.last_prices.get(symbol)
        return float(value) if value else None

    def equity(self) -> float:
        return float(self.pipeline.portfolio.equity())

    def rules(self, symbol: str) -> InstrumentRules | None:
        """The venue's instrument rules for ``symbol`` (testnet/live: loaded from the venue
        once; paper, shadow, dry run: the ones given to the driver, else ``None``). Rules
        that cannot be loaded raise: the strategy fails closed."""
        if symbol not in self._rules:
            load = getattr(self.pipeline.venue, "instrument_rules", None)
            self._rules[symbol] = load(symbol) if load is not None else None
        return self._rules[symbol]

    def target_position(self, symbol: str, target: float, *, price: float | None = None) -> Mapped:
        """Intents that bring ``symbol`` to ``target`` (signed quantity), see
        :func:`target_position_orders`."""
        mapped = target_position_orders(symbol, self.position(symbol), target, rules=self.rules(symbol), price=price or self.price(symbol))
        self.skipped += mapped.skipped
        return mapped

    def target_weight(self, symbol: str, weight: float, *, price: float | None = None) -> Mapped:
        """Intents that bring ``symbol`` to ``weight`` of the portfolio's equity, see
        :func:`target_weight_orders`."""
        at = price or self.price(symbol)
        if at is None:
            raise ValueError(f"{symbol}: no price yet for a target weight")
        mapped = target_weight_orders(symbol, self.position(symbol), weight, equity=self.equity(), price=at, rules=self.rules(symbol))
        self.skipped += mapped.skipped
        return mapped


# -- bars ---------------------------------------------------------------------------------


@frozen
class Bar:
    """Open, high, low, close (and volume, when the quotes have one) of one symbol's quotes
    in ``[start, end)``, epoch seconds aligned to the bar length."""

    symbol: str
    start: float
    end: float
    open: float
    high: float
    low: float
    close: float
    volume: float | None = None
    quotes: int = 1

    def as_quote(self) -> Quote:
        """The bar's close as a quote at the bar's end: what its orders are priced at."""
        from peaktrade_core.marketdata import Quote

        return Quote(self.symbol, self.close, self.end)


class BarBuilder:
    """Quotes into bars of ``seconds`` per symbol. A bar is complete when a quote of its
    symbol from a later bar arrives (or the feed ends: :meth:`flush`)."""

    def __init__(self, seconds: float):
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"bar_seconds must be a number above 0, got {seconds!r}")
        self.seconds = seconds
        self._open: dict[str, Bar] = {}

    def add(self, quote: Quote) -> Bar | None:
        """Take ``quote``; return the bar it completes, if any."""
        start = math.floor(quote.at / self.seconds) * self.seconds
        bar = self._open.get(quote.symbol)
        volume = quote.volume
        if bar is not None and start <= bar.start:  # same bar (a late quote counts in it)
            self._open[quote.symbol] = Bar(
                bar.symbol, bar.start, bar.end, bar.open, max(bar.high, quote.price), min(bar.low, quote.price), quote.price,
                None if bar.volume is None and volume is None else (bar.volume or 0.0) + (volume or 0.0), bar.quotes + 1,
            )
            return None
        self._open[quote.symbol] = Bar(quote.symbol, start, start + self.seconds, quote.price, quote.price, quote.price, quote.price, volume)
        return bar

    def flush(self) -> list[Bar]:
        out, self._open = list(self._open.values()), {}
        return out


# -- the driver -----------------------------------------------------------------------------


#: the second last formatted and its text (one tuple: threads swap it whole)
_last_second: tuple[float, str] = (math.nan, "")


def _iso(at: float) -> str:
    """``at`` to the second, as ``2026-01-01T00:00:00Z``: formatted once per second (a
    quote's order and where it was asked for both name it, and quotes come many a second)."""
    global _last_second
    second = math.floor(at)
    if (at - second) * 1e6 >= 999_999.5:  # datetime rounds to the microsecond (half to even)
        second += 1
    cached = _last_second
    if cached[0] != second:
        cached = _last_second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return cached[1]


class _OnQuote:
    """Where a strategy was called: ``on_quote(BTC/EUR at …)``, formatted only when said (a
    failure, a rounding or skip record): most quotes never need it."""

    __slots__ = ("quote",)

    def __init__(self, quote: Quote):
        self.quote = quote

    def __str__(self) -> str:
        return f"on_quote({self.quote.symbol} at {_iso(self.quote.at)})"


def feed_quote(pipeline: Any, quote: Quote) -> None:
    """Hand ``quote`` to the pipeline (its ``on_quote``; older pipelines: ``update_prices``)."""
    on_quote = getattr(pipeline, "on_quote", None)
    if on_quote is not None:
        on_quote(quote)
    else:
        pipeline.update_prices({quote.symbol: quote.price}, at=quote.at)


#: most seconds between two signs of life of a quiet strategy session (see StrategyDriver)
KEEPALIVE_SECONDS = 30.0


class StrategyDriver:
    """Runs one strategy on one feed through ``pipeline``: :meth:`batches` is what
    ``pipeline.run(batches=...)`` executes (see :func:`run_strategy`)."""

    def __init__(self, pipeline: Any, strategy: Any, *, name: str, params: Mapping[str, Any] | None = None,
                 rules: Mapping[str, InstrumentRules] | None = None, describe: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] | None = None):
        import time

        self.pipeline = pipeline
        self.clock = clock or time.monotonic
        # while quotes flow but the strategy asks for nothing, the run's heartbeat and the
        # venue's dead man's switch are refreshed at this interval (a batch refreshes both)
        switch = float(getattr(pipeline.env, "dead_man_switch_seconds", 0.0) or 0.0)
        self.keepalive_seconds = min(KEEPALIVE_SECONDS, switch / 3) if switch else KEEPALIVE_SECONDS
        self._last_batch = self.clock()
        #: what the run log says about this strategy at its start (class, feed)
        self.describe = dict(describe or {})
        self.strategy = strategy
        self.name = name
        self.params = dict(params or {})
        self.context = StrategyContext(pipeline, name, self.params, rules)
        self.quotes = 0
        self.intents = 0

    def _call(self, where: str | _OnQuote, fn: Callable[..., Any], *args: Any) -> list[OrderIntent]:
        try:
            out = fn(*args)
            intents = [] if out is None else [out] if isinstance(out, OrderIntent) else list(out)
        except (Exception, SystemExit) as exc:  # a failing plugin: stop the session, fail closed
            self._fail(where, f"raised {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": "))
        for i, intent in enumerate(intents):
            if not isinstance(intent, OrderIntent):
                self._fail(where, f"returned {type(intent).__name__} as intent {i + 1}, not an OrderIntent")
        return intents

    def _fail(self, where: str | _OnQuote, what: str) -> None:
        message = f"strategy {self.name} failed in {where}: {what}"
        self._record("strategy_error", {"strategy": self.name, "where": str(where), "error": what})
        if self.pipeline.runlog is not None:
            self.pipeline.runlog.commit()
        raise StrategyError(message)

    def _orders(self, intents: Sequence[OrderIntent], quote: Quote | None, where: str | _OnQuote) -> list[OrderRequest]:
        orders = []
        for i, intent in enumerate(intents):
            reference = intent.reference_price
            if reference is None and intent.limit_price is None:
                reference = quote.price if quote is not None and quote.symbol == intent.symbol else self.context.price(intent.symbol)
            source = intent.source_ref or (f"{intent.symbol}@{_iso(quote.at)}" if quote is not None else f"{intent.symbol}@stop")
            try:
                orders.append(OrderRequest(
                    symbol=intent.symbol, side=intent.side, quantity=intent.quantity, order_type=intent.order_type,
                    limit_price=intent.limit_price, reduce_only=intent.reduce_only, strategy=self.name,
                    strategy_params=self.params, source_ref=source, reference_price=reference,
                ))
            except (TypeError, ValueError) as exc:
                self._fail(where, f"intent {i + 1} is not a valid order: {exc}")
        self._record_mapping(intents, where)
        return orders

    def _record_mapping(self, intents: Sequence[OrderIntent], where: str | _OnQuote) -> None:
        """The mappers' roundings and skipped trades go to the run log: said, never silent."""
        rounded = [{"symbol": i.symbol, "side": i.side.value, "quantity": i.quantity, "wanted": i.rounded_from} for i in intents if i.rounded_from is not None]
        skipped = [{"symbol": s.symbol, "wanted": s.wanted, "reason": s.reason} for s in self.context.skipped]
        self.context.skipped = []
        if rounded:
            self._record("strategy_rounding", {"where": str(where), "rounded_down_to_lot_step": rounded})
        if skipped:
            self._record("strategy_skipped", {"where": str(where), "not_traded": skipped})

    def batches(self, feed: Iterable[Quote]) -> Iterator[list[OrderRequest]]:
        """For each quote: the pipeline gets it, then the strategy; its intents are one batch
        (split at the configured batch size). Lazy: the next quote is read only after the
        previous batch ran, so the strategy always sees the positions it left."""
        size = max(int(self.pipeline.config.execution.batch_size), 1)
        self._record("strategy", {"name": self.name, **self.describe, "params": self.params})
        on_quote = getattr(self.strategy, "on_quote", None)
        on_bar = getattr(self.strategy, "on_bar", None)
        bars = BarBuilder(float(self.strategy.bar_seconds)) if on_bar is not None else None
        finished = False
        try:
            start = getattr(self.strategy, "start", None)
            if start is not None:
                self._call("start", start, self.context)
            for quote in feed:
                if self.pipeline.stop_requested is not None:
                    break
                self.quotes += 1
                feed_quote(self.pipeline, quote)
                calls: list[tuple[str | _OnQuote, Callable[..., Any], Any, Quote]] = []
                if bars is not None:
                    closed = bars.add(quote)
                    if closed is not None:
                        calls.append((f"on_bar({closed.symbol} from {_iso(closed.start)})", on_bar, closed, closed.as_quote()))
                if on_quote is not None:
                    calls.append((_OnQuote(quote), on_quote, quote, quote))
                quiet = True
                for where, method, argument, priced_at in calls:
                    intents = self._call(where, method, argument)
                    orders = self._orders(intents, priced_at, where) if intents or self.context.skipped else []
                    self.intents += len(orders)
                    for at in range(0, len(orders), size):
                        quiet = False
                        yield orders[at : at + size]
                        self._last_batch = self.clock()
                if quiet and self.clock() - self._last_batch >= self.keepalive_seconds:
                    self._keepalive()
            finished = self.pipeline.stop_requested is None
        finally:
            close = getattr(feed, "close", None)
            if close is not None:
                close()
        if finished and bars is not None:  # the feed ended: its last bars are complete
            for bar in bars.flush():
                where = f"on_bar({bar.symbol} from {_iso(bar.start)})"
                orders = self._orders(self._call(where, on_bar, bar), bar.as_quote(), where)
                self.intents += len(orders)
                for at in range(0, len(orders), size):
                    yield orders[at : at + size]
        stop = getattr(self.strategy, "stop", None)
        final = self._call("stop", stop) if stop is not None else []
        self._record("strategy_end", {"quotes": self.quotes, "orders": self.intents, "feed_ended": finished, "final_intents": len(final)})
        if finished and final:  # a stopped session sends nothing more
            orders = self._orders(final, None, "stop")
            self.intents += len(orders)
            for at in range(0, len(orders), size):
                yield orders[at : at + size]

    def _keepalive(self) -> None:
        """A quiet strategy on a flowing feed is alive: say so to the run log (heartbeat) and
        the venue (dead man's switch). A feed that stops stops this too, on purpose."""
        self._last_batch = self.clock()
        runlog, run_id = self.pipeline.runlog, self.pipeline.run_id
        if runlog is not None and run_id is not None:
            runlog.heartbeat(run_id)
        rearm = getattr(self.pipeline, "_dead_man_switch", None)
        if rearm is not None:
            rearm("arm")

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        runlog, run_id = self.pipeline.runlog, self.pipeline.run_id
        if runlog is not None and run_id is not None:
            runlog.record_event(run_id, kind, data)


def run_strategy(pipeline: Any, strategy: Any, feed: Iterable[Quote], *, name: str | None = None,
                 params: Mapping[str, Any] | None = None, rules: Mapping[str, InstrumentRules] | None = None, **run_args: Any) -> Any:
    """Run ``strategy`` on ``feed`` through ``pipeline`` as one recorded session; return its
    summary. Raises :class:`StrategyError` when the strategy fails (the run is ``failed`` in
    the run log, with a ``strategy_error`` event naming where)."""
    name = name or type(strategy).__name__
    check_bars(strategy, name)
    driver = StrategyDriver(pipeline, strategy, name=name, params=params, rules=rules)
    return pipeline.run((), batches=driver.batches(feed), strategy=name, strategy_params=driver.params, **run_args)


# -- loading ``module:Class`` ------------------------------------------------------------------


def load_strategy_class(spec: str) -> type:
    """``package.module:Class`` or ``path/to/file.py:Class``. The current directory is
    searched too, so a strategy next to your config is found."""
    import importlib
    import importlib.util
    import os
    import sys
    from pathlib import Path

    module_name, sep, class_name = spec.rpartition(":")
    if not sep or not module_name or not class_name.isidentifier():
        raise StrategyLoadError(f"--strategy {spec!r}: expected module:Class (e.g. my_strategies:Crossover)")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise StrategyLoadError(f"--strategy {spec!r}: {path}: no such file")
            unit = importlib.util.spec_from_file_location(f"peaktrade_strategy_{path.stem}", path)
            module = importlib.util.module_from_spec(unit)  # type: ignore[arg-type]
            unit.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except StrategyLoadError:
        raise
    except ModuleNotFoundError as exc:
        raise StrategyLoadError(f"--strategy {spec!r}: module {exc.name!r} not found") from None
    except Exception as exc:  # noqa: BLE001 - importing user code: any error is one line
        raise StrategyLoadError(f"--strategy {spec!r}: importing {module_name} raised {type(exc).__name__}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise StrategyLoadError(f"--strategy {spec!r}: {module_name} has no {class_name}")
    if not isinstance(cls, type) or not (callable(getattr(cls, "on_quote", None)) or callable(getattr(cls, "on_bar", None))):
        raise StrategyLoadError(f"--strategy {spec!r}: {class_name} is not a strategy class (it needs an on_quote or on_bar method)")
    return cls


def build_strategy(cls: type, params: Mapping[str, Any], spec: str) -> Any:
    """``cls(**params)``; unknown or missing parameters, and a constructor that refuses
    them, are one line."""
    import inspect

    try:
        inspect.signature(cls).bind(**params)
    except TypeError as exc:
        raise StrategyLoadError(f"--params for {spec}: {exc}") from None
    try:
        instance = cls(**params)
    except Exception as exc:  # noqa: BLE001 - the constructor refusing its params is a user mistake
        raise StrategyLoadError(f"--params for {spec}: {type(exc).__name__}: {exc}") from None
    check_bars(instance, spec)
    return instance


def check_bars(strategy: Any, name: str) -> None:
    """A strategy with ``on_bar`` says how long its bars are (``bar_seconds`` above 0)."""
    if getattr(strategy, "on_bar", None) is None:
        return
    seconds = getattr(strategy, "bar_seconds", None)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise StrategyLoadError(f"{name}: on_bar needs bar_seconds, a number of seconds above 0 (got {seconds!r})")


def parse_params(pairs: Sequence[str], params_file: str | None) -> dict[str, Any]:
    """``k=v`` pairs (values are TOML: ``12``, ``0.5``, ``true``, ``"x"``, ``[1, 2]``; a bare
    word is a string) over a TOML or JSON file's table."""
    import json
    import tomllib
    from pathlib import Path

    params: dict[str, Any] = {}
    if params_file:
        path = Path(params_file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise StrategyLoadError(f"{params_file}: cannot read: {exc.strerror or exc}") from None
        try:
            loaded = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise StrategyLoadError(f"{params_file}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}") from None
        if not isinstance(loaded, dict):
            raise StrategyLoadError(f"{params_file}: expected a table of parameters")
        params.update(loaded)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise StrategyLoadError(f"--params {pair!r}: expected name=value")
        try:
            params[key] = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            params[key] = raw.strip()
    return params
