"""A loopback Binance: the Spot REST API's order path on 127.0.0.1, for tests and rehearsals.

    from peaktrade_binance.testing import LoopbackBinance

    with LoopbackBinance() as binance:        # real HTTP, an ephemeral port
        binance.url, binance.api_key, binance.api_secret
        binance.fail_next("timeout_after_accept")
        binance.orders()                      # what it holds
        binance.calls                         # every request: method, path, params, status

It speaks Binance's wire protocol, not a simplification of it, so any Binance client can be
pointed at it (this package's adapter, ccxt's ``binance`` class):

* ``SIGNED`` endpoints need ``X-MBX-APIKEY`` and a ``signature`` = hex HMAC-SHA256 with the
  secret over the *total params*: the raw query string followed by the raw request body,
  exactly as sent, without the ``signature`` parameter; ``timestamp`` must lie within
  ``recvWindow`` (default 5000 ms, at most 60000) of the server clock and not more than
  1000 ms ahead of it;
* errors are Binance's: ``{"code": -1022, "msg": "..."}`` with its HTTP status: -2015 bad
  key (401), -1022 bad signature, -1021 timestamp outside recvWindow, -1013 filter failure,
  -2010 new order rejected (duplicate client order id, insufficient balance), -2011 cancel
  of an unknown order, -2013 unknown order, -1121 invalid symbol, -1102 missing parameter,
  -1003 too many requests (429 with ``Retry-After``);
* every answer carries ``X-MBX-USED-WEIGHT-1M`` (the request weight used this minute);
  above ``weight_limit`` requests are refused with 429;
* ``exchangeInfo`` lists full symbol entries (status, assets, precisions, order types,
  permissions, ``PRICE_FILTER`` / ``LOT_SIZE`` / ``MARKET_LOT_SIZE`` / ``NOTIONAL`` filters),
  and orders are checked against those filters;
* orders fill at once at the symbol's last price (market orders, and limit orders at or
  through it; a 0.1 % commission in the quote asset), otherwise rest until cancelled;
  ``/api/v3/order/test`` validates exactly like ``/api/v3/order`` and places nothing;
* the public tickers ``/api/v3/ticker/price``, ``/24hr`` and ``/bookTicker`` (``symbol``,
  ``symbols=["A","B"]`` or all) quote ``prices`` (``set_price``, with a spread for the book);
  ``market_data_down = True`` answers them 503 -1001, as Binance does when it cannot.

Stricter than Binance in one way, on purpose: a ``newClientOrderId`` is unique among *all*
orders the fake ever held (Binance: among open ones), so "exactly one order" is checkable.

Pointing ccxt's ``binance`` class at it (checked with ccxt 4.5): replace the host of every
``exchange.urls["api"]`` entry with :attr:`LoopbackBinance.url` (keep the paths: ``/api/v3``,
``/sapi/v1``), and set ``options = {"fetchMarkets": ["spot"]}`` so that loading markets does
not ask for futures. Margin-pair and currency endpoints answer empty lists.

The fake needs only the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["FAULTS", "LoopbackBinance", "DEFAULT_MARKETS"]

#: what :meth:`LoopbackBinance.fail_next` can inject into the next order submission
FAULTS = ("timeout_after_accept", "5xx", "5xx_not_placed", "rate_limit", "ip_ban")

#: symbol -> (base, quote, last price, tickSize, stepSize, minQty, minNotional)
DEFAULT_MARKETS: dict[str, tuple[str, str, str, str, str, str, str]] = {
    "BTCEUR": ("BTC", "EUR", "40000.00", "0.01", "0.00001", "0.00001", "5.00"),
    "ETHEUR": ("ETH", "EUR", "2000.00", "0.01", "0.0001", "0.0001", "5.00"),
}
DEFAULT_BALANCES = {"EUR": "100000", "BTC": "1", "ETH": "10"}
COMMISSION = Decimal("0.001")

#: request weights, as Binance publishes them (the rest weigh 1)
WEIGHTS = {
    ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/account"): 20,
    ("GET", "/api/v3/order"): 4,
    ("GET", "/api/v3/myTrades"): 20,
    ("GET", "/api/v3/ticker/price"): 2,
    ("GET", "/api/v3/ticker/24hr"): 2,
    ("GET", "/api/v3/ticker/bookTicker"): 2,
}
_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_PUBLIC = {"/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo", "/api/v3/ticker/price", "/api/v3/ticker/24hr",
           "/api/v3/ticker/bookTicker"}
_OPEN = ("NEW", "PARTIALLY_FILLED")
#: account-wide endpoints some clients call while loading markets (ccxt); answered empty
_EMPTY_LISTS = {("GET", "/sapi/v1/capital/config/getall"), ("GET", "/sapi/v1/margin/allPairs"),
                ("GET", "/sapi/v1/margin/isolated/allPairs")}
#: MARKET_DATA endpoints: the API key, no signature
_KEY_ONLY = {"/sapi/v1/margin/allPairs", "/sapi/v1/margin/isolated/allPairs"}
_HELD_STATUS = {"NEW": "open", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled", "CANCELED": "cancelled"}


class BinanceRefusal(Exception):
    """A Binance error answer: HTTP status, code and message."""

    def __init__(self, http_status: int, code: int, msg: str, headers: Mapping[str, str] | None = None, raw: bool = False):
        super().__init__(msg)
        self.http_status, self.code, self.msg = http_status, code, msg
        self.headers = dict(headers or {})
        self.raw = raw  # msg is the whole body (not JSON), as a proxy in front of Binance sends it


def _fmt(value: Decimal) -> str:
    return f"{value:.8f}"


class LoopbackBinance:
    """Binance Spot on ``127.0.0.1``. A context manager (or :meth:`start` / :meth:`stop`);
    ``url``, ``api_key`` and ``api_secret`` are what a client needs, the rest is the control
    handle tests use (the conformance kit's ``VenueFake``: ``requests``, ``orders()``,
    ``fail_next(kind)``)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        markets: Mapping[str, tuple[str, str, str, str, str, str, str]] | None = None,
        balances: Mapping[str, str] | None = None,
        weight_limit: int = 6000,
        retry_after_seconds: int = 1,
        clock: Any = None,
        port: int = 0,
    ):
        self.api_key = api_key or secrets.token_hex(32)
        self.api_secret = api_secret or secrets.token_hex(32)
        self.markets = {s: tuple(m) for s, m in (markets or DEFAULT_MARKETS).items()}
        self.prices = {s: Decimal(m[2]) for s, m in self.markets.items()}
        self.balances = {a: Decimal(v) for a, v in (balances or DEFAULT_BALANCES).items()}
        self.locked: dict[str, Decimal] = {}
        self.weight_limit = weight_limit
        self.retry_after_seconds = retry_after_seconds
        #: the venue's clock (epoch seconds) and how far it is ahead of it (negative: behind)
        self.clock = clock or time.time
        self.clock_offset = 0.0
        #: every request: method, path, params (without the signature), signature_valid, status
        self.calls: list[dict[str, Any]] = []
        self._orders: dict[str, dict[str, Any]] = {}  # newClientOrderId -> order
        self._trades: list[dict[str, Any]] = []
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._faults: deque[str] = deque()
        self._weight_minute = -1
        self._weight_used = 0
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._port = port
        #: while true the public tickers answer 503: the feed stops quoting
        self.market_data_down = False
        self.spreads: dict[str, Decimal] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- the control handle (VenueFake) -------------------------------------------------

    @property
    def requests(self) -> int:
        """How many HTTP requests reached the venue (any endpoint, valid or not)."""
        with self._lock:
            return len(self.calls)

    def orders(self) -> list[dict[str, Any]]:
        """Every order the venue holds, oldest first (never ``/order/test`` ones): the
        Binance order fields plus ``client_order_id`` (the ``newClientOrderId``), ``symbol``
        (Binance's, e.g. ``BTCEUR``), ``pair`` (``BTC/EUR``) and ``status`` as the kit
        reads it: ``open``, ``partially_filled``, ``filled`` or ``cancelled``."""
        with self._lock:
            out = []
            for o in self._orders.values():
                view = self._order_view(o)
                base, quote = self.markets[o["symbol"]][:2]
                out.append({**view, "binance_status": o["status"], "client_order_id": o["clientOrderId"],
                            "pair": f"{base}/{quote}", "status": _HELD_STATUS.get(o["status"], o["status"].lower())})
            return out

    def fail_next(self, kind: str) -> None:
        """The next order submission (``/order`` or ``/order/test``) fails as ``kind``:

        * ``timeout_after_accept``: placed; the answer is held until the fake stops;
        * ``5xx``: placed, then ``503`` -1007 — Binance's "execution status unknown";
        * ``5xx_not_placed``: ``502`` from a gateway (an HTML body), nothing placed;
        * ``rate_limit``: ``429`` -1003 with ``Retry-After``, nothing placed;
        * ``ip_ban``: ``418`` -1003 with ``Retry-After``, nothing placed.

        Several calls queue up."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        with self._lock:
            self._faults.append(kind)

    def set_price(self, symbol: str, price: str | float, *, spread: str | float | None = None) -> None:
        """Move the last price of ``symbol`` (Binance's name, e.g. ``BTCEUR``); ``spread``:
        the book's ask - bid around it (``bookTicker``)."""
        with self._lock:
            self.prices[symbol] = Decimal(str(price))
            if spread is not None:
                self.spreads[symbol] = Decimal(str(spread))

    def server_time_ms(self) -> int:
        return int((self.clock() + self.clock_offset) * 1000)

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the loopback Binance is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LoopbackBinance:
        handler = type("Handler", (_Handler,), {"venue": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="loopback-binance", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases answers held back by timeout_after_accept
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> LoopbackBinance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request --------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        """``(HTTP status, JSON answer, extra headers)`` for one request."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        raw_query = parts.query
        raw_body = body.decode("utf-8", "replace")
        form = raw_body if "json" not in (headers.get("Content-Type") or "") else ""
        call: dict[str, Any] = {"method": method, "path": path, "params": {}, "signature_valid": None, "status": None}
        with self._lock:
            self.calls.append(call)
        extra: dict[str, str] = {}
        hold = False
        try:
            pairs = parse_qsl(raw_query, keep_blank_values=True) + parse_qsl(form, keep_blank_values=True)
            params: dict[str, str] = {}
            for key, value in pairs:
                if key in params:
                    raise BinanceRefusal(400, -1101, f"Duplicate values for a parameter detected: {key}.")
                params[key] = value
            call["params"] = {k: v for k, v in params.items() if k != "signature"}
            extra["X-MBX-USED-WEIGHT-1M"] = str(self._use_weight(method, path, params))
            if path in _KEY_ONLY and "signature" not in params:
                self._verify_key(headers)
            elif path not in _PUBLIC:
                call["signature_valid"] = self._verify(headers, raw_query, form, params)
            answer, hold = self._route(method, path, params)
            status = 200
        except BinanceRefusal as refusal:
            status, answer = refusal.http_status, _Raw(refusal.msg) if refusal.raw else {"code": refusal.code, "msg": refusal.msg}
            extra.update(refusal.headers)
        call["status"] = status
        if hold:
            self._stopping.wait(600)  # placed; the answer comes only when the fake stops
        return status, answer, extra

    def _use_weight(self, method: str, path: str, params: Mapping[str, str]) -> int:
        weight = WEIGHTS.get((method, path), 1)
        if path == "/api/v3/openOrders" and method == "GET":
            weight = 6 if params.get("symbol") else 80
        if path.startswith("/api/v3/ticker/") and not params.get("symbol"):
            weight *= 2
        with self._lock:
            minute = self.server_time_ms() // 60_000
            if minute != self._weight_minute:
                self._weight_minute, self._weight_used = minute, 0
            self._weight_used += weight
            used = self._weight_used
        if used > self.weight_limit:
            wait = 60 - self.server_time_ms() % 60_000 // 1000
            raise BinanceRefusal(429, -1003, f"Too much request weight used; current limit is {self.weight_limit} "
                                 "request weight per 1 MINUTE.", {"Retry-After": str(wait), "X-MBX-USED-WEIGHT-1M": str(used)})
        return used

    def _verify(self, headers: Mapping[str, str], raw_query: str, raw_body: str, params: Mapping[str, str]) -> bool:
        """Binance's checks of a SIGNED request, in Binance's order: key, signature, time."""
        self._verify_key(headers)
        signature = params.get("signature", "")
        total = _without_signature(raw_query) + _without_signature(raw_body)
        expected = hmac.new(self.api_secret.encode(), total.encode(), hashlib.sha256).hexdigest()
        if not signature or not hmac.compare_digest(signature.lower().encode(), expected.encode()):
            raise BinanceRefusal(400, -1022, "Signature for this request is not valid.")
        try:
            stamp = int(params["timestamp"])
        except KeyError:
            raise BinanceRefusal(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.") from None
        except ValueError:
            raise BinanceRefusal(400, -1100, "Illegal characters found in parameter 'timestamp'.") from None
        try:
            window = int(params.get("recvWindow", "5000"))
        except ValueError:
            raise BinanceRefusal(400, -1100, "Illegal characters found in parameter 'recvWindow'.") from None
        if not 0 < window <= 60_000:
            raise BinanceRefusal(400, -1131, "recvWindow must be less than 60000")
        now = self.server_time_ms()
        if stamp >= now + 1000:
            raise BinanceRefusal(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - stamp > window:
            raise BinanceRefusal(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return True

    def _verify_key(self, headers: Mapping[str, str]) -> None:
        key = headers.get("X-MBX-APIKEY") or ""
        if not key:
            raise BinanceRefusal(401, -2014, "API-key format invalid.")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise BinanceRefusal(401, -2015, "Invalid API-key, IP, or permissions for action.")

    # -- the endpoints ------------------------------------------------------------------

    def _route(self, method: str, path: str, p: Mapping[str, str]) -> tuple[Any, bool]:
        route = (method, path)
        if route == ("GET", "/api/v3/ping"):
            return {}, False
        if route == ("GET", "/api/v3/time"):
            return {"serverTime": self.server_time_ms()}, False
        if route == ("GET", "/api/v3/exchangeInfo"):
            return self._exchange_info(p), False
        if route == ("GET", "/api/v3/ticker/price"):
            return self._tickers(p, lambda s: {"symbol": s, "price": _fmt(self.prices[s])}), False
        if route == ("GET", "/api/v3/ticker/24hr"):
            return self._tickers(p, self._ticker_24hr), False
        if route == ("GET", "/api/v3/ticker/bookTicker"):
            return self._tickers(p, self._book_ticker), False
        if route in (("POST", "/api/v3/order"), ("POST", "/api/v3/order/test")):
            return self._new_order(p, test=path.endswith("/test"))
        if route == ("GET", "/api/v3/order"):
            return self._order_view(self._find(p, -2013, "Order does not exist.")), False
        if route == ("DELETE", "/api/v3/order"):
            return self._cancel(p), False
        if route == ("GET", "/api/v3/openOrders"):
            symbol = self._symbol(p, required=False)
            with self._lock:
                return [self._order_view(o) for o in self._orders.values() if o["status"] in _OPEN and symbol in (None, o["symbol"])], False
        if route == ("DELETE", "/api/v3/openOrders"):
            return self._cancel_all(self._symbol(p)), False
        if route == ("GET", "/api/v3/account"):
            return self._account(), False
        if route == ("GET", "/api/v3/myTrades"):
            return self._my_trades(p), False
        if route in _EMPTY_LISTS:
            return [], False  # no wallet or margin API here: clients that ask get nothing
        raise BinanceRefusal(404, -1000, f"Unknown endpoint {method} {path}")

    def _symbol(self, p: Mapping[str, str], required: bool = True) -> str | None:
        symbol = p.get("symbol")
        if not symbol:
            if required:
                raise BinanceRefusal(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
            return None
        if symbol not in self.markets:
            raise BinanceRefusal(400, -1121, "Invalid symbol.")
        return symbol

    def _exchange_info(self, p: Mapping[str, str]) -> dict[str, Any]:
        wanted = list(self.markets)
        if p.get("symbol"):
            wanted = [self._symbol(p) or ""]
        elif p.get("symbols"):
            try:
                wanted = [str(s) for s in json.loads(p["symbols"])]
            except (ValueError, TypeError):
                raise BinanceRefusal(400, -1100, "Illegal characters found in parameter 'symbols'.") from None
            for s in wanted:
                self._symbol({"symbol": s})
        return {
            "timezone": "UTC",
            "serverTime": self.server_time_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": self.weight_limit},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            ],
            "exchangeFilters": [],
            "symbols": [self._symbol_entry(s) for s in wanted],
        }

    def _symbol_entry(self, symbol: str) -> dict[str, Any]:
        base, quote, _last, tick, step, min_qty, min_notional = self.markets[symbol]
        return {
            "symbol": symbol,
            "status": "TRADING",
            "baseAsset": base,
            "baseAssetPrecision": 8,
            "quoteAsset": quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": False,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000", "tickSize": tick},
                {"filterType": "LOT_SIZE", "minQty": min_qty, "maxQty": "9000.00000000", "stepSize": step},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000", "stepSize": "0.00000000"},
                {"filterType": "NOTIONAL", "minNotional": min_notional, "applyMinToMarket": True,
                 "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            ],
            "permissions": ["SPOT"],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def _tickers(self, p: Mapping[str, str], one: Any) -> Any:
        if self.market_data_down:
            raise BinanceRefusal(503, -1001, "Internal error; unable to process your request. Please try again.")
        if p.get("symbols"):
            try:
                wanted = json.loads(p["symbols"])
            except ValueError:
                wanted = None
            if not isinstance(wanted, list) or not wanted or not all(isinstance(s, str) for s in wanted):
                raise BinanceRefusal(400, -1100, "Illegal characters found in parameter 'symbols'.")
            for symbol in wanted:
                if symbol not in self.markets:
                    raise BinanceRefusal(400, -1121, "Invalid symbol.")
            with self._lock:
                return [one(s) for s in wanted]
        symbol = self._symbol(p, required=False)
        with self._lock:
            return one(symbol) if symbol else [one(s) for s in self.markets]

    def _book_ticker(self, symbol: str) -> dict[str, Any]:
        price, half = self.prices[symbol], self.spreads.get(symbol, Decimal(0)) / 2
        return {"symbol": symbol, "bidPrice": _fmt(price - half), "bidQty": "1.00000000",
                "askPrice": _fmt(price + half), "askQty": "1.00000000"}

    def _ticker_24hr(self, symbol: str) -> dict[str, Any]:
        price, now = _fmt(self.prices[symbol]), self.server_time_ms()
        return {
            "symbol": symbol, "priceChange": "0.00000000", "priceChangePercent": "0.000", "weightedAvgPrice": price,
            "prevClosePrice": price, "lastPrice": price, "lastQty": "0.00000000", "bidPrice": price, "bidQty": "1.00000000",
            "askPrice": price, "askQty": "1.00000000", "openPrice": price, "highPrice": price, "lowPrice": price,
            "volume": "0.00000000", "quoteVolume": "0.00000000", "openTime": now - 86_400_000, "closeTime": now,
            "firstId": -1, "lastId": -1, "count": 0,
        }

    # -- orders -------------------------------------------------------------------------

    def _new_order(self, p: Mapping[str, str], *, test: bool) -> tuple[Any, bool]:
        symbol = self._symbol(p) or ""
        side, kind = p.get("side", ""), p.get("type", "")
        if side not in ("BUY", "SELL"):
            raise BinanceRefusal(400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        if kind not in ("LIMIT", "MARKET", "LIMIT_MAKER"):
            raise BinanceRefusal(400, -1116, "Invalid orderType.")
        quantity = _decimal(p, "quantity")
        price = _decimal(p, "price") if kind != "MARKET" else None
        tif = p.get("timeInForce")
        if kind == "LIMIT" and tif not in ("GTC", "IOC", "FOK"):
            raise BinanceRefusal(400, -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.")
        client_id = p.get("newClientOrderId") or f"fake-{secrets.token_hex(8)}"
        if not _CLIENT_ID.match(client_id):
            raise BinanceRefusal(400, -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
        self._check_filters(symbol, kind, quantity, price)
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            if fault in ("rate_limit", "ip_ban"):
                raise BinanceRefusal(429 if fault == "rate_limit" else 418, -1003,
                                     "Too many requests; please use the websocket for live updates to avoid polling the API.",
                                     {"Retry-After": str(self.retry_after_seconds)})
            if fault == "5xx_not_placed":  # the gateway answers, in HTML, before Binance saw it
                raise BinanceRefusal(502, 0, "<html><body><h1>502 Bad Gateway</h1></body></html>", raw=True)
            if client_id in self._orders:
                raise BinanceRefusal(400, -2010, "Duplicate order sent.")
            last = self.prices[symbol]
            base, quote = self.markets[symbol][:2]
            needed_asset, needed = (quote, quantity * (price or last)) if side == "BUY" else (base, quantity)
            if self.balances.get(needed_asset, Decimal(0)) - self.locked.get(needed_asset, Decimal(0)) < needed:
                raise BinanceRefusal(400, -2010, "Account has insufficient balance for requested action.")
            if test:
                return {}, fault == "timeout_after_accept"
            now = self.server_time_ms()
            order = {
                "symbol": symbol, "orderId": next(self._order_ids), "orderListId": -1, "clientOrderId": client_id,
                "price": price or Decimal(0), "origQty": quantity, "executedQty": Decimal(0), "cummulativeQuoteQty": Decimal(0),
                "status": "NEW", "timeInForce": tif or "GTC", "type": kind, "side": side, "time": now, "updateTime": now,
                "locked": (needed_asset, needed),
            }
            self._orders[client_id] = order
            fills = self._match(order, last)
            if order["status"] == "NEW" and tif in ("IOC", "FOK"):
                order["status"] = "EXPIRED"
            if order["status"] == "NEW":
                self.locked[needed_asset] = self.locked.get(needed_asset, Decimal(0)) + needed
            else:
                order["locked"] = None
            answer = self._order_view(order)
            answer.pop("time")
            answer.update(transactTime=now, workingTime=now, fills=fills)
        if fault == "5xx":
            raise BinanceRefusal(503, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.")
        return answer, fault == "timeout_after_accept"

    def _check_filters(self, symbol: str, kind: str, quantity: Decimal, price: Decimal | None) -> None:
        entry = {f["filterType"]: f for f in self._symbol_entry(symbol)["filters"]}
        if price is not None:
            f = entry["PRICE_FILTER"]
            low, high, tick = Decimal(f["minPrice"]), Decimal(f["maxPrice"]), Decimal(f["tickSize"])
            if price < low or price > high or (tick and (price - low) % tick):
                raise BinanceRefusal(400, -1013, "Filter failure: PRICE_FILTER")
        f = entry["LOT_SIZE"]
        low, high, step = Decimal(f["minQty"]), Decimal(f["maxQty"]), Decimal(f["stepSize"])
        if quantity < low or quantity > high or (step and (quantity - low) % step):
            raise BinanceRefusal(400, -1013, "Filter failure: LOT_SIZE")
        f = entry["NOTIONAL"]
        notional = quantity * (price if price is not None else self.prices[symbol])
        if (kind != "MARKET" or f["applyMinToMarket"]) and notional < Decimal(f["minNotional"]):
            raise BinanceRefusal(400, -1013, "Filter failure: NOTIONAL")

    def _match(self, order: dict[str, Any], last: Decimal) -> list[dict[str, Any]]:
        """Market orders, and limit orders at or through the last price, fill at once."""
        price = order["price"]
        if order["type"] != "MARKET" and (price < last if order["side"] == "BUY" else price > last):
            return []
        if order["type"] == "LIMIT_MAKER":
            order["status"] = "EXPIRED"  # would take liquidity
            return []
        base, quote = self.markets[order["symbol"]][:2]
        qty, notional = order["origQty"], order["origQty"] * last
        fee = (notional * COMMISSION).quantize(Decimal("0.00000001"))
        sign = 1 if order["side"] == "BUY" else -1
        self.balances[base] = self.balances.get(base, Decimal(0)) + sign * qty
        self.balances[quote] = self.balances.get(quote, Decimal(0)) - sign * notional - fee
        trade_id = next(self._trade_ids)
        order.update(executedQty=qty, cummulativeQuoteQty=notional, status="FILLED", updateTime=self.server_time_ms())
        self._trades.append({
            "symbol": order["symbol"], "id": trade_id, "orderId": order["orderId"], "orderListId": -1,
            "price": _fmt(last), "qty": _fmt(qty), "quoteQty": _fmt(notional), "commission": _fmt(fee),
            "commissionAsset": quote, "time": order["updateTime"], "isBuyer": sign > 0, "isMaker": False, "isBestMatch": True,
        })
        return [{"price": _fmt(last), "qty": _fmt(qty), "commission": _fmt(fee), "commissionAsset": quote, "tradeId": trade_id}]

    def _find(self, p: Mapping[str, str], code: int, msg: str) -> dict[str, Any]:
        symbol = self._symbol(p)
        cid, oid = p.get("origClientOrderId"), p.get("orderId")
        if not cid and not oid:
            raise BinanceRefusal(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        with self._lock:
            order = self._orders.get(cid) if cid else next((o for o in self._orders.values() if str(o["orderId"]) == oid), None)
        if order is None or order["symbol"] != symbol:
            raise BinanceRefusal(400, code, msg)
        return order

    def _cancel(self, p: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            order = self._find(p, -2011, "Unknown order sent.")
            if order["status"] not in _OPEN:
                raise BinanceRefusal(400, -2011, "Unknown order sent.")
            self._cancel_one(order)
            return {"origClientOrderId": order["clientOrderId"], **self._order_view(order), "clientOrderId": p.get("newClientOrderId") or secrets.token_hex(11)}

    def _cancel_one(self, order: dict[str, Any]) -> None:
        order["status"], order["updateTime"] = "CANCELED", self.server_time_ms()
        if order.get("locked"):
            asset, amount = order["locked"]
            self.locked[asset] = self.locked.get(asset, Decimal(0)) - amount
            order["locked"] = None

    def _cancel_all(self, symbol: str | None) -> list[dict[str, Any]]:
        with self._lock:
            hit = [o for o in self._orders.values() if o["status"] in _OPEN and o["symbol"] == symbol]
            if not hit:
                raise BinanceRefusal(400, -2011, "Unknown order sent.")
            for o in hit:
                self._cancel_one(o)
            return [{"origClientOrderId": o["clientOrderId"], **self._order_view(o)} for o in hit]

    def _order_view(self, o: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "symbol": o["symbol"], "orderId": o["orderId"], "orderListId": -1, "clientOrderId": o["clientOrderId"],
            "price": _fmt(o["price"]), "origQty": _fmt(o["origQty"]), "executedQty": _fmt(o["executedQty"]),
            "cummulativeQuoteQty": _fmt(o["cummulativeQuoteQty"]), "status": o["status"], "timeInForce": o["timeInForce"],
            "type": o["type"], "side": o["side"], "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": o["time"],
            "updateTime": o["updateTime"], "isWorking": o["status"] in _OPEN, "workingTime": o["time"],
            "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def _account(self) -> dict[str, Any]:
        with self._lock:
            balances = [
                {"asset": a, "free": _fmt(v - self.locked.get(a, Decimal(0))), "locked": _fmt(self.locked.get(a, Decimal(0)))}
                for a, v in sorted(self.balances.items())
            ]
        return {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000", "seller": "0.00000000"},
            "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False, "requireSelfTradePrevention": False,
            "preventSor": False, "updateTime": self.server_time_ms(), "accountType": "SPOT", "balances": balances,
            "permissions": ["SPOT"], "uid": 1,
        }

    def _my_trades(self, p: Mapping[str, str]) -> list[dict[str, Any]]:
        symbol, order_id = self._symbol(p), p.get("orderId")
        with self._lock:
            return [dict(t) for t in self._trades if t["symbol"] == symbol and order_id in (None, str(t["orderId"]))]


def _without_signature(raw: str) -> str:
    """``raw`` (a query string or form body, as sent) without its ``signature`` parameter."""
    return "&".join(part for part in raw.split("&") if not part.startswith("signature=")) if raw else ""


def _decimal(p: Mapping[str, str], name: str) -> Decimal:
    text = p.get(name)
    if not text:
        raise BinanceRefusal(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BinanceRefusal(400, -1100, f"Illegal characters found in parameter '{name}'.") from None
    if not value.is_finite() or value <= 0 or "e" in text.lower():
        raise BinanceRefusal(400, -1100, f"Illegal characters found in parameter '{name}'.")
    return value


class _Raw(str):
    """An answer that is not JSON."""


class _Handler(BaseHTTPRequestHandler):
    venue: LoopbackBinance
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, answer, extra = self.venue.handle(self.command, self.path, self.headers, body)
        raw = isinstance(answer, _Raw)
        data = answer.encode() if raw else json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if raw else "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up waiting (timeout_after_accept)
            pass

    do_GET = do_POST = do_DELETE = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read their own output
        pass
