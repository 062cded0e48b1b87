"""Venues: the exchange client contract, instrument rules, client order ids, and the
core's checks around a venue (EXCH-1..3).

A venue plugin declares the venue names it serves (``exchange_venues`` hook) and builds an
:class:`ExchangeClient` for one (``create_exchange_client`` hook). The core builds the client
for ``[environment] exchange`` in ``testnet`` and ``live`` modes only, checks that the client
fits the mode (:func:`check_client_for_mode`), and owns the executor over it.

Building a client must not touch the network: the core builds one for ``status`` and for
``peaktrade kill`` as well as for sessions.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import time
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from attrs import frozen

if TYPE_CHECKING:
    from collections.abc import Iterator

    from peaktrade_core.environment import TradingMode
    from peaktrade_core.orders import OrderRequest
    from peaktrade_core.state import StateStore

#: the code of a refused instrument-rules check (risk records, summaries, run log reasons)
INSTRUMENT_RULES = "instrument_rules"


class VenueError(Exception):
    """The venue for this environment cannot be used; the message is one line for the user."""


@runtime_checkable
class ExchangeClient(Protocol):
    """A venue adapter. Every method may raise ``ExchangeError`` (or a subclass).

    Optional methods, looked up with ``getattr``: ``fetch_ticker(symbol) -> float`` (a
    last/mid price, read-only: prices dry runs), ``arm_dead_man_switch(timeout_seconds)`` and
    ``disarm_dead_man_switch()`` (the venue cancels every open order unless re-armed in time).
    """

    name: str  #: the venue name, e.g. "kraken"
    testnet: bool  #: True: sandbox or validate-only, nothing real is placed
    validate_only: bool  #: True: orders are validated by the venue, never placed
    endpoint: str  #: base URL (no secrets), for status and the run log

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


def _is_multiple(value: float, step: float) -> bool:
    """``value`` is a whole number of ``step``s, up to float noise (0.1 * 3 is 3 steps of 0.1;
    half a step never is)."""
    q = value / step
    return abs(q - round(q)) <= 1e-9 + abs(q) * 1e-15


@frozen
class InstrumentRules:
    """What a venue accepts for one symbol. The core refuses an order that breaks a rule;
    it never rounds a price or a quantity to make it fit."""

    symbol: str
    tick_size: float | None = None
    lot_step: float | None = None
    min_quantity: float | None = None
    min_notional: float | None = None

    def problems(self, order: OrderRequest) -> list[str]:
        """One line per broken rule; empty when the order fits."""
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


# -- client order ids ---------------------------------------------------------------------

#: prefixes of every id generator of this process: an id with one of them was assigned by
#: the core (not given by the user), so a new run may replace it
_GENERATED: set[str] = set()


class ClientOrderIds:
    """Client order ids of one scope (a run): 32 lowercase hex characters, 16 from the scope
    (hashed once) and 16 from the order's position. Deterministic from (scope, position):
    the same run gives an order the same id again, a new run gives every order a new one.
    32 hex characters fit Kraken's ``cl_ord_id`` (a UUID without dashes) and Binance's
    36-character ``newClientOrderId``."""

    __slots__ = ("prefix", "_counter")

    def __init__(self, scope: str):
        self.prefix = hashlib.blake2b(scope.encode(), digest_size=8).hexdigest()
        self._counter = itertools.count()
        _GENERATED.add(self.prefix)

    @classmethod
    def fresh(cls) -> ClientOrderIds:
        """A scope of its own (process, time, randomness): for orders made outside a run."""
        return cls(f"{os.getpid()}:{time.time_ns()}:{os.urandom(8).hex()}")

    def at(self, position: int) -> str:
        return f"{self.prefix}{position:016x}"

    def next(self) -> str:
        return f"{self.prefix}{next(self._counter):016x}"

    def stream(self) -> Iterator[str]:
        """The ids :meth:`next` gives, one after another (formatted in a C loop)."""
        return map(f"{self.prefix}{{:016x}}".format, self._counter)

    def owns(self, client_order_id: str) -> bool:
        return client_order_id[:16] == self.prefix and len(client_order_id) == 32


def is_generated(client_order_id: str) -> bool:
    """Was this id assigned by the core (not given in the orders file or by the caller)?"""
    return len(client_order_id) == 32 and client_order_id[:16] in _GENERATED


# -- the client and the mode -------------------------------------------------------------


def check_client_for_mode(client: Any, mode: TradingMode) -> None:
    """Raise :class:`VenueError` (one line) unless ``client`` may be used in ``mode``:
    testnet mode takes only a testnet (sandbox or validate-only) client, live mode only a
    production one. A client that does not say which it is is refused in both."""
    from peaktrade_core.environment import TradingMode

    name = getattr(client, "name", type(client).__name__)
    testnet = getattr(client, "testnet", None)
    endpoint = getattr(client, "endpoint", "?")
    if not isinstance(testnet, bool) or not isinstance(getattr(client, "validate_only", None), bool):
        raise VenueError(f"venue client {name!r} does not state testnet/validate_only: refused (fail closed)")
    if mode is TradingMode.TESTNET and not testnet:
        raise VenueError(f"venue client {name!r} is a production client ({endpoint}): refused in testnet mode")
    if mode is TradingMode.LIVE and testnet:
        raise VenueError(f"venue client {name!r} is a testnet client ({endpoint}): refused in live mode")
    if mode not in (TradingMode.TESTNET, TradingMode.LIVE):
        raise VenueError(f"mode {mode.value!r} never gets a venue client (research cannot reach a venue)")


def venue_info(client: Any) -> dict[str, Any] | None:
    """What status, the run log and the summary say about the venue."""
    if client is None:
        return None
    return {
        "venue": getattr(client, "name", "?"),
        "endpoint": getattr(client, "endpoint", "?"),
        "testnet": getattr(client, "testnet", None),
        "validate_only": getattr(client, "validate_only", None),
    }


# -- the kill switch reaches the venue ------------------------------------------------------

def cancel_open_orders(client: Any, store: StateStore, *, operator: str, source: str, reason: str) -> dict[str, Any]:
    """``client.cancel_all()`` and record it beside the kill-switch history. Never raises:
    the outcome (``cancelled`` count or ``error``) is returned and recorded."""
    from peaktrade_core.secrets import redact
    from peaktrade_core.state import now_iso

    cancelled: int | None = None
    error: str | None = None
    try:
        cancelled = int(client.cancel_all())
    except Exception as exc:  # noqa: BLE001 - reported, never lost; the engage already stands
        error = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])
    event = {
        "at": now_iso(),
        "venue": getattr(client, "name", "?"),
        "endpoint": getattr(client, "endpoint", "?"),
        "operator": operator,
        "source": source,
        "reason": reason,
        "cancelled": cancelled,
        "error": error,
    }
    from peaktrade_core.store.venues import VenueCancelRepository

    VenueCancelRepository(store).add(event)
    from peaktrade_core.log import SAFETY, logger

    if error is None:
        logger.bind(tag=SAFETY).warning("kill switch: cancelled {} open order(s) on {} ({})", cancelled, event["venue"], source)
    else:
        logger.bind(tag=SAFETY).error("kill switch: cancelling open orders on {} failed: {}", event["venue"], error)
    return event


def venue_cancel_history(store: StateStore, limit: int | None = None) -> list[dict[str, Any]]:
    """Every recorded cancel, oldest first (with ``limit``: the newest ``limit``)."""
    from peaktrade_core.store.venues import VenueCancelRepository

    return VenueCancelRepository(store).history(limit)


def ticker_price(client: Any, symbol: str) -> float | None:
    """The venue's price for ``symbol`` (read-only), or ``None`` when it has none."""
    fetch = getattr(client, "fetch_ticker", None)
    if fetch is None:
        return None
    try:
        price = float(fetch(symbol))
    except Exception:  # noqa: BLE001 - no price is an answer the caller handles
        return None
    return price if math.isfinite(price) and price > 0 else None
