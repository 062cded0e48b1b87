"""Portfolio monitoring (PORT-1): snapshots of positions, exposure, cash, equity and PnL.

A :class:`LivePortfolioMonitor` takes snapshots either from the pipeline's
:class:`~peaktrade_core.risk.PortfolioState` or from a venue through an
:class:`~peaktrade_core.orders.ExchangeClient` (``fetch_positions`` / ``fetch_balances``)
plus prices. ``LiveRiskLimits.evaluate_portfolio(snapshot)`` checks a snapshot against the
portfolio-level limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from attrs import asdict, field, frozen

from peaktrade_core.orders import ExchangeClient
from peaktrade_core.risk import POSITION_EPSILON, PortfolioState

LONG, SHORT = "long", "short"


@frozen
class LivePositionSnapshot:
    """One position. ``size`` is signed: negative means side ``short``. Fields a venue does
    not report (average price, unrealized PnL) are ``None``; so are ``mark_price`` and
    ``notional`` when no price is known."""

    symbol: str
    size: float
    mark_price: float | None = None
    average_price: float | None = None

    @property
    def side(self) -> str:
        return SHORT if self.size < 0 else LONG

    @property
    def notional(self) -> float | None:
        return None if self.mark_price is None else abs(self.size) * self.mark_price

    @property
    def unrealized_pnl(self) -> float | None:
        if self.mark_price is None or self.average_price is None:
            return None
        return self.size * (self.mark_price - self.average_price)

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "side": self.side,
            "size": self.size,
            "mark_price": self.mark_price,
            "average_price": self.average_price,
            "notional": self.notional,
            "unrealized_pnl": self.unrealized_pnl,
        }


@frozen
class LivePortfolioSnapshot:
    """The portfolio at one moment. Exposure counts only positions with a known price;
    ``unpriced`` lists the others (a risk check treats them as unknown, not as zero)."""

    as_of: float
    positions: tuple[LivePositionSnapshot, ...] = ()
    cash: float = 0.0
    realized_pnl: float | None = None
    #: PnL since the start of the calendar day and equity at that start, when known
    daily_pnl: float | None = None
    day_start_equity: float | None = None
    source: str = "state"
    #: other balances a venue reported (currency -> amount), besides the cash currency
    balances: Mapping[str, float] = field(factory=dict)

    @property
    def exposure_by_symbol(self) -> dict[str, float]:
        return {p.symbol: p.notional for p in self.positions if p.notional is not None}

    @property
    def total_exposure(self) -> float:
        return sum(self.exposure_by_symbol.values())

    @property
    def unpriced(self) -> tuple[str, ...]:
        return tuple(p.symbol for p in self.positions if p.mark_price is None)

    @property
    def open_positions(self) -> int:
        return len(self.positions)

    @property
    def unrealized_pnl(self) -> float | None:
        """Sum over the positions; ``None`` when any position's is unknown."""
        values = [p.unrealized_pnl for p in self.positions]
        return None if any(v is None for v in values) else sum(values)  # type: ignore[misc]

    @property
    def equity(self) -> float:
        """Cash plus the signed market value of every priced position."""
        return self.cash + sum(
            p.size * p.mark_price for p in self.positions if p.mark_price is not None
        )

    def position(self, symbol: str) -> LivePositionSnapshot | None:
        return next((p for p in self.positions if p.symbol == symbol), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self, recurse=False)
        data["as_of"] = datetime.fromtimestamp(self.as_of, UTC).isoformat(timespec="seconds")
        data["positions"] = [p.to_dict() for p in self.positions]
        data["balances"] = dict(self.balances)
        data.update(
            exposure_by_symbol=self.exposure_by_symbol,
            total_exposure=self.total_exposure,
            open_positions=self.open_positions,
            unrealized_pnl=self.unrealized_pnl,
            equity=self.equity,
            unpriced=list(self.unpriced),
        )
        return data


PriceSource = Mapping[str, float] | Callable[[], Mapping[str, float]]


class LivePortfolioMonitor:
    """Takes portfolio snapshots from the pipeline's state or from a venue.

    ``prices`` (a mapping, or a callable returning one per snapshot) marks positions to
    market; for a :class:`PortfolioState` they override its last prices.
    """

    def __init__(
        self,
        source: PortfolioState | ExchangeClient,
        prices: PriceSource | None = None,
        cash_currency: str | None = None,
        clock: Callable[[], float] = time.time,
    ):
        if not isinstance(source, PortfolioState | ExchangeClient):
            raise TypeError(
                f"expected a PortfolioState or an ExchangeClient, got {type(source).__name__}"
            )
        self.source = source
        self.prices = prices
        self.cash_currency = cash_currency
        self.clock = clock

    def _prices(self) -> Mapping[str, float]:
        if self.prices is None:
            return {}
        return self.prices() if callable(self.prices) else self.prices

    def snapshot(self) -> LivePortfolioSnapshot:
        """A snapshot now. From a venue this calls ``fetch_positions`` and
        ``fetch_balances``; their ``ExchangeError`` propagates to the caller."""
        if isinstance(self.source, PortfolioState):
            return self._from_state(self.source)
        return self._from_exchange(self.source)

    def _from_state(self, state: PortfolioState) -> LivePortfolioSnapshot:
        prices = {**state.last_prices, **self._prices()}
        positions = tuple(
            LivePositionSnapshot(
                symbol=symbol,
                size=size,
                mark_price=prices.get(symbol, state.average_prices.get(symbol)),
                average_price=state.average_prices.get(symbol),
            )
            for symbol, size in sorted(state.positions.items())
            if abs(size) >= POSITION_EPSILON
        )
        unrealized = sum(p.unrealized_pnl or 0.0 for p in positions)
        return LivePortfolioSnapshot(
            as_of=self.clock(),
            positions=positions,
            cash=state.cash,
            realized_pnl=state.realized_pnl,
            daily_pnl=state.realized_pnl + unrealized - state.day_start_pnl,
            day_start_equity=(state.day_start_equity or state.starting_equity) or None,
            source="state",
        )

    def _from_exchange(self, client: ExchangeClient) -> LivePortfolioSnapshot:
        sizes = client.fetch_positions()
        balances = dict(client.fetch_balances())
        prices = self._prices()
        positions = tuple(
            LivePositionSnapshot(symbol=symbol, size=float(size), mark_price=prices.get(symbol))
            for symbol, size in sorted(sizes.items())
            if abs(float(size)) >= POSITION_EPSILON
        )
        currency = self.cash_currency or _common_quote(sizes)
        cash = float(balances.pop(currency, 0.0)) if currency else 0.0
        return LivePortfolioSnapshot(
            as_of=self.clock(),
            positions=positions,
            cash=cash,
            source=f"exchange:{client.name}",
            balances=balances,
        )


def _common_quote(symbols: Mapping[str, Any]) -> str | None:
    """The quote currency all symbols share (``BTC/EUR``, ``ETH/EUR`` → ``EUR``), else None."""
    quotes = {s.rpartition("/")[2] for s in symbols if "/" in s}
    return quotes.pop() if len(quotes) == 1 else None
