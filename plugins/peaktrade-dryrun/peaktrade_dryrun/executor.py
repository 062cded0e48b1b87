"""Testnet and live executors in dry-run (seed 000 §2.2, ORD-4): they log every order with
``[LIVE-DRY-RUN]``, keep an event per order and fill at simulated prices. Nothing is sent.

The simulated price of an order: its ``reference_price``, else a configured price
(``set_simulated_price``, the session's simulated prices, ``[plugins.dryrun] prices``), else
the venue's ticker (``ticker(symbol)``: a read-only call, cached ``ticker_ttl_seconds`` per
symbol) when a venue is configured. No price at all: ``rejected`` with a reason saying how
to give one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from peaktrade_core.plugin_api import (
    LIVE_DRY_RUN,
    EffectiveMode,
    OrderExecutionResult,
    OrderFill,
    OrderRequest,
    OrderStatus,
    Side,
    logger,
)


class DryRunOrderExecutor:
    """Simulates what the venue would do and records it. ``mode`` names the simulated path."""

    name = "dry-run"
    mode: EffectiveMode
    sends_real_orders = False

    def __init__(
        self,
        simulated_prices: Mapping[str, float] | None = None,
        *,
        event_limit: int = 10_000,
        clock: Callable[[], float] = time.time,
        ticker: Callable[[str], float | None] | None = None,
        ticker_ttl_seconds: float = 10.0,
    ):
        self.simulated_prices: dict[str, float] = {}
        #: read-only price source of the venue (``None``: no venue configured)
        self.ticker = ticker
        self.ticker_ttl_seconds = ticker_ttl_seconds
        self._ticks: dict[str, tuple[float, float | None]] = {}
        for symbol, price in (simulated_prices or {}).items():
            self.set_simulated_price(symbol, price)
        #: one dict per order or cancel, most recent last (bounded: flat memory in long
        #: sessions; the run log keeps everything)
        self.events: deque[dict[str, Any]] = deque(maxlen=event_limit)
        self.clock = clock
        self._open: set[str] = set()
        self._log = logger.bind(tag=LIVE_DRY_RUN)

    def set_simulated_price(self, symbol: str, price: float) -> None:
        if not price > 0.0:
            raise ValueError(f"simulated price for {symbol!r} must be > 0, got {price!r}")
        self.simulated_prices[symbol] = float(price)

    def execute_orders(self, orders: Sequence[OrderRequest]) -> list[OrderExecutionResult]:
        now = self.clock()
        return [self._simulate(order, now) for order in orders]

    def price_for(self, order: OrderRequest, now: float) -> tuple[float | None, str]:
        """``(price, where it came from)``: reference price, configured price, venue ticker."""
        if order.reference_price is not None:
            return order.reference_price, "reference_price"
        price = self.simulated_prices.get(order.symbol)
        if price is not None:
            return price, "configured"
        if self.ticker is None:
            return None, ""
        at, price = self._ticks.get(order.symbol, (-1e300, None))
        if now - at > self.ticker_ttl_seconds:
            price = self.ticker(order.symbol)
            self._ticks[order.symbol] = (now, price)
        return price, "venue_ticker" if price is not None else ""

    def _simulate(self, order: OrderRequest, now: float) -> OrderExecutionResult:
        price, source = self.price_for(order, now)
        metadata: dict[str, Any] = {"mode": self.mode.value, "dry_run": True}
        if source:
            metadata["price_source"] = source
        fills: list[OrderFill] = []
        reasons: list[str] = []
        buy = order.side is Side.BUY
        limit = order.limit_price
        if price is None:
            status = OrderStatus.REJECTED
            reasons.append(
                f"no price to simulate {order.symbol!r}: give the order a reference_price, or set "
                f"[plugins.dryrun] prices, or configure a venue with a ticker"
            )
        elif limit is not None and ((price > limit) if buy else (price < limit)):
            status = OrderStatus.ACCEPTED  # would rest on the book
            self._open.add(order.client_order_id)
        else:
            status = OrderStatus.FILLED
            fills.append(
                OrderFill(
                    order.client_order_id, order.symbol, order.side, order.quantity, price, 0.0, now
                )
            )
        self.events.append(
            {
                "event": "order",
                "at": now,
                "mode": self.mode.value,
                "client_order_id": order.client_order_id,
                "symbol": order.symbol,
                "side": order.side.value,
                "quantity": order.quantity,
                "order_type": order.order_type.value,
                "limit_price": limit,
                "simulated_price": price,
                "status": status.value,
            }
        )
        self._log.info(
            "{}: {} {:g} {} {} ({}) at simulated price {} -> {}; not sent",
            self.mode.value,
            order.side.value,
            order.quantity,
            order.symbol,
            order.order_type.value if limit is None else f"limit {limit:g}",
            order.client_order_id,
            "?" if price is None else f"{price:g}",
            status.value,
        )
        return OrderExecutionResult(order, status, fills, reasons, metadata)

    def cancel_order(self, client_order_id: str) -> bool:
        """Cancel a simulated resting order; ``False`` if there is none with that id."""
        known = client_order_id in self._open
        self._open.discard(client_order_id)
        self.events.append(
            {
                "event": "cancel",
                "at": self.clock(),
                "mode": self.mode.value,
                "client_order_id": client_order_id,
                "found": known,
            }
        )
        self._log.info(
            "{}: cancel {} -> {}; not sent",
            self.mode.value,
            client_order_id,
            "cancelled" if known else "unknown",
        )
        return known


class TestnetOrderExecutor(DryRunOrderExecutor):
    """Mode ``testnet``: what would go to the venue's testnet, simulated."""

    __test__ = False  # a name pytest would otherwise collect
    name = "testnet-dry-run"
    mode = EffectiveMode.TESTNET_DRY_RUN


class LiveOrderExecutor(DryRunOrderExecutor):
    """Mode ``live`` while any gate is closed: what would go to the venue, simulated."""

    name = "live-dry-run"
    mode = EffectiveMode.LIVE_DRY_RUN
