"""The Binance Spot ``ExchangeClient`` over httpx.

What the core's executor does next depends on what this client raises, so every Binance
answer is mapped deliberately (see :meth:`BinanceClient._refusal`):

* ``ExchangeError`` — Binance refused for good; never retried: -1013 filter failure, -1022
  invalid signature, -2010 new order rejected (duplicate id, insufficient balance), -2014 /
  -2015 bad API key, -1121 invalid symbol, any other 4xx;
* ``TransientExchangeError`` — certainly not acted on; the executor backs off and retries:
  HTTP 429 / 418 (with ``Retry-After``, honoured before the next request), -1003 / -1015 too
  many requests or orders, HTTP 403 (Binance's web application firewall), a refused
  connection, a 5xx on a read;
* ``UnknownOutcomeError`` — the order may stand; the executor looks it up by client order id
  before anything else: a timeout, a dropped connection or a 5xx on submit (Binance: "the
  execution status is UNKNOWN"), -1007 backend timeout;
* -1021 (timestamp outside ``recvWindow``): the server-time offset is resynchronised and the
  request sent once more (it was not processed); a second -1021 is transient;
* -2013 on a lookup is "no such order" (``None``), -2011 on a cancel is "nothing to cancel"
  (``False``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from peaktrade_binance.signing import encode, signature
from peaktrade_core.plugin_api import (
    ExchangeError,
    InstrumentRules,
    TransientExchangeError,
    UnknownOutcomeError,
    logger,
)

VENUE = "binance"

#: Binance's order status -> the core's VenueOrderResponse status
_STATUS = {
    "NEW": "accepted",
    "PENDING_NEW": "accepted",
    "PARTIALLY_FILLED": "partially_filled",
    "FILLED": "filled",
    "PENDING_CANCEL": "accepted",
    "CANCELED": "cancelled",
    "REJECTED": "rejected",
    "EXPIRED": "cancelled",
    "EXPIRED_IN_MATCH": "cancelled",
}
#: codes that say "not processed, try again later"
_TRANSIENT_CODES = {-1003, -1004, -1008, -1015, -1016, -1021}
#: codes that say "processed or not: unknown"
_UNKNOWN_CODES = {-1000, -1001, -1006, -1007}


def decimal_text(value: float) -> str:
    """A float as Binance wants a decimal: plain digits, never an exponent, never rounded."""
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def binance_symbol(symbol: str) -> str:
    """``BTC/EUR`` -> ``BTCEUR``; anything else is refused, not guessed."""
    base, slash, quote = symbol.partition("/")
    if not slash or not base.isalnum() or not quote.isalnum():
        raise ExchangeError(f"symbol {symbol!r}: Binance symbols are written BASE/QUOTE, e.g. BTC/EUR")
    return (base + quote).upper()


class _Refused(Exception):
    """A Binance error answer, before it is mapped."""

    def __init__(self, http_status: int, code: int | None, msg: str, retry_after: float | None):
        super().__init__(msg)
        self.http_status, self.code, self.msg, self.retry_after = http_status, code, msg, retry_after


class BinanceClient:
    """Binance Spot REST (``/api/v3``). ``testnet``: the client talks to a test network
    (nothing real); ``validate_only``: orders go to ``/api/v3/order/test`` and are never
    placed (a validate-only client is always a testnet client)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        *,
        testnet: bool = False,
        validate_only: bool = False,
        recv_window_ms: int = 5000,
        timeout_seconds: float = 8.0,
        connect_timeout_seconds: float = 5.0,
        weight_limit: int = 6000,
        slow_down_at: float = 0.8,
        max_wait_seconds: float = 2.0,
        quote_asset: str = "EUR",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.name = VENUE
        self.endpoint = base_url.rstrip("/")
        self.testnet = bool(testnet or validate_only)
        self.validate_only = bool(validate_only)
        self.recv_window_ms = recv_window_ms
        self.timeout_seconds = timeout_seconds
        self.connect_timeout_seconds = connect_timeout_seconds
        self.weight_limit = weight_limit
        self.slow_down_at = slow_down_at
        self.max_wait_seconds = max_wait_seconds
        self.quote_asset = quote_asset.upper()
        self.clock = clock
        self.sleep = sleep
        #: Binance's clock minus ours, in ms; measured before the first signed request
        self.time_offset_ms: int | None = None
        #: the last X-MBX-USED-WEIGHT-1M Binance reported, and the minute it was for
        self.used_weight = 0
        self._weight_minute = -1
        self._resume_at = 0.0  # no request before this (a Retry-After)
        self._key = api_key
        self._secret = api_secret
        self._http: Any = None
        self._symbols: dict[str, dict[str, Any]] = {}  # exchangeInfo entries, by Binance symbol
        self._have_all_symbols = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the credentials
        return f"BinanceClient({self.endpoint}, testnet={self.testnet}, validate_only={self.validate_only})"

    # -- transport ---------------------------------------------------------------------

    def _client(self) -> Any:
        with self._lock:  # the core's executor calls from several threads
            if self._http is None:
                import httpx

                timeout = httpx.Timeout(self.timeout_seconds, connect=self.connect_timeout_seconds)
                self._http = httpx.Client(base_url=self.endpoint, timeout=timeout, headers={"User-Agent": "peaktrade-binance"})
            return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _pace(self) -> None:
        """Wait out a Retry-After, and the rest of the minute when the weight used is near
        the limit; a wait longer than ``max_wait_seconds`` is a transient error instead."""
        now = self.clock()
        wait = self._resume_at - now
        minute = int(now // 60)
        if minute == self._weight_minute and self.used_weight >= self.weight_limit * self.slow_down_at:
            wait = max(wait, (minute + 1) * 60 - now)
            reason = f"request weight {self.used_weight}/{self.weight_limit} this minute"
        else:
            reason = "Binance asked to retry later"
        if wait <= 0:
            return
        if wait > self.max_wait_seconds:
            raise TransientExchangeError(f"{reason}: next request in {wait:.0f}s")
        logger.info("binance: {}; waiting {:.1f}s", reason, wait)
        self.sleep(wait)

    def _send(self, method: str, path: str, params: Mapping[str, Any] | None, *, signed: bool, submit: bool) -> Any:
        """One request; returns the JSON answer or raises ``_Refused`` / a mapped error."""
        import httpx

        self._pace()
        params = {k: v for k, v in (params or {}).items() if v is not None}
        query, body = "", ""
        if signed:
            params["recvWindow"] = self.recv_window_ms
            params["timestamp"] = int(self.clock() * 1000) + (self.time_offset_ms or 0)
            text = encode(params)
            text += "&signature=" + signature(self._secret, text)
        else:
            text = encode(params)
        if method == "POST":
            body = text  # Binance reads POST parameters from a form body
        else:
            query = text
        headers = {"X-MBX-APIKEY": self._key} if signed else {}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        url = path + ("?" + query if query else "")
        try:
            answer = self._client().request(method, url, content=body.encode() or None, headers=headers)
        except httpx.ConnectError as exc:  # nothing reached Binance
            raise TransientExchangeError(f"{self.endpoint} unreachable: {type(exc).__name__}") from None
        except httpx.ConnectTimeout:
            raise TransientExchangeError(f"{self.endpoint}: connect timeout") from None
        except httpx.HTTPError as exc:  # sent, and then the answer was lost
            kind = UnknownOutcomeError if submit else TransientExchangeError
            raise kind(f"{self.endpoint}: no answer ({type(exc).__name__})") from None
        self._note_weight(answer.headers)
        if answer.status_code < 300:
            try:
                return answer.json()
            except ValueError:
                if submit:
                    raise UnknownOutcomeError(f"{self.endpoint}: unreadable answer to an order") from None
                raise TransientExchangeError(f"{self.endpoint}: unreadable answer") from None
        code, msg = None, answer.reason_phrase or "error"
        try:
            raw = answer.json()
            code, msg = int(raw["code"]), str(raw["msg"])[:200]
        except (ValueError, KeyError, TypeError):
            pass
        retry_after = None
        with contextlib.suppress(KeyError, ValueError):
            retry_after = float(answer.headers["Retry-After"])
        raise _Refused(answer.status_code, code, msg, retry_after)

    def _note_weight(self, headers: Mapping[str, str]) -> None:
        used = headers.get("X-MBX-USED-WEIGHT-1M") or headers.get("x-mbx-used-weight-1m")
        if used is not None and used.isdigit():
            self.used_weight, self._weight_minute = int(used), int(self.clock() // 60)

    def _request(self, method: str, path: str, params: Mapping[str, Any] | None = None, *, signed: bool = True,
                 submit: bool = False, quiet: tuple[int, ...] = ()) -> Any:
        """A request with Binance's answers mapped to the core's errors. Codes in ``quiet``
        are returned as ``_Refused`` for the caller to interpret."""
        for attempt in (1, 2):
            if signed and self.time_offset_ms is None:
                self.sync_time()
            try:
                return self._send(method, path, params, signed=signed, submit=submit)
            except _Refused as refused:
                if refused.code in quiet:
                    return refused
                if refused.code == -1021 and attempt == 1:  # not processed: resync, send once more
                    logger.warning("binance: {}; resynchronising the clock offset", refused.msg)
                    self.time_offset_ms = None
                    continue
                raise self._refusal(refused, submit) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _refusal(self, refused: _Refused, submit: bool) -> Exception:
        what = f"binance {refused.http_status}" + (f" {refused.code}" if refused.code is not None else "")
        text = f"{what}: {refused.msg}"
        if refused.http_status in (418, 429):
            wait = refused.retry_after if refused.retry_after is not None else 60.0
            self._resume_at = max(self._resume_at, self.clock() + wait)
            return TransientExchangeError(f"{text} (retry after {wait:g}s)")
        if refused.http_status >= 500 or refused.code in _UNKNOWN_CODES:
            return UnknownOutcomeError(text) if submit else TransientExchangeError(text)
        if refused.code in _TRANSIENT_CODES or refused.http_status == 403:  # 403: Binance's firewall, not processed
            return TransientExchangeError(text)
        return ExchangeError(text)

    def sync_time(self) -> int:
        """Measure Binance's clock against ours (``GET /api/v3/time``, half the round trip
        counted); signed requests carry our clock plus this offset as ``timestamp``."""
        before = self.clock()
        try:
            server = int(self._send("GET", "/api/v3/time", None, signed=False, submit=False)["serverTime"])
        except _Refused as refused:
            raise self._refusal(refused, False) from None
        after = self.clock()
        self.time_offset_ms = server - int((before + after) / 2 * 1000)
        return self.time_offset_ms

    # -- symbols and rules -------------------------------------------------------------

    def _symbol_info(self, symbol: str) -> dict[str, Any]:
        venue_symbol = binance_symbol(symbol)
        if venue_symbol not in self._symbols:
            info = self._request("GET", "/api/v3/exchangeInfo", {"symbol": venue_symbol}, signed=False)
            self._symbols.update({s["symbol"]: s for s in info["symbols"]})
        if venue_symbol not in self._symbols:
            raise ExchangeError(f"binance does not list {symbol} ({venue_symbol})")
        return self._symbols[venue_symbol]

    def _all_symbols(self) -> dict[str, dict[str, Any]]:
        if not self._have_all_symbols:
            info = self._request("GET", "/api/v3/exchangeInfo", signed=False)
            self._symbols.update({s["symbol"]: s for s in info["symbols"]})
            self._have_all_symbols = True
        return self._symbols

    def _pair(self, venue_symbol: str) -> str:
        """``BTCEUR`` -> ``BTC/EUR`` (from exchangeInfo)."""
        info = self._symbols.get(venue_symbol) or self._all_symbols().get(venue_symbol)
        return f"{info['baseAsset']}/{info['quoteAsset']}" if info else venue_symbol

    def instrument_rules(self, symbol: str) -> InstrumentRules:
        """``PRICE_FILTER`` tickSize, ``LOT_SIZE`` stepSize and minQty, ``NOTIONAL`` (or the
        older ``MIN_NOTIONAL``) minNotional. A symbol that is not trading is an error, so the
        core refuses its orders (rules it cannot load refuse, fail closed)."""
        info = self._symbol_info(symbol)
        if info.get("status") != "TRADING":
            raise ExchangeError(f"binance {info['symbol']} is {info.get('status')}, not TRADING")
        filters = {f["filterType"]: f for f in info.get("filters", [])}

        def number(kind: str, key: str) -> float | None:
            value = float(filters.get(kind, {}).get(key, 0) or 0)
            return value or None  # Binance writes 0 for "no such rule"

        return InstrumentRules(
            symbol,
            tick_size=number("PRICE_FILTER", "tickSize"),
            lot_step=number("LOT_SIZE", "stepSize"),
            min_quantity=number("LOT_SIZE", "minQty"),
            min_notional=number("NOTIONAL", "minNotional") or number("MIN_NOTIONAL", "minNotional"),
        )

    # -- ExchangeClient ----------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        started = self.clock()
        self._request("GET", "/api/v3/ping", signed=False)
        return {"status": "online", "venue": VENUE, "endpoint": self.endpoint, "latency_ms": round((self.clock() - started) * 1000, 1)}

    def server_time(self) -> float:
        return int(self._request("GET", "/api/v3/time", signed=False)["serverTime"]) / 1000

    def fetch_ticker(self, symbol: str) -> float:
        return float(self._request("GET", "/api/v3/ticker/price", {"symbol": binance_symbol(symbol)}, signed=False)["price"])

    def quotes(self, symbols: list[str]) -> list[Any]:
        """The public ``/api/v3/ticker/bookTicker`` of ``symbols`` in one request, as quotes:
        the price is the mid of the best bid and ask. Binance's book ticker carries no time:
        a quote is stamped when its answer arrived."""
        import json

        from peaktrade_core.plugin_api import Quote

        names = {binance_symbol(symbol): symbol for symbol in symbols}
        wanted = json.dumps(list(names), separators=(",", ":"))
        answer = self._request("GET", "/api/v3/ticker/bookTicker", {"symbols": wanted}, signed=False)
        at = self.clock()
        out = []
        for book in answer:
            symbol = names.get(book.get("symbol"))
            if symbol is None:
                continue
            bid, ask = float(book["bidPrice"]), float(book["askPrice"])
            out.append(Quote(symbol, (bid + ask) / 2, at, bid=bid, ask=ask))
        return out

    def submit_order(self, order: Any) -> dict[str, Any]:
        """``newClientOrderId`` is the core's client order id (32 hex characters; Binance
        allows 36): a lost answer is found again by it, and Binance refuses a second order
        with it."""
        params: dict[str, Any] = {
            "symbol": binance_symbol(order.symbol),
            "side": str(order.side).upper(),
            "type": str(order.order_type).upper(),
            "quantity": decimal_text(order.quantity),
            "newClientOrderId": order.client_order_id,
            "newOrderRespType": "FULL",
        }
        if params["type"] == "LIMIT":
            params["timeInForce"] = str(order.time_in_force).upper()
            params["price"] = decimal_text(order.limit_price)
        if self.validate_only:
            self._request("POST", "/api/v3/order/test", params, submit=True)
            return {"client_order_id": order.client_order_id, "symbol": order.symbol, "status": "validated"}
        return self._response(self._request("POST", "/api/v3/order", params, submit=True), order.symbol)

    def fetch_order(self, client_order_id: str, symbol: str) -> dict[str, Any] | None:
        """``GET /api/v3/order`` by ``origClientOrderId`` with the symbol; the fills (price,
        commission) from ``/api/v3/myTrades`` of that order."""
        venue_symbol = binance_symbol(symbol)
        raw = self._request("GET", "/api/v3/order", {"symbol": venue_symbol, "origClientOrderId": client_order_id}, quiet=(-2013,))
        if isinstance(raw, _Refused):
            return None
        fills = None
        if Decimal(raw.get("executedQty") or "0") > 0:
            trades = self._request("GET", "/api/v3/myTrades", {"symbol": venue_symbol, "orderId": raw["orderId"]})
            fills = [
                {"price": t["price"], "qty": t["qty"], "commission": t["commission"], "commissionAsset": t["commissionAsset"],
                 "time": t.get("time")}
                for t in trades
            ]
        return self._response(raw, symbol, fills)

    def cancel_order(self, client_order_id: str, symbol: str) -> bool:
        params = {"symbol": binance_symbol(symbol), "origClientOrderId": client_order_id}
        return not isinstance(self._request("DELETE", "/api/v3/order", params, quiet=(-2011,)), _Refused)

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        params = {"symbol": binance_symbol(symbol)} if symbol else None
        return [self._response(o, symbol or self._pair(o["symbol"])) for o in self._request("GET", "/api/v3/openOrders", params)]

    def cancel_all(self, symbol: str | None = None) -> int:
        """``DELETE /api/v3/openOrders`` per symbol (Binance needs one); without a symbol,
        for every symbol with open orders."""
        if symbol is not None:
            symbols = [binance_symbol(symbol)]
        else:
            symbols = sorted({o["symbol"] for o in self._request("GET", "/api/v3/openOrders")})
        cancelled = 0
        for venue_symbol in symbols:
            answer = self._request("DELETE", "/api/v3/openOrders", {"symbol": venue_symbol}, quiet=(-2011,))
            if not isinstance(answer, _Refused):  # -2011: nothing open there
                cancelled += len(answer)
        return cancelled

    def fetch_balances(self) -> dict[str, float]:
        """Free plus locked, per asset held."""
        account = self._request("GET", "/api/v3/account")
        totals = {b["asset"]: float(Decimal(b["free"]) + Decimal(b["locked"])) for b in account["balances"]}
        return {asset: amount for asset, amount in totals.items() if amount}

    def fetch_positions(self) -> dict[str, float]:
        """Spot has no positions: the holding of each asset that trades against
        ``quote_asset`` is its position (BTC 0.5 -> ``{"BTC/EUR": 0.5}``)."""
        balances = self.fetch_balances()
        symbols = self._all_symbols()
        return {
            f"{asset}/{self.quote_asset}": amount
            for asset, amount in balances.items()
            if asset != self.quote_asset and f"{asset}{self.quote_asset}" in symbols
        }

    # -- answers -----------------------------------------------------------------------

    def _response(self, raw: Mapping[str, Any], symbol: str, fills: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A Binance order (``FULL`` answer, lookup or list entry) as a ``VenueOrderResponse``."""
        status = str(raw.get("status", "NEW"))
        response: dict[str, Any] = {
            "client_order_id": raw.get("origClientOrderId") or raw.get("clientOrderId"),
            "venue_order_id": str(raw.get("orderId", "")),
            "symbol": symbol,
            "status": _STATUS.get(status, "accepted"),
            "binance_status": status,
            "executed_quantity": float(raw.get("executedQty") or 0),
        }
        if status in ("REJECTED", "EXPIRED", "EXPIRED_IN_MATCH"):
            response["reason"] = f"binance: order {status.lower().replace('_', ' ')}"
        stamp = raw.get("transactTime") or raw.get("updateTime")
        response["fills"] = [
            {
                "quantity": float(f["qty"]),
                "price": float(f["price"]),
                "fee": float(f.get("commission") or 0),
                "fee_currency": f.get("commissionAsset"),
                **({"timestamp": (f.get("time") or stamp) / 1000} if (f.get("time") or stamp) else {}),
            }
            for f in (fills if fills is not None else raw.get("fills") or ())
        ]
        return response
