"""A loopback reference venue: a real HTTP exchange on 127.0.0.1, its adapter and its plugin.

Three parts, each the reference for writing your own:

* :class:`LoopbackVenue` — the venue. A JSON API over ``http.server`` on a thread, with
  HMAC-SHA256 request signing, unique client order ids, open orders, validate-only orders,
  instrument rules, server time, a ticker (scriptable: :meth:`LoopbackVenue.set_price`,
  ``market_data_down``, ``clock``) and fault injection. It satisfies the
  :class:`~peaktrade_core.testing.venue_kit.VenueFake` control interface.
* :class:`LoopbackClient` — an ``ExchangeClient`` for it over the standard library (urllib).
* :class:`LoopbackVenuePlugin` — the venue plugin (``exchange_venues`` → ``["loopback"]``,
  ``create_exchange_client``, ``open_market_feed`` (polls the ticker), ``config_sections``); :data:`plugin` is an instance to
  register or to point an entry point at (``loopback = peaktrade_core.testing.loopback:plugin``).

The API (every answer is JSON; errors are ``{"error": "..."}``)::

    GET    /api/ping                      {"status": "online"}
    GET    /api/time                      {"server_time": epoch seconds}
    GET    /api/rules?symbol=S            {"symbol", "tick_size", "lot_step", "min_quantity", "min_notional"}
    GET    /api/ticker?symbol=S           {"symbol", "price", "bid", "ask", "time"} (503 while market data is down)
    POST   /api/orders                    {client_order_id, symbol, side, quantity, type, limit_price, validate}
    GET    /api/orders/<id>?symbol=S      the order, or 404
    DELETE /api/orders/<id>?symbol=S      {"cancelled": true|false}
    GET    /api/open_orders[?symbol=S]    [order, ...]
    DELETE /api/open_orders[?symbol=S]    {"cancelled": n}
    GET    /api/balances                  {"EUR": 100000.0, ...}
    GET    /api/positions                 {"BTC/EUR": 0.01, ...}

Every ``/api`` request except ping, time, rules and ticker is signed: headers ``PT-Key``,
``PT-Timestamp`` (milliseconds) and ``PT-Signature`` = hex HMAC-SHA256 with the secret over
``timestamp + METHOD + path?query + body``. A bad key or signature, or a timestamp more than
``recv_window_seconds`` from the venue clock (a replay), is answered 401.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from attrs import field, frozen

from peaktrade_core.hookspecs import hookimpl
from peaktrade_core.secrets import SecretRef

VENUE = "loopback"

#: the faults :meth:`LoopbackVenue.fail_next` injects into the next order submission
FAULTS = ("timeout_after_accept", "5xx", "rate_limit")

DEFAULT_PRICES = {"BTC/EUR": 40_000.0, "ETH/EUR": 2_000.0}
DEFAULT_RULES = {
    "BTC/EUR": {"tick_size": 0.1, "lot_step": 0.0001, "min_quantity": 0.0001, "min_notional": 5.0},
    "ETH/EUR": {"tick_size": 0.01, "lot_step": 0.001, "min_quantity": 0.001, "min_notional": 5.0},
}
FEE_RATE = 0.001  # of the notional, in the quote currency

_PUBLIC = {"/api/ping", "/api/time", "/api/rules", "/api/ticker"}


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """The request signature both sides compute."""
    message = timestamp.encode() + method.encode() + path.encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# -- the venue ----------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class LoopbackVenue:
    """A small exchange on ``127.0.0.1`` (an ephemeral port). Use as a context manager, or
    :meth:`start` / :meth:`stop`. ``url``, ``api_key`` and ``api_secret`` are what a client
    needs; the rest is the control handle tests use (see ``VenueFake``)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        prices: Mapping[str, float] | None = None,
        rules: Mapping[str, Mapping[str, float]] | None = None,
        balances: Mapping[str, float] | None = None,
        port: int = 0,
    ):
        self.api_key = api_key or "lk-" + secrets.token_hex(8)
        self.api_secret = api_secret or secrets.token_hex(32)
        self.prices = dict(prices or DEFAULT_PRICES)
        self.rules = {s: dict(r) for s, r in (rules or DEFAULT_RULES).items()}
        self.balances = dict(balances or {"EUR": 100_000.0, "BTC": 1.0, "ETH": 10.0})
        self.positions: dict[str, float] = {}
        self._orders: dict[str, dict[str, Any]] = {}
        self._faults: deque[str] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests = 0
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.clock_offset = 0.0  # seconds the venue clock is ahead
        #: the ticker's time (a test drives it with the pipeline's clock); default: now
        self.clock: Any = None
        #: while true the ticker answers 503: quotes stop, prices go stale
        self.market_data_down = False
        self.spreads: dict[str, float] = {}
        self.recv_window_seconds = 30.0  # how old (or early) a signed request may be

    # -- VenueFake ---------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """How many HTTP requests reached the venue (any endpoint, signed or not)."""
        return self._requests

    def orders(self) -> list[dict[str, Any]]:
        """Every order the venue holds (open, filled, cancelled), oldest first; never the
        validate-only ones, which are not placed."""
        with self._lock:
            return [dict(o) for o in self._orders.values()]

    def fail_next(self, kind: str) -> None:
        """The next order submission fails this way: ``timeout_after_accept`` (the order is
        placed, the answer never comes), ``5xx`` (a 502, nothing placed) or ``rate_limit``
        (a 429, nothing placed). Several calls queue up."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        with self._lock:
            self._faults.append(kind)

    def set_price(self, symbol: str, price: float, *, spread: float | None = None) -> None:
        """The ticker's (and the matching engine's) price of ``symbol`` from now on;
        ``spread``: bid and ask that far apart around it."""
        with self._lock:
            self.prices[symbol] = float(price)
            if spread is not None:
                self.spreads[symbol] = float(spread)

    def _ticker(self, symbol: str) -> dict[str, Any]:
        if self.market_data_down:
            raise _Refused(503, "market data unavailable")
        with self._lock:
            price, half = self.prices[symbol], self.spreads.get(symbol, 0.0) / 2
        at = self.clock() if self.clock is not None else time.time() + self.clock_offset
        return {"symbol": symbol, "price": price, "bid": price - half, "ask": price + half, "time": at}

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the loopback venue is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LoopbackVenue:
        venue = self

        class Handler(_Handler):
            pass

        Handler.venue = venue
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-venue", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases answers held back by timeout_after_accept
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> LoopbackVenue:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the API -----------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        """``(status, JSON answer)`` for one request."""
        with self._lock:
            self._requests += 1
        parts = urlsplit(target)
        path, query = parts.path.rstrip("/"), {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            if path not in _PUBLIC:
                self._verify(method, target, headers, body)
            return 200, self._route(method, path, query, body)
        except _Refused as exc:
            return exc.code, {"error": str(exc)}

    def _verify(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> None:
        key, stamp, signature = (headers.get(h) or "" for h in ("PT-Key", "PT-Timestamp", "PT-Signature"))
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise _Refused(401, "invalid key")
        expected = sign(self.api_secret, stamp, method, target, body)
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise _Refused(401, "invalid signature")
        try:  # a captured request cannot be replayed later
            fresh = abs(int(stamp) / 1000 - time.time() - self.clock_offset) <= self.recv_window_seconds
        except ValueError:
            fresh = False
        if not fresh:
            raise _Refused(401, f"timestamp outside the {self.recv_window_seconds:g}s window")

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> Any:
        if method == "GET" and path == "/api/ping":
            return {"status": "online"}
        if method == "GET" and path == "/api/time":
            return {"server_time": time.time() + self.clock_offset}
        if method == "GET" and path == "/api/rules":
            symbol = self._symbol(query)
            return {"symbol": symbol, **self.rules[symbol]}
        if method == "GET" and path == "/api/ticker":
            return self._ticker(self._symbol(query))
        if method == "POST" and path == "/api/orders":
            return self._submit(body)
        if path.startswith("/api/orders/") and method in ("GET", "DELETE"):
            cid = path.removeprefix("/api/orders/")
            symbol = self._symbol(query)
            return self._lookup(cid, symbol) if method == "GET" else self._cancel(cid, symbol)
        if path == "/api/open_orders" and method in ("GET", "DELETE"):
            symbol = query.get("symbol")
            if symbol is not None:
                self._symbol(query)
            return self._open(symbol) if method == "GET" else self._cancel_all(symbol)
        if method == "GET" and path == "/api/balances":
            with self._lock:
                return dict(self.balances)
        if method == "GET" and path == "/api/positions":
            with self._lock:
                return {s: q for s, q in self.positions.items() if q}
        raise _Refused(404, f"no such endpoint: {method} {path}")

    def _symbol(self, query: Mapping[str, str]) -> str:
        symbol = query.get("symbol")
        if not symbol:
            raise _Refused(400, "symbol is required")
        if symbol not in self.rules:
            raise _Refused(400, f"unknown symbol {symbol}")
        return symbol

    def _submit(self, body: bytes) -> dict[str, Any]:
        try:
            req = json.loads(body)
            cid, symbol, side = str(req["client_order_id"]), str(req["symbol"]), str(req["side"])
            quantity = float(req["quantity"])
            kind = str(req.get("type", "market"))
            limit = None if req.get("limit_price") is None else float(req["limit_price"])
        except (ValueError, KeyError, TypeError) as exc:
            raise _Refused(400, f"malformed order: {exc}") from None
        if not cid or len(cid) > 36:
            raise _Refused(400, "client_order_id: 1 to 36 characters")
        if side not in ("buy", "sell") or kind not in ("market", "limit") or (kind == "limit") != (limit is not None):
            raise _Refused(400, "invalid side, type or limit_price")
        self._symbol({"symbol": symbol})
        self._check_rules(symbol, quantity, limit)
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            if fault in ("5xx", "rate_limit"):
                raise _Refused(502 if fault == "5xx" else 429, "bad gateway" if fault == "5xx" else "rate limit exceeded")
            if cid in self._orders:
                raise _Refused(409, f"duplicate client order id {cid}")
            if req.get("validate"):
                return {"client_order_id": cid, "symbol": symbol, "status": "validated"}
            order = {
                "client_order_id": cid,
                "venue_order_id": f"LB-{len(self._orders) + 1:06d}",
                "symbol": symbol,
                "side": side,
                "quantity": quantity,
                "type": kind,
                "limit_price": limit,
                "status": "open",
                "fills": [],
                "created_at": time.time(),
            }
            self._orders[cid] = order
            self._match(order)
            answer = _public(order)
        if fault == "timeout_after_accept":
            self._stopping.wait(600)  # placed; the answer comes only when the venue stops
        return answer

    def _check_rules(self, symbol: str, quantity: float, limit: float | None) -> None:
        from peaktrade_core.venues import InstrumentRules

        problems = InstrumentRules(symbol, **self.rules[symbol]).problems(_Probe(symbol, quantity, limit, self.prices[symbol]))
        if problems:
            raise _Refused(400, "; ".join(problems))

    def _match(self, order: dict[str, Any]) -> None:
        """Market orders, and limit orders at or through the last price, fill at once."""
        price = self.prices[order["symbol"]]
        limit = order["limit_price"]
        if limit is not None and (limit < price if order["side"] == "buy" else limit > price):
            return
        base, quote_ccy = order["symbol"].split("/")
        qty, notional = order["quantity"], order["quantity"] * price
        fee = round(notional * FEE_RATE, 8)
        sign_ = 1 if order["side"] == "buy" else -1
        self.balances[base] = self.balances.get(base, 0.0) + sign_ * qty
        self.balances[quote_ccy] = self.balances.get(quote_ccy, 0.0) - sign_ * notional - fee
        self.positions[order["symbol"]] = self.positions.get(order["symbol"], 0.0) + sign_ * qty
        order["fills"].append({"quantity": qty, "price": price, "fee": fee, "fee_currency": quote_ccy, "timestamp": time.time()})
        order["status"] = "filled"

    def _lookup(self, cid: str, symbol: str) -> dict[str, Any]:
        with self._lock:
            order = self._orders.get(cid)
            if order is None or order["symbol"] != symbol:
                raise _Refused(404, f"unknown order {cid} for {symbol}")
            return _public(order)

    def _cancel(self, cid: str, symbol: str) -> dict[str, bool]:
        with self._lock:
            order = self._orders.get(cid)
            if order is None or order["symbol"] != symbol or order["status"] != "open":
                return {"cancelled": False}
            order["status"] = "cancelled"
            return {"cancelled": True}

    def _open(self, symbol: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [_public(o) for o in self._orders.values() if o["status"] == "open" and symbol in (None, o["symbol"])]

    def _cancel_all(self, symbol: str | None) -> dict[str, int]:
        with self._lock:
            hit = [o for o in self._orders.values() if o["status"] == "open" and symbol in (None, o["symbol"])]
            for o in hit:
                o["status"] = "cancelled"
            return {"cancelled": len(hit)}


@frozen
class _Probe:
    """Just enough of an order for ``InstrumentRules.problems`` on the venue side."""

    symbol: str
    quantity: float
    limit_price: float | None
    last_price: float

    @property
    def notional(self) -> float:
        return self.quantity * (self.limit_price if self.limit_price is not None else self.last_price)


_STATUS = {"open": "accepted", "filled": "filled", "cancelled": "cancelled"}


def _public(order: Mapping[str, Any]) -> dict[str, Any]:
    """An order as the API shows it: the core's ``VenueOrderResponse`` shape plus details."""
    return {
        "client_order_id": order["client_order_id"],
        "venue_order_id": order["venue_order_id"],
        "symbol": order["symbol"],
        "side": order["side"],
        "quantity": order["quantity"],
        "type": order["type"],
        "limit_price": order["limit_price"],
        "status": _STATUS[order["status"]],
        "fills": [dict(f) for f in order["fills"]],
    }


class _Handler(BaseHTTPRequestHandler):
    venue: LoopbackVenue
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, answer = self.venue.handle(self.command, self.path, self.headers, body)
        data = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up waiting (timeout_after_accept)
            pass

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read their own output
        pass


# -- the adapter --------------------------------------------------------------------------


class LoopbackClient:
    """The reference ``ExchangeClient``: HTTP over urllib, signed requests, and the venue's
    answers mapped to the errors the core's executor understands:

    * 400/401/404/409 → ``ExchangeError`` (a definite refusal: retrying cannot help);
    * 429, and any failure of a request that changes nothing → ``TransientExchangeError``;
    * a 5xx, a timeout or a dropped connection on *submit* → ``UnknownOutcomeError`` (the
      order may be placed: the executor looks it up by client order id before any retry).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        *,
        testnet: bool = False,
        validate_only: bool = False,
        timeout_seconds: float = 10.0,
    ):
        self.name = VENUE
        self.endpoint = base_url.rstrip("/")
        self.testnet = testnet or validate_only
        self.validate_only = validate_only
        self.timeout_seconds = timeout_seconds
        self._key = api_key
        self._secret = api_secret

    def __repr__(self) -> str:  # never the credentials
        return f"LoopbackClient({self.endpoint}, testnet={self.testnet}, validate_only={self.validate_only})"

    # -- transport ---------------------------------------------------------------------

    def _request(self, method: str, path: str, query: Mapping[str, Any] | None = None, payload: Any = None, *, submit: bool = False) -> Any:
        import urllib.error
        import urllib.request

        from peaktrade_core.orders import ExchangeError, TransientExchangeError, UnknownOutcomeError

        target = path + ("?" + urlencode({k: v for k, v in query.items() if v is not None}) if query else "")
        body = b"" if payload is None else json.dumps(payload).encode()
        stamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "PT-Key": self._key,
            "PT-Timestamp": stamp,
            "PT-Signature": sign(self._secret, stamp, method, target, body),
        }
        request = urllib.request.Request(self.endpoint + target, data=body or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as answer:  # noqa: S310 - our own base_url
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            message = _error_text(exc)
            if exc.code == 429:
                raise TransientExchangeError(f"rate limited: {message}") from None
            if exc.code >= 500:
                kind = UnknownOutcomeError if submit else TransientExchangeError
                raise kind(f"venue error {exc.code}: {message}") from None
            if exc.code == 404 and method == "GET" and path.startswith("/api/orders/"):
                return None
            raise ExchangeError(f"refused ({exc.code}): {message}") from None
        except OSError as exc:  # timeouts, refused or dropped connections (URLError is one)
            reason = getattr(exc, "reason", exc)
            refused = isinstance(reason, ConnectionRefusedError)
            kind = UnknownOutcomeError if submit and not refused else TransientExchangeError
            raise kind(f"{self.endpoint} unreachable: {type(reason).__name__}") from None

    # -- ExchangeClient ----------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        return self._request("GET", "/api/ping")

    def server_time(self) -> float:
        return float(self._request("GET", "/api/time")["server_time"])

    def fetch_ticker(self, symbol: str) -> float:
        return float(self._request("GET", "/api/ticker", {"symbol": symbol})["price"])

    def quotes(self, symbols: list[str]) -> list[Any]:
        """The ticker of each symbol as quotes (public, unsigned requests)."""
        from peaktrade_core.marketdata import Quote

        out = []
        for symbol in symbols:
            t = self._request("GET", "/api/ticker", {"symbol": symbol})
            out.append(Quote(symbol, float(t["price"]), float(t["time"]), bid=float(t["bid"]), ask=float(t["ask"])))
        return out

    def instrument_rules(self, symbol: str) -> Any:
        from peaktrade_core.venues import InstrumentRules

        raw = self._request("GET", "/api/rules", {"symbol": symbol})
        return InstrumentRules(
            symbol,
            tick_size=raw.get("tick_size"),
            lot_step=raw.get("lot_step"),
            min_quantity=raw.get("min_quantity"),
            min_notional=raw.get("min_notional"),
        )

    def submit_order(self, order: Any) -> dict[str, Any]:
        payload = {
            "client_order_id": order.client_order_id,
            "symbol": order.symbol,
            "side": str(order.side),
            "quantity": order.quantity,
            "type": str(order.order_type),
            "limit_price": order.limit_price,
            "validate": self.validate_only,
        }
        return self._request("POST", "/api/orders", payload=payload, submit=True)

    def fetch_order(self, client_order_id: str, symbol: str) -> dict[str, Any] | None:
        return self._request("GET", "/api/orders/" + quote(client_order_id, safe=""), {"symbol": symbol})

    def cancel_order(self, client_order_id: str, symbol: str) -> bool:
        answer = self._request("DELETE", "/api/orders/" + quote(client_order_id, safe=""), {"symbol": symbol})
        return bool(answer["cancelled"])

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return list(self._request("GET", "/api/open_orders", {"symbol": symbol}))

    def cancel_all(self, symbol: str | None = None) -> int:
        return int(self._request("DELETE", "/api/open_orders", {"symbol": symbol})["cancelled"])

    def fetch_balances(self) -> dict[str, float]:
        return {k: float(v) for k, v in self._request("GET", "/api/balances").items()}

    def fetch_positions(self) -> dict[str, float]:
        return {k: float(v) for k, v in self._request("GET", "/api/positions").items()}


def _error_text(exc: Any) -> str:
    try:
        return str(json.loads(exc.read()).get("error"))[:200]
    except Exception:  # noqa: BLE001 - not our JSON: say only the status
        return exc.reason or "error"


# -- the plugin ---------------------------------------------------------------------------


@frozen
class LoopbackSettings:
    """``[plugins.loopback]``."""

    base_url: str = "http://127.0.0.1:8765"
    api_key: SecretRef = field(factory=lambda: SecretRef(env="LOOPBACK_API_KEY"))
    api_secret: SecretRef = field(factory=lambda: SecretRef(env="LOOPBACK_API_SECRET"))
    timeout_seconds: float = 10.0
    #: testnet mode: orders are validated by the venue, never placed (the venue has no sandbox)
    testnet_validate_only: bool = True
    #: how often the market-data feed polls the ticker
    feed_interval_seconds: float = 1.0


class LoopbackVenuePlugin:
    """The venue plugin for the loopback venue, written as a third-party adapter would be."""

    @hookimpl
    def config_sections(self) -> dict[str, type]:
        return {VENUE: LoopbackSettings}

    @hookimpl
    def exchange_venues(self) -> list[str]:
        return [VENUE]

    @hookimpl
    def create_exchange_client(self, venue: str, mode: Any, settings: Any) -> LoopbackClient | None:
        from peaktrade_core.environment import TradingMode
        from peaktrade_core.log import register_secret

        if venue != VENUE:
            return None
        settings = settings if isinstance(settings, LoopbackSettings) else LoopbackSettings()
        key, secret = settings.api_key.resolve(), settings.api_secret.resolve()
        for value in (key, secret):
            register_secret(value)
        testnet = TradingMode(mode) is TradingMode.TESTNET
        return LoopbackClient(
            settings.base_url,
            key,
            secret,
            testnet=testnet,
            validate_only=testnet and settings.testnet_validate_only,
            timeout_seconds=settings.timeout_seconds,
        )

    @hookimpl
    def open_market_feed(self, venue: str, symbols: Any, settings: Any) -> Any:
        """The ticker, polled: public requests only, no key needed, nothing sent."""
        from peaktrade_core.marketdata import PollingFeed

        if venue != VENUE:
            return None
        settings = settings if isinstance(settings, LoopbackSettings) else LoopbackSettings()
        public = LoopbackClient(settings.base_url, "", "", timeout_seconds=settings.timeout_seconds)
        return PollingFeed(f"{VENUE}:ticker", public.quotes, symbols, interval=settings.feed_interval_seconds)


plugin = LoopbackVenuePlugin()
