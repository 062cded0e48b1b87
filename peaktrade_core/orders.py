"""Orders, fills, results and the executor protocol (ORD-1). The exchange client contract
lives in :mod:`peaktrade_core.venues` and is re-exported here."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from attrs import Factory, define, field, frozen, setters

from peaktrade_core.venues import ClientOrderIds, ExchangeClient, InstrumentRules


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


def enum_converter(kind: type[enum.StrEnum]) -> Callable[[Any], Any]:
    """A converter to ``kind``: a dict look-up (a member hashes as its value), else the
    enum's own call, which raises its own error (an enum call costs several look-ups)."""
    members = {m.value: m for m in kind}

    def convert(value: Any) -> Any:
        try:
            return members[value]
        except (KeyError, TypeError):
            return kind(value)

    return convert


to_side, to_order_type, to_time_in_force = enum_converter(Side), enum_converter(OrderType), enum_converter(TimeInForce)


def check_positive(name: str, value: Any) -> None:
    """What attrs' ``gt(0.0)`` checks, with its message; a value that cannot be compared
    with a number raises ``TypeError``, as there."""
    if not value > 0.0:
        raise ValueError(f"'{name}' must be > 0.0: {value}")


@frozen
class OrderRequest:
    """One order as a strategy or an orders file asks for it.

    Checked when built, in this order (the first failure raises ``ValueError``): a
    non-empty ``symbol``; ``side``, ``order_type`` and ``time_in_force`` one of their
    values; ``quantity > 0``; ``limit_price`` (if any) ``> 0``, given exactly for limit
    orders; ``reference_price`` (if any) ``> 0``. The checks are one function
    (:func:`_check_order`), not a validator per field: a strategy builds an order per
    decision, and per-field validators were most of the constructor's cost."""

    symbol: str
    side: Side = field(converter=to_side)
    quantity: float
    order_type: OrderType = field(default=OrderType.MARKET, converter=to_order_type)
    limit_price: float | None = None
    time_in_force: TimeInForce = field(default=TimeInForce.GTC, converter=to_time_in_force)
    reduce_only: bool = False
    strategy: str = "manual"
    strategy_params: Mapping[str, Any] = Factory(dict)
    #: where the order came from (``orders.csv:17``, ``bar 2024-01-05``); part of the id
    source_ref: str = ""
    #: reference price for notional and collar checks when the order has no limit price
    reference_price: float | None = None
    #: empty: the core assigns one (see ``peaktrade_core.venues.ClientOrderIds``); a run
    #: replaces it with an id of its own, unique per run and stable within it
    client_order_id: str = field(default="", eq=False)  # equality is the order, not its id

    def __attrs_post_init__(self) -> None:
        _check_order(self.symbol, self.quantity, self.order_type, self.limit_price, self.reference_price)
        if not self.client_order_id:  # a counter, not a hash: this runs for every order
            object.__setattr__(self, "client_order_id", _next_process_id())

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


#: ids for orders made outside a run (unique in this process; a run gives its own)
_PROCESS_IDS = ClientOrderIds.fresh()
_next_process_id = _PROCESS_IDS.stream().__next__

_FIELDS = tuple(a.name for a in OrderRequest.__attrs_attrs__)  # type: ignore[attr-defined]
#: the slots' own setters: they bypass the frozen ``__setattr__`` (and nothing else)
_SETTERS = tuple(getattr(OrderRequest, name).__set__ for name in _FIELDS)


def orders_from_checked_columns(
    columns: tuple[Sequence[Any], ...], texts: Sequence[str], kinds: tuple[Sequence[Any], ...], source: str, default_strategy: str
) -> Iterator[OrderRequest]:
    """:class:`OrderRequest` objects from stored columns that already passed every check of
    its constructor, without running those checks again.

    ``columns``: line numbers, text ids of symbol, strategy and client order id (into
    ``texts``; 0 is "", i.e. the default strategy, a generated id), quantity, limit and
    reference price (``nan``: none), flags; ``kinds``: side, order type, time in force and
    reduce-only, each a table indexed by the flags. ``source_ref`` is ``{source}:{line}``;
    ``strategy_params`` is always a new empty dict.

    Only for the orders file's parser, whose row validation mirrors the constructor (a
    property test holds the two equal): Side, OrderType and TimeInForce members, a
    non-empty symbol, a positive finite quantity and prices, a limit price exactly for
    limit orders. Everything else builds orders with the constructor."""
    new, next_id = object.__new__, _next_process_id
    s_symbol, s_side, s_quantity, s_type, s_limit, s_tif, s_reduce, s_strategy, s_params, s_source, s_reference, s_client = _SETTERS
    sides, types, tifs, reduces = kinds
    strategies = {i: texts[i] or default_strategy for i in set(columns[2])}
    prefix = f"{source}:"
    # one loop, the look-ups inline (indexing a list or tuple is cheaper than a call per field)
    for line, symbol, strategy, client, quantity, limit, reference, flags in zip(*columns, strict=True):
        order = new(OrderRequest)
        s_symbol(order, texts[symbol])
        s_side(order, sides[flags])
        s_quantity(order, quantity)
        s_type(order, types[flags])
        s_limit(order, None if limit != limit else limit)
        s_tif(order, tifs[flags])
        s_reduce(order, reduces[flags])
        s_strategy(order, strategies[strategy])
        s_params(order, {})
        s_source(order, f"{prefix}{line}")
        s_reference(order, None if reference != reference else reference)
        s_client(order, texts[client] if client else next_id())
        yield order


def _check_order(symbol: Any, quantity: Any, order_type: OrderType, limit_price: Any, reference_price: Any) -> None:
    """:class:`OrderRequest`'s checks, in the order its docstring gives."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError("symbol must not be empty")
    check_positive("quantity", quantity)
    if limit_price is None:
        if order_type is OrderType.LIMIT:
            raise ValueError("a limit order needs limit_price")
    else:
        check_positive("limit_price", limit_price)
        if order_type is OrderType.MARKET:
            raise ValueError("a market order takes no limit_price")
    if reference_price is not None:
        check_positive("reference_price", reference_price)


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
    #: the currency of ``fee`` (``None``: the symbol's quote currency)
    fee_currency: str | None = None


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


class ExchangeError(Exception):
    """The venue refused or failed a request."""


class TransientExchangeError(ExchangeError):
    """Temporary failure (rate limit, 503): safe to retry."""


class UnknownOutcomeError(ExchangeError):
    """The request may or may not have reached the venue (timeout, 5xx after send): the
    order must be looked up by client id before anything is retried."""


__all__ = [
    "ExchangeClient",
    "ExchangeError",
    "InstrumentRules",
    "OrderExecutionResult",
    "OrderExecutor",
    "OrderFill",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "Side",
    "TimeInForce",
    "TransientExchangeError",
    "UnknownOutcomeError",
]
