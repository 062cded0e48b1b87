"""Venues: the exchange client contract and instrument rules (the agreed venue interface).

Placeholder with the agreed definitions only; the venue layer supplies the full module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from attrs import frozen

if TYPE_CHECKING:
    from peaktrade_core.orders import OrderRequest


@runtime_checkable
class ExchangeClient(Protocol):
    name: str  # the venue name, e.g. "kraken"
    testnet: bool  # True: sandbox or validate-only, nothing real is placed
    validate_only: bool  # True: orders are validated by the venue, never placed
    endpoint: str  # base URL (no secrets) for status / run log

    def ping(self) -> dict[str, Any]: ...  # {"status": "online", ...}

    def server_time(self) -> float: ...  # epoch seconds (venue clock)

    def instrument_rules(self, symbol: str) -> InstrumentRules: ...

    def submit_order(self, order: OrderRequest) -> dict[str, Any]: ...  # VenueOrderResponse

    def fetch_order(self, client_order_id: str, symbol: str) -> dict[str, Any] | None: ...

    def cancel_order(self, client_order_id: str, symbol: str) -> bool: ...

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]: ...

    def cancel_all(self, symbol: str | None = None) -> int: ...

    def fetch_balances(self) -> dict[str, float]: ...

    def fetch_positions(self) -> dict[str, float]: ...

    # optional (looked up with getattr): fetch_ticker(symbol) -> float,
    #   arm_dead_man_switch(timeout_seconds: float) -> None, disarm_dead_man_switch() -> None


def _is_multiple(value: float, step: float) -> bool:
    q = value / step
    return abs(q - round(q)) <= 1e-9 + abs(q) * 1e-15


@frozen
class InstrumentRules:
    symbol: str
    tick_size: float | None = None
    lot_step: float | None = None
    min_quantity: float | None = None
    min_notional: float | None = None

    def problems(self, order: OrderRequest) -> list[str]:
        """One line per broken rule (refuse, never round); empty when the order fits."""
        out = []
        if self.tick_size and order.limit_price is not None and not _is_multiple(order.limit_price, self.tick_size):
            out.append(f"limit price {order.limit_price!r} is not a multiple of the tick size {self.tick_size!r}")
        if self.lot_step and not _is_multiple(order.quantity, self.lot_step):
            out.append(f"quantity {order.quantity!r} is not a multiple of the lot step {self.lot_step!r}")
        if self.min_quantity and order.quantity < self.min_quantity * (1 - 1e-12):
            out.append(f"quantity {order.quantity!r} is below the minimum {self.min_quantity!r}")
        if self.min_notional:
            notional = order.notional
            if notional is None:
                out.append(f"minimum notional {self.min_notional!r} cannot be checked: the order has no price")
            elif notional < self.min_notional * (1 - 1e-12):
                out.append(f"notional {notional:.8g} is below the minimum {self.min_notional!r}")
        return out
