"""Venue types: the exchange client protocol, instrument rules and the venue error.

Placeholder holding exactly the agreed interface so the venue tools can be built and
tested; the venue core's module of the same name replaces it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from attrs import frozen

if TYPE_CHECKING:
    from peaktrade_core.orders import OrderRequest


class VenueError(Exception):
    """The venue client for the configured exchange cannot be built (one line)."""


@runtime_checkable
class ExchangeClient(Protocol):
    name: str
    testnet: bool
    validate_only: bool
    endpoint: str

    def ping(self) -> dict[str, Any]: ...

    def server_time(self) -> float: ...

    def instrument_rules(self, symbol: str) -> InstrumentRules: ...

    def submit_order(self, order: OrderRequest) -> dict[str, Any]: ...

    def fetch_order(self, client_order_id: str, symbol: str) -> dict[str, Any] | None: ...

    def cancel_order(self, client_order_id: str, symbol: str) -> bool: ...

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]: ...

    def cancel_all(self, symbol: str | None = None) -> int: ...

    def fetch_balances(self) -> dict[str, float]: ...

    def fetch_positions(self) -> dict[str, float]: ...


def _off_grid(value: float, step: float) -> bool:
    ratio = value / step
    return not math.isclose(ratio, round(ratio), rel_tol=0.0, abs_tol=1e-9)


@frozen
class InstrumentRules:
    symbol: str
    tick_size: float | None = None
    lot_step: float | None = None
    min_quantity: float | None = None
    min_notional: float | None = None

    def problems(self, order: OrderRequest) -> list[str]:
        """Why the venue would refuse ``order``; refuse, never round."""
        out = []
        if self.min_quantity is not None and order.quantity < self.min_quantity:
            out.append(f"quantity {order.quantity:.12g} below the minimum {self.min_quantity:.12g}")
        if self.lot_step and _off_grid(order.quantity, self.lot_step):
            out.append(f"quantity {order.quantity:.12g} not a multiple of the lot step {self.lot_step:.12g}")
        if self.tick_size and order.limit_price is not None and _off_grid(order.limit_price, self.tick_size):
            out.append(f"price {order.limit_price:.12g} not a multiple of the tick size {self.tick_size:.12g}")
        notional = order.notional
        if self.min_notional is not None and notional is not None and notional < self.min_notional:
            out.append(f"notional {notional:.12g} below the minimum {self.min_notional:.12g}")
        return out
