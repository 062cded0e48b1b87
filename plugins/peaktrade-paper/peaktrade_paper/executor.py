"""Paper and shadow execution: fills simulated against a small market model (ORD-2, ORD-3).

The market model, per order:

* the price is the order's ``reference_price`` (the quote the strategy decided on), else
  the symbol's price in :class:`PaperMarketContext`; neither → ``rejected``;
* a market order fills at the price moved against the trader by ``slippage_bps``;
* a limit order fills only when the price crosses it (a buy limit at or above the price, a
  sell limit at or below), at the slipped price but never worse than the limit; otherwise it
  rests (``accepted``; ``ioc``/``fok`` limits are rejected instead of resting);
* ``liquidity[symbol]`` caps the quantity filled per order: a larger order is partially
  filled (``fok``: rejected) and the rest is not kept;
* the fee is ``fee_bps`` of the fill's notional.

Nothing here leaves the process; per-order work is a few float operations plus the core's
result and fill objects, because the pipeline calls this on every batch of its hot path.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence

from attrs import define, field
from peaktrade_core.plugin_api import (
    OrderExecutionResult,
    OrderFill,
    OrderRequest,
    OrderStatus,
    Side,
    TimeInForce,
)

from peaktrade_paper.checks import BPS as _BPS
from peaktrade_paper.checks import basis_points, positive_per_symbol

_FILLED = OrderStatus.FILLED
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_BUY = Side.BUY
_GTC = TimeInForce.GTC
_FOK = TimeInForce.FOK


@define(slots=True)
class PaperMarketContext:
    """Prices, costs and liquidity the paper executor fills against."""

    prices: dict[str, float] = field(factory=dict, validator=positive_per_symbol)
    fee_bps: float = field(default=0.0, validator=basis_points)
    slippage_bps: float = field(default=0.0, validator=basis_points)
    #: the most quantity one order of the symbol can fill; absent = unlimited
    liquidity: dict[str, float] = field(factory=dict, validator=positive_per_symbol)

    def set_price(self, symbol: str, price: float) -> None:
        if not price > 0.0:
            raise ValueError(f"price for {symbol!r} must be > 0, got {price!r}")
        self.prices[symbol] = price


class PaperOrderExecutor:
    """Simulated fills; never sends anything."""

    name = "paper"
    sends_real_orders = False

    def __init__(
        self, market: PaperMarketContext | None = None, *, clock: Callable[[], float] = time.time
    ):
        self.market = market if market is not None else PaperMarketContext()
        self.clock = clock
        #: resting limit orders by client order id (they are not re-matched on later prices)
        self.open_orders: dict[str, OrderRequest] = {}

    def set_simulated_price(self, symbol: str, price: float) -> None:
        self.market.set_price(symbol, price)

    def execute_orders(self, orders: Sequence[OrderRequest]) -> list[OrderExecutionResult]:
        market = self.market
        prices = market.prices
        liquidity = market.liquidity
        fee_rate = market.fee_bps / _BPS
        buy_factor = 1.0 + market.slippage_bps / _BPS
        sell_factor = 1.0 - market.slippage_bps / _BPS
        now = self.clock()  # one batch is one instant of the simulated market
        results: list[OrderExecutionResult] = []
        append = results.append
        for order in orders:
            symbol = order.symbol
            price = order.reference_price
            if price is None:
                price = prices.get(symbol)
            if price is None:
                append(
                    self._rejected(
                        order,
                        f"no paper price for {symbol!r}: give the order a reference_price, or set [plugins.paper] prices or simulated_prices",
                    )
                )
                continue
            buy = order.side is _BUY
            fill_price = price * buy_factor if buy else price * sell_factor
            limit = order.limit_price
            if limit is not None:
                if (price > limit) if buy else (price < limit):
                    append(self._not_crossed(order, price))
                    continue
                if (fill_price > limit) if buy else (fill_price < limit):
                    fill_price = limit
            quantity = order.quantity
            status = _FILLED
            available = liquidity.get(symbol)
            if available is not None and quantity > available:
                if order.time_in_force is _FOK:
                    append(
                        self._rejected(
                            order,
                            f"fill-or-kill: only {available:g} of {quantity:g} {symbol} available",
                        )
                    )
                    continue
                quantity = available
                status = _PARTIAL
            fee = quantity * fill_price * fee_rate
            fill = OrderFill(
                order.client_order_id, symbol, order.side, quantity, fill_price, fee, now
            )
            if status is _FILLED:
                append(OrderExecutionResult(order, _FILLED, [fill], [], {}, None))
            else:
                append(
                    OrderExecutionResult(
                        order,
                        _PARTIAL,
                        [fill],
                        metadata={"unfilled_quantity": order.quantity - quantity},
                    )
                )
        return results

    def _rejected(self, order: OrderRequest, reason: str) -> OrderExecutionResult:
        return OrderExecutionResult(order, OrderStatus.REJECTED, reasons=[reason])

    def _not_crossed(self, order: OrderRequest, price: float) -> OrderExecutionResult:
        if order.time_in_force is not _GTC:
            return self._rejected(
                order,
                f"{order.time_in_force.value} limit {order.limit_price:g} not crossed by price {price:g}",
            )
        self.open_orders[order.client_order_id] = order
        return OrderExecutionResult(order, OrderStatus.ACCEPTED, metadata={"resting": True})

    def cancel_order(self, client_order_id: str) -> bool:
        """Cancel a resting limit order; ``False`` if there is none with that id."""
        return self.open_orders.pop(client_order_id, None) is not None


class ShadowOrderExecutor(PaperOrderExecutor):
    """The full pipeline runs, orders are only recorded as if executed (ORD-3): the same
    simulation as paper, each result marked ``metadata["shadow"] = True``."""

    name = "shadow"

    def __init__(
        self,
        market: PaperMarketContext | None = None,
        *,
        clock: Callable[[], float] = time.time,
        record_limit: int = 10_000,
    ):
        super().__init__(market, clock=clock)
        #: the most recent results (bounded: a long session stays in flat memory; the run
        #: log keeps the complete record)
        self.recorded: deque[OrderExecutionResult] = deque(maxlen=record_limit)

    def execute_orders(self, orders: Sequence[OrderRequest]) -> list[OrderExecutionResult]:
        results = super().execute_orders(orders)
        for result in results:
            result.metadata["shadow"] = True
        self.recorded.extend(results)
        return results
