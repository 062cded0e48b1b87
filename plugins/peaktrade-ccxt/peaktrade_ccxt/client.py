"""The ``ExchangeClient`` over a ccxt exchange. Importing this module imports ccxt.

What ccxt raises becomes what the core's executor understands:

==========================================================  ==========================================
ccxt                                                        peaktrade
==========================================================  ==========================================
``RateLimitExceeded``, ``DDoSProtection``                   ``TransientExchangeError``: back off, retry
``RequestTimeout``, ``NetworkError``, ``ExchangeNotAvailable``,
``OperationFailed``, any HTTP 5xx answer — on *submit*      ``UnknownOutcomeError``: look the order up
                                                            by client id before anything else
the same on any other call (nothing is placed by it)        ``TransientExchangeError``
``InvalidNonce`` (clock outside the receive window)         ``ExchangeError``: refused, nothing placed
``InsufficientFunds``, ``InvalidOrder``, ``BadSymbol``,
``AuthenticationError``, any other ccxt ``ExchangeError``   ``ExchangeError``: a definite refusal
==========================================================  ==========================================

``OrderNotFound`` is an answer, not an error: ``fetch_order`` gives ``None``, ``cancel_order``
gives ``False``. Messages never carry a query string (ccxt puts signed URLs into some).
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt
from peaktrade_core.plugin_api import (
    ExchangeError,
    InstrumentRules,
    TradingMode,
    TransientExchangeError,
    UnknownOutcomeError,
    VenueError,
    register_secret,
)

from peaktrade_ccxt.hooks import PREFIX
from peaktrade_ccxt.settings import CcxtSettings

#: options every exchange gets unless [plugins.ccxt] options says otherwise: no warning
#: (binance raises one) when all open orders are listed at once, spot markets
DEFAULT_OPTIONS: dict[str, Any] = {"warnOnFetchOpenOrdersWithoutSymbol": False, "defaultType": "spot"}
#: per exchange: load only the spot markets (binance would also load futures and options,
#: from other hosts)
#: (the list form: every ccxt 4 reads it; newer ones also take {"types": [...]})
EXCHANGE_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchMarkets": ["spot"], "fetchMargins": False},
    "binanceus": {"fetchMarkets": ["spot"], "fetchMargins": False},
}

#: exchanges whose fetch_order cannot look an order up by the client order id (kraken
#: reads ccxt's clientOrderId as its numeric userref): find it in the listed orders instead
SCAN_LOOKUP = frozenset({"kraken"})

_SIGNED_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")


def _one_line(exc: BaseException) -> str:
    text = _SIGNED_QUERY.sub(r"\1?…", str(exc)).replace("\n", " ").strip()
    return f"{type(exc).__name__}: {text[:300]}"


# -- building ------------------------------------------------------------------------------


def build_client(venue: str, mode: Any, settings: Any, symbols: tuple[str, ...] = ()) -> CcxtClient:
    """The client for ``venue`` (``ccxt:<id>``) in ``mode``; raises ``VenueError`` with one
    line when ccxt does not know the exchange, or it has no sandbox for testnet mode."""
    exchange_id = venue[len(PREFIX) :]
    settings = settings if isinstance(settings, CcxtSettings) else CcxtSettings()
    if exchange_id not in ccxt.exchanges:
        raise VenueError(f"venue {venue!r}: ccxt {ccxt.__version__} knows no exchange {exchange_id!r}")
    mode = TradingMode(mode)
    if mode not in (TradingMode.TESTNET, TradingMode.LIVE):
        raise VenueError(f"venue {venue!r}: mode {mode.value!r} never gets a venue client")
    testnet = mode is TradingMode.TESTNET
    credentials = {}
    for ccxt_name, ref in (("apiKey", settings.api_key), ("secret", settings.api_secret), ("password", settings.api_password)):
        if ref is not None:
            credentials[ccxt_name] = value = ref.resolve()
            register_secret(value)
    exchange = _new_exchange(exchange_id, settings, credentials)
    if testnet:
        if not exchange.urls.get("test"):
            raise VenueError(
                f"venue {venue!r}: ccxt has no sandbox for {exchange_id}: testnet mode is refused "
                "(use paper or shadow mode, or an adapter with validate-only orders)"
            )
        exchange.set_sandbox_mode(True)
    production = _hosts(exchange.urls.get("apiBackup", exchange.urls["api"]))
    overrides = settings.sandbox_urls if testnet else settings.urls
    if overrides is not None:
        exchange.urls["api"] = _override(exchange.urls["api"], overrides)
    if testnet and _hosts(exchange.urls["api"]) & production:
        host = sorted(_hosts(exchange.urls["api"]) & production)[0]
        raise VenueError(f"[plugins.ccxt] sandbox_urls: {host} is a production host of {exchange_id}: refused in testnet mode")
    lookup = settings.client_order_id_lookup or ("scan" if exchange_id in SCAN_LOOKUP else "param")
    return CcxtClient(venue, exchange, testnet=testnet, lookup=lookup, symbols=symbols)


def _new_exchange(exchange_id: str, settings: CcxtSettings, credentials: Mapping[str, str]) -> Any:
    """ccxt's exchange instance with the plugin's options, its production URLs."""
    options = _merged(_merged(DEFAULT_OPTIONS, EXCHANGE_OPTIONS.get(exchange_id, {})), settings.options)
    exchange = getattr(ccxt, exchange_id)(
        {
            **credentials,
            "timeout": int(settings.timeout_seconds * 1000),  # ccxt counts milliseconds
            "enableRateLimit": settings.rate_limit,
            "options": options,
        }
    )
    if not settings.fetch_currencies:
        exchange.has["fetchCurrencies"] = False
        exchange.options["fetchCurrencies"] = False
    return exchange


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
    return out


def _override(api: Any, overrides: str | Mapping[str, Any]) -> Any:
    """``urls['api']`` with ``overrides`` applied: a table is merged key by key; one URL
    moves every API URL to its scheme, host and port (so no request can reach another host)."""
    if isinstance(overrides, Mapping):
        if isinstance(api, Mapping):
            return _merged(api, overrides)
        raise VenueError(f"[plugins.ccxt] urls: this exchange has one API URL ({api}); give one URL, not a table")
    origin = urlsplit(overrides)
    if isinstance(api, Mapping):
        return {key: _override(value, overrides) for key, value in api.items()}
    if not isinstance(api, str):
        return api
    parts = urlsplit(api)
    return urlunsplit((origin.scheme, origin.netloc, parts.path, parts.query, parts.fragment))


def _hosts(api: Any) -> set[str]:
    """Every host (with port) an ``urls['api']`` value sends to."""
    if isinstance(api, str):
        return {urlsplit(api).netloc.lower()} if "://" in api else set()
    if isinstance(api, Mapping):
        return set().union(*(_hosts(v) for v in api.values()))
    return set()


def _endpoint(api: Any) -> str:
    """The base URL shown for the venue: the public REST API's."""
    if isinstance(api, str):
        return api.rstrip("/")
    if isinstance(api, Mapping):
        for key in ("public", "rest", "spot", *api):
            if key in api:
                found = _endpoint(api[key])
                if found.startswith(("http://", "https://")):
                    return found
    return "?"


def _step(value: Any, precision_mode: int) -> float | None:
    """A tick or lot step from ccxt's market precision, whatever its precision mode."""
    if value is None:
        return None
    if precision_mode == ccxt.TICK_SIZE:
        return float(value)
    if precision_mode == ccxt.DECIMAL_PLACES:
        return float(f"1e-{int(float(value))}")
    return None  # SIGNIFICANT_DIGITS: no fixed grid to check against


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) and number > 0 else None


# -- the client ----------------------------------------------------------------------------

_STATUSES = {"closed": "filled", "canceled": "cancelled", "cancelled": "cancelled", "expired": "cancelled", "rejected": "rejected"}


class CcxtClient:
    """An ``ExchangeClient`` over one ccxt exchange instance (sync ccxt)."""

    validate_only = False  # ccxt has no venue-independent validate-only order: testnet = sandbox

    def __init__(self, venue: str, exchange: Any, *, testnet: bool, lookup: str = "param", symbols: tuple[str, ...] = ()):
        self.name = venue
        #: where the exchange lists open orders only per symbol: the symbols to list
        self.symbols = symbols
        self.testnet = testnet
        self.endpoint = _endpoint(exchange.urls.get("api"))
        self.exchange = exchange
        self.lookup = lookup
        self._status = threading.local()  # the HTTP status of this thread's last answer
        answered = exchange.on_rest_response

        def on_rest_response(code: Any, *args: Any) -> Any:
            self._status.code = code
            return answered(code, *args)

        exchange.on_rest_response = on_rest_response

    def __repr__(self) -> str:  # never the credentials
        return f"CcxtClient({self.name}, {self.endpoint}, testnet={self.testnet})"

    # -- errors --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _calling(self, action: str, *, submit: bool = False) -> Iterator[None]:
        self._status.code = None
        try:
            yield
        except ccxt.BaseError as exc:
            raise self._translate(exc, action, submit) from None

    def _translate(self, exc: Exception, action: str, submit: bool) -> Exception:
        message = f"{self.name} {action}: {_one_line(exc)}"
        if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            return TransientExchangeError(message)
        if isinstance(exc, ccxt.InvalidNonce):
            return ExchangeError(message)
        server_error = isinstance(self._status.code, int) and self._status.code >= 500
        if isinstance(exc, ccxt.OperationFailed) or server_error:  # NetworkError, timeouts, 5xx
            return UnknownOutcomeError(message) if submit else TransientExchangeError(message)
        return ExchangeError(message)

    def _markets(self) -> Any:
        with self._calling("load_markets"):
            return self.exchange.load_markets()

    # -- reads ---------------------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        if self.exchange.has.get("fetchTime"):
            return {"status": "online", "server_time": self.server_time()}
        self._markets()
        return {"status": "online"}

    def server_time(self) -> float:
        if not self.exchange.has.get("fetchTime"):
            raise ExchangeError(f"{self.name}: ccxt cannot read this exchange's clock (no fetchTime)")
        with self._calling("fetch_time"):
            return float(self.exchange.fetch_time()) / 1000.0

    def fetch_ticker(self, symbol: str) -> float:
        with self._calling("fetch_ticker"):
            ticker = self.exchange.fetch_ticker(symbol)
        price = _number(ticker.get("last"))
        if price is None and _number(ticker.get("bid")) and _number(ticker.get("ask")):
            price = (float(ticker["bid"]) + float(ticker["ask"])) / 2
        if price is None:
            raise ExchangeError(f"{self.name}: no price for {symbol}")
        return price

    def instrument_rules(self, symbol: str) -> InstrumentRules:
        markets = self._markets()
        market = markets.get(symbol)
        if market is None:
            raise ExchangeError(f"{self.name}: unknown symbol {symbol!r}")
        precision, limits = market.get("precision") or {}, market.get("limits") or {}
        mode = self.exchange.precisionMode
        return InstrumentRules(
            symbol,
            tick_size=_step(precision.get("price"), mode),
            lot_step=_step(precision.get("amount"), mode),
            min_quantity=_number((limits.get("amount") or {}).get("min")),
            min_notional=_number((limits.get("cost") or {}).get("min")),
        )

    def fetch_balances(self) -> dict[str, float]:
        with self._calling("fetch_balance"):
            balance = self.exchange.fetch_balance()
        return {asset: float(total) for asset, total in (balance.get("total") or {}).items() if total is not None}

    def fetch_positions(self) -> dict[str, float]:
        return {}  # spot: holdings are balances

    # -- orders ----------------------------------------------------------------------------

    def submit_order(self, order: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        price = None
        if str(order.order_type) == "limit":
            price = order.limit_price
            params["timeInForce"] = str(order.time_in_force).upper()
        self._refuse_rounding(order, price)
        with self._calling("create_order", submit=True):
            placed = self.exchange.create_order(order.symbol, str(order.order_type), str(order.side), order.quantity, price, params)
        return self._response(placed, order.client_order_id)

    def _refuse_rounding(self, order: Any, price: float | None) -> None:
        """ccxt rounds prices and amounts to the market's precision before sending; an order
        that does not fit is refused here instead (never rounded), whoever calls."""
        problems = self.instrument_rules(order.symbol).problems(order)
        with self._calling("create_order"):
            sent = [(order.quantity, self.exchange.amount_to_precision(order.symbol, order.quantity))]
            if price is not None:
                sent.append((price, self.exchange.price_to_precision(order.symbol, price)))
        problems += [f"{value!r} would be sent as {text}" for value, text in sent if abs(float(text) - value) > abs(value) * 1e-12]
        if problems:
            raise ExchangeError(f"{self.name}: {order.symbol}: refused before submit: {'; '.join(problems)}")

    def fetch_order(self, client_order_id: str, symbol: str) -> dict[str, Any] | None:
        found = self._find(client_order_id, symbol)
        if found is None:
            return None
        if not found.get("trades") and _number(found.get("filled")) and self.exchange.has.get("fetchOrderTrades"):
            with contextlib.suppress(ccxt.BaseError):  # without them: one fill at the average price
                found = {**found, "trades": self.exchange.fetch_order_trades(found["id"], symbol)}
        return self._response(found, client_order_id)

    def cancel_order(self, client_order_id: str, symbol: str) -> bool:
        self._markets()
        with self._calling("cancel_order"):
            try:
                if self.lookup == "scan":
                    found = self._find(client_order_id, symbol)
                    if found is None or found.get("status") != "open":
                        return False
                    self.exchange.cancel_order(found["id"], symbol)
                else:
                    self.exchange.cancel_order(client_order_id, symbol, {"clientOrderId": client_order_id})
            except ccxt.OrderNotFound:  # unknown, or no longer open
                return False
        return True

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return [self._response(o, o.get("clientOrderId") or "") for o in self._open_orders(symbol)]

    def _open_orders(self, symbol: str | None) -> list[Any]:
        """ccxt's open orders; for all symbols, where the exchange lists them only per
        symbol, those of every symbol the mode may trade."""
        self._markets()
        with self._calling("fetch_open_orders"):
            try:
                return list(self.exchange.fetch_open_orders(symbol))
            except ccxt.ArgumentsRequired:
                if symbol is not None or not self.symbols:
                    raise
            return [o for each in self.symbols for o in self.exchange.fetch_open_orders(each)]

    def cancel_all(self, symbol: str | None = None) -> int:
        open_orders = self._open_orders(symbol)
        by_symbol: dict[str, list[Any]] = {}
        for o in open_orders:
            by_symbol.setdefault(o["symbol"], []).append(o)
        cancelled = 0
        for each, orders in sorted(by_symbol.items()):
            with self._calling("cancel_all_orders"):
                if self.exchange.has.get("cancelAllOrders"):
                    answer = self.exchange.cancel_all_orders(each)
                    cancelled += len(answer) if isinstance(answer, list) and answer else len(orders)
                    continue
                for o in orders:
                    with contextlib.suppress(ccxt.OrderNotFound):  # filled or cancelled meanwhile
                        self.exchange.cancel_order(o["id"], each)
                        cancelled += 1
        return cancelled

    def _find(self, client_order_id: str, symbol: str) -> dict[str, Any] | None:
        """The ccxt order with this client order id, or ``None`` when the venue has none."""
        self._markets()
        with self._calling("fetch_order"):
            if self.lookup == "param":
                try:
                    return self.exchange.fetch_order(client_order_id, symbol, {"clientOrderId": client_order_id})
                except ccxt.OrderNotFound:
                    return None
            candidates = list(self.exchange.fetch_open_orders(symbol))
            if self.exchange.has.get("fetchClosedOrders"):
                candidates += self.exchange.fetch_closed_orders(symbol)
            elif self.exchange.has.get("fetchOrders"):
                candidates += self.exchange.fetch_orders(symbol)
        return next((o for o in candidates if o.get("clientOrderId") == client_order_id), None)

    def _response(self, order: Mapping[str, Any], client_order_id: str) -> dict[str, Any]:
        """A ccxt order structure as the core's ``VenueOrderResponse``."""
        fills = []
        for trade in order.get("trades") or ():
            if _number(trade.get("amount")) and _number(trade.get("price")):
                fills.append(_fill(trade["amount"], trade["price"], trade.get("fee"), trade.get("timestamp")))
        filled = _number(order.get("filled"))
        if not fills and filled:  # no trade list (a lookup): one fill at the average price
            price = _number(order.get("average")) or _number(order.get("price"))
            if price:
                fills.append(_fill(filled, price, order.get("fee"), order.get("lastTradeTimestamp")))
        status = _STATUSES.get(order.get("status") or "", "partially_filled" if filled else "accepted")
        response: dict[str, Any] = {
            "client_order_id": order.get("clientOrderId") or client_order_id,
            "status": status,
            "venue_order_id": str(order.get("id")),
            "symbol": order.get("symbol"),
            "fills": fills,
        }
        if status in ("rejected", "cancelled") and not fills:
            response["reason"] = f"{order.get('status')} at {self.name}"
        return response


def _fill(quantity: Any, price: Any, fee: Any, timestamp: Any) -> dict[str, Any]:
    fill: dict[str, Any] = {"quantity": float(quantity), "price": float(price), "fee": 0.0}
    if isinstance(fee, Mapping) and fee.get("cost") is not None:
        fill["fee"] = float(fee["cost"])
        if fee.get("currency"):
            fill["fee_currency"] = str(fee["currency"])
    if timestamp is not None:
        fill["timestamp"] = float(timestamp) / 1000.0
    return fill
