"""Positions, cash and PnL as the pipeline tracks them (the portfolio risk checks)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from contextlib import suppress
from datetime import datetime, timedelta, tzinfo
from operator import countOf
from typing import Any

from attrs import define, field

from peaktrade_core.orders import Side
from peaktrade_core.risk.config import risk_zone

#: a position smaller than this is closed (float residue of partial fills)
POSITION_EPSILON = 1e-12

class NonFiniteAccountingError(ValueError):
    """A fill whose cash or position arithmetic would leave the finite numbers (NaN, inf)."""



@define(slots=True)
class PortfolioState:
    """Positions and PnL as the pipeline tracks them. Mutable: updated on every fill.

    Exposure and equity are marked at ``last_prices`` (the last fill or price update of a
    symbol), else at the average entry price. Fees count as realized loss.
    """

    cash: float = 0.0
    starting_equity: float = 0.0
    positions: dict[str, float] = field(factory=dict)
    average_prices: dict[str, float] = field(factory=dict)
    last_prices: dict[str, float] = field(factory=dict)
    realized_pnl: float = 0.0
    fees_paid: float = 0.0
    #: realized + unrealized PnL at the start of the current calendar day
    day_start_pnl: float = 0.0
    #: equity at the start of the current calendar day (base of ``max_daily_loss_pct``)
    day_start_equity: float = 0.0
    #: the current calendar day (ISO date) and when it ends (epoch seconds); 0: no day yet
    day: str = ""
    day_ends_at: float = 0.0

    def mark(self, symbol: str) -> float:
        return self.last_prices.get(symbol, self.average_prices.get(symbol, 0.0))

    def exposure(self, symbol: str) -> float:
        return abs(self.positions.get(symbol, 0.0)) * self.mark(symbol)

    def total_exposure(self) -> float:
        return sum(map(self.exposure, self.positions))

    def open_positions(self) -> int:
        return len(self.positions) - countOf(self.positions.values(), 0.0)  # (-0.0 == 0.0)

    def unrealized_pnl(self) -> float:
        avg = self.average_prices
        return sum(q * (self.mark(s) - avg.get(s, 0.0)) for s, q in self.positions.items())

    def equity(self) -> float:
        return self.cash + sum(q * self.mark(s) for s, q in self.positions.items())

    def daily_pnl(self) -> float:
        """Realized + unrealized PnL since the start of the current calendar day."""
        return self.realized_pnl + self.unrealized_pnl() - self.day_start_pnl

    def update_prices(self, prices: Mapping[str, float]) -> None:
        """Mark positions to market (unrealized PnL, exposure). A price that is not a
        finite number > 0 raises ``ValueError`` and no price is changed."""
        bad = {s: p for s, p in prices.items() if not (isinstance(p, int | float) and 0.0 < p < math.inf)}
        if bad:
            raise ValueError(f"prices must be finite numbers > 0, got {bad!r}")
        self.last_prices.update(prices)

    def roll_day(self, now: float, timezone: str | tzinfo = "UTC") -> bool:
        """Start a new calendar day if ``now`` (epoch seconds) is past the current one.

        The first call, and the first call after midnight in ``timezone``, records the PnL
        and equity at that moment as the day's baseline for the daily loss limits. Cheap
        when nothing changes (one comparison): call it once per batch with the current time.
        Returns whether a new day started.
        """
        if now < self.day_ends_at:
            return False
        zone = timezone if isinstance(timezone, tzinfo) else risk_zone(timezone)
        today = datetime.fromtimestamp(now, zone).date()
        tomorrow = today + timedelta(days=1)
        self.day = today.isoformat()
        # local midnight, converted with that night's UTC offset (DST-safe)
        self.day_ends_at = datetime(
            tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone
        ).timestamp()
        self.day_start_pnl = self.realized_pnl + self.unrealized_pnl()
        self.day_start_equity = self.equity()
        return True

    def apply_fill(self, symbol: str, signed_qty: float, price: float, fee: float = 0.0) -> None:
        """Update position, average price, realized PnL and cash from one fill.

        Raises :class:`NonFiniteAccountingError` and changes nothing when the fill or any
        number it produces is not finite: NaN or infinity never enters the accounts."""
        pos = self.positions.get(symbol, 0.0)
        avg = self.average_prices.get(symbol, 0.0)
        new = pos + signed_qty
        realized = self.realized_pnl
        if pos == 0.0 or pos * signed_qty > 0:  # opening or adding
            avg = (abs(pos) * avg + abs(signed_qty) * price) / abs(new)
        else:  # reducing, closing or flipping
            closed = min(abs(signed_qty), abs(pos))
            realized += closed * (price - avg) * (1 if pos > 0 else -1)
            if abs(signed_qty) > abs(pos):
                avg = price  # the remainder opens a new position at this price
        cash = self.cash - (signed_qty * price + fee)
        fees = self.fees_paid + fee
        realized -= fee
        # one test for all: a sum is finite only if every term is (inf - inf is NaN), and a
        # sum that overflows marks numbers too large to account for anyway
        if not math.isfinite(new + avg + cash + fees + realized + price + new * price):
            raise NonFiniteAccountingError(
                f"fill of {signed_qty:g} {symbol} at {price:g} (fee {fee:g}) would make the "
                "position or cash non-finite; not accounted"
            )
        if abs(new) < POSITION_EPSILON:
            self.positions.pop(symbol, None)
            self.average_prices.pop(symbol, None)
        else:
            self.positions[symbol] = new
            self.average_prices[symbol] = avg
        self.last_prices[symbol] = price
        self.cash = cash
        self.fees_paid = fees
        self.realized_pnl = realized

    def apply_fills(self, fills: Iterable[Any]) -> None:
        """:meth:`apply_fill` for each fill in turn (``symbol``, ``side``, ``quantity``,
        ``price``, ``fee`` attributes, as :class:`~peaktrade_core.orders.OrderFill`), with
        the same arithmetic in one loop. At a fill that cannot be accounted it raises what
        :meth:`apply_fill` raises (:class:`NonFiniteAccountingError`, or e.g.
        ``ZeroDivisionError`` for a fill of nothing on a flat position) with ``applied`` set
        to the fills accounted before it; that fill changed nothing."""
        positions, averages, last_prices = self.positions, self.average_prices, self.last_prices
        cash, fees, realized = self.cash, self.fees_paid, self.realized_pnl
        isfinite, buy = math.isfinite, Side.BUY
        applied = 0
        # the position of a run of fills of one symbol is kept in locals and written to the
        # dicts when the symbol changes and at the end, as apply_fill leaves them: a position
        # closed (popped) and opened again moves to the end, as it does there
        symbol: str | None = None
        pos = avg = last = 0.0
        touched = popped = present = False
        try:
            for f in fills:
                if f.symbol != symbol:
                    if touched:
                        _write_position(positions, averages, last_prices, symbol, pos, avg, last, popped, present)  # type: ignore[arg-type]
                    symbol = f.symbol
                    pos, avg = positions.get(symbol, 0.0), averages.get(symbol, 0.0)
                    touched = popped = False
                price, fee = f.price, f.fee
                signed_qty = f.quantity if f.side is buy else -f.quantity
                new = pos + signed_qty
                avg_1 = avg
                realized_1 = realized
                if pos == 0.0 or pos * signed_qty > 0:  # opening or adding
                    avg_1 = (abs(pos) * avg + abs(signed_qty) * price) / abs(new)
                else:  # reducing, closing or flipping
                    closed = min(abs(signed_qty), abs(pos))
                    realized_1 += closed * (price - avg) * (1 if pos > 0 else -1)
                    if abs(signed_qty) > abs(pos):
                        avg_1 = price
                cash_1 = cash - (signed_qty * price + fee)
                fees_1 = fees + fee
                realized_1 -= fee
                if not isfinite(new + avg_1 + cash_1 + fees_1 + realized_1 + price + new * price):
                    raise NonFiniteAccountingError(
                        f"fill of {signed_qty:g} {symbol} at {price:g} (fee {fee:g}) would make the "
                        "position or cash non-finite; not accounted"
                    )
                if abs(new) < POSITION_EPSILON:  # closed: as if popped (a later get gives 0.0)
                    pos = avg = 0.0
                    popped, present = True, False
                else:
                    pos, avg, present = new, avg_1, True
                last, touched = price, True
                cash, fees, realized = cash_1, fees_1, realized_1
                applied += 1
        except Exception as exc:
            with suppress(AttributeError):
                exc.applied = applied  # type: ignore[attr-defined]
            raise
        finally:
            if touched:
                _write_position(positions, averages, last_prices, symbol, pos, avg, last, popped, present)  # type: ignore[arg-type]
            self.cash, self.fees_paid, self.realized_pnl = cash, fees, realized


def _write_position(
    positions: dict[str, float], averages: dict[str, float], last_prices: dict[str, float],
    symbol: str, pos: float, avg: float, last: float, popped: bool, present: bool,
) -> None:
    if popped:
        positions.pop(symbol, None)
        averages.pop(symbol, None)
    if present:
        positions[symbol] = pos
        averages[symbol] = avg
    last_prices[symbol] = last
