"""Orders, fills, results and the executor / exchange client protocols (ORD-1, EXCH-1)."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from attrs import Factory, define, field, frozen, setters
from attrs.validators import gt, optional


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(enum.StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    #: accepted by the venue's validation, never placed (validate-only testnet)
    VALIDATED = "validated"
    FILLED = "filled"
    PARTIALLY_FILLED = "partially_filled"
    REJECTED = "rejected"
    RISK_BLOCKED = "risk_blocked"
    GATE_BLOCKED = "gate_blocked"
    ERROR = "error"


def _check_limit_price(order: OrderRequest, attribute: Any, value: float | None) -> None:
    if order.order_type is OrderType.LIMIT and value is None:
        raise ValueError("a limit order needs limit_price")
    if order.order_type is OrderType.MARKET and value is not None:
        raise ValueError("a market order takes no limit_price")


@frozen
class OrderRequest:
    """One order as a strategy or an orders file asks for it."""

    symbol: str = field(validator=lambda _o, _a, v: _nonempty(v, "symbol"))
    side: Side = field(converter=Side)
    quantity: float = field(validator=gt(0.0))
    order_type: OrderType = field(default=OrderType.MARKET, converter=OrderType)
    limit_price: float | None = field(default=None, validator=[optional(gt(0.0)), _check_limit_price])
    time_in_force: TimeInForce = field(default=TimeInForce.GTC, converter=TimeInForce)
    reduce_only: bool = False
    strategy: str = "manual"
    strategy_params: Mapping[str, Any] = Factory(dict)
    #: where the order came from (``orders.csv:17``, ``bar 2024-01-05``); part of the id
    source_ref: str = ""
    #: reference price for notional and collar checks when the order has no limit price
    reference_price: float | None = field(default=None, validator=optional(gt(0.0)))
    client_order_id: str = field(default="")

    def __attrs_post_init__(self) -> None:
        if not self.client_order_id:
            object.__setattr__(self, "client_order_id", self.derive_client_order_id())

    def derive_client_order_id(self) -> str:
        """The same order from the same source position always gets the same id, so a
        retry or a re-run after a crash is recognised by the venue and the run log."""
        key = "|".join(
            (
                self.strategy,
                self.source_ref,
                self.symbol,
                self.side,
                repr(self.quantity),
                self.order_type,
                repr(self.limit_price),
                self.time_in_force,
                "R" if self.reduce_only else "",
            )
        )
        return "pt-" + hashlib.blake2b(key.encode(), digest_size=10).hexdigest()

    @property
    def price(self) -> float | None:
        """The price the notional is computed at: limit price, else the reference price."""
        return self.limit_price if self.limit_price is not None else self.reference_price

    @property
    def signed_quantity(self) -> float:
        return self.quantity if self.side is Side.BUY else -self.quantity

    @property
    def notional(self) -> float | None:
        price = self.price
        return None if price is None else abs(self.quantity * price)


def _nonempty(value: str, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must not be empty")


@define(slots=True, on_setattr=setters.NO_OP)
class OrderFill:
    """One execution. Built per fill on the hot path, so no validators here: executors and
    ``result_from_response`` check venue values where they enter."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float = 0.0
    timestamp: float = 0.0


@define(slots=True, on_setattr=setters.NO_OP)
class OrderExecutionResult:
    """What became of one order. Mutable and slotted: built once per order on the hot path."""

    order: OrderRequest
    status: OrderStatus
    fills: list[OrderFill] = Factory(list)
    reasons: list[str] = Factory(list)
    metadata: dict[str, Any] = Factory(dict)
    venue_response: dict[str, Any] | None = None

    @property
    def filled_quantity(self) -> float:
        return sum(f.quantity for f in self.fills)

    @property
    def fees(self) -> float:
        return sum(f.fee for f in self.fills)

    @property
    def average_price(self) -> float | None:
        qty = self.filled_quantity
        return sum(f.quantity * f.price for f in self.fills) / qty if qty else None


@runtime_checkable
class OrderExecutor(Protocol):
    """Executes orders. ``sends_real_orders`` says whether anything leaves the process: an
    executor that declares it is always wrapped by the core's guard."""

    name: str
    sends_real_orders: bool

    def execute_orders(self, orders: Sequence[OrderRequest]) -> list[OrderExecutionResult]: ...

    def cancel_order(self, client_order_id: str) -> bool: ...


@runtime_checkable
class ExchangeClient(Protocol):
    """A venue adapter. Every method may raise ``ExchangeError`` (or a subclass)."""

    name: str

    def ping(self) -> dict[str, Any]: ...

    def submit_order(self, order: OrderRequest) -> dict[str, Any]: ...

    def cancel_order(self, client_order_id: str) -> bool: ...

    def cancel_all(self) -> int: ...

    def fetch_order(self, client_order_id: str) -> dict[str, Any] | None: ...

    def fetch_positions(self) -> dict[str, float]: ...

    def fetch_balances(self) -> dict[str, float]: ...


class ExchangeError(Exception):
    """The venue refused or failed a request."""


class TransientExchangeError(ExchangeError):
    """Temporary failure (rate limit, 503): safe to retry."""


class UnknownOutcomeError(ExchangeError):
    """The request may or may not have reached the venue (timeout, 5xx after send): the
    order must be looked up by client id before anything is retried."""
