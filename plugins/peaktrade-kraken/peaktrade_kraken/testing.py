"""A loopback Kraken: a real HTTP server on 127.0.0.1 that speaks enough of Kraken's spot
REST API to rehearse against — for tests (yours too) and for ``peaktrade kraken simulate``.

It checks what Kraken checks on every private call — the ``API-Key``, the ``API-Sign``
signature over the exact body, a nonce larger than the key's last — and optionally Kraken's
per-key call counter. Orders fill at once at the symbol's last price when marketable and rest
otherwise; ``validate=true`` checks an order and places nothing; balances move with fills.

Faults on request (``fail_next``): ``timeout_after_accept`` (the order is placed, the answer
held back until the server stops), ``5xx`` (placed, then HTTP 502), ``5xx_before`` (HTTP 502,
nothing placed), ``unavailable`` (``EService:Unavailable``), ``busy`` (``EService:Busy``),
``rate_limit``, ``lockout``, ``invalid_nonce``, ``echo`` (the error body repeats the whole
request: headers and body). ``status`` (``online``/``maintenance``/``cancel_only``/
``post_only``), ``skew_seconds`` (the Time endpoint's offset) and the dead man's switch
(``CancelAllOrdersAfter``; it fires on its deadline, or now with ``expire_dead_man()``)
are plain attributes and methods. The public ``Ticker`` (one pair or several, comma
separated, in Kraken's documented shape) quotes ``prices``; tests script it with
``set_price`` and stop it with ``ticker_down = True`` (``EService:Unavailable``).

    with LoopbackKraken() as kraken:
        settings = KrakenSettings(base_url=kraken.url, api_key=..., api_secret=...)
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.parse
from collections import Counter
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from peaktrade_kraken.auth import call_cost, sign

#: pairs the loopback trades: Kraken's key, then its AssetPairs fields (ccxt takes a pair without
#: status "online" for inactive and leaves it out of Ticker requests)
PAIRS: dict[str, dict[str, Any]] = {
    "XXBTZEUR": {
        "altname": "XBTEUR", "wsname": "XBT/EUR", "base": "XXBT", "quote": "ZEUR",
        "pair_decimals": 1, "tick_size": "0.1", "lot_decimals": 8, "ordermin": "0.0001", "costmin": "0.5", "status": "online",
    },
    "XETHZEUR": {
        "altname": "ETHEUR", "wsname": "ETH/EUR", "base": "XETH", "quote": "ZEUR",
        "pair_decimals": 2, "tick_size": "0.01", "lot_decimals": 8, "ordermin": "0.002", "costmin": "0.5", "status": "online",
    },
    "XXBTZUSD": {
        "altname": "XBTUSD", "wsname": "XBT/USD", "base": "XXBT", "quote": "ZUSD",
        "pair_decimals": 1, "tick_size": "0.1", "lot_decimals": 8, "ordermin": "0.0001", "costmin": "0.5", "status": "online",
    },
}
DEFAULT_PRICES = {"XXBTZEUR": 50_000.0, "XETHZEUR": 2_500.0, "XXBTZUSD": 54_000.0}
DEFAULT_BALANCES = {"ZEUR": 1_000_000.0, "ZUSD": 1_000_000.0, "XXBT": 10.0, "XETH": 100.0}
FEE_RATE = 0.0026
FAULTS = ("timeout_after_accept", "5xx", "5xx_before", "unavailable", "busy", "rate_limit", "lockout", "invalid_nonce", "echo")


KEY_ENV = "PEAK_TRADE_KRAKEN_API_KEY"
SECRET_ENV = "PEAK_TRADE_KRAKEN_API_SECRET"


def loopback_settings(url: str, key_env: str = KEY_ENV, secret_env: str = SECRET_ENV, **overrides: Any) -> Any:
    """``[plugins.kraken]`` for a loopback at ``url``, credentials from ``key_env`` /
    ``secret_env``, short timeouts, status checked before every submit, and a call counter
    that never waits (the loopback enforces none unless asked)."""
    from peaktrade_core.plugin_api import SecretRef
    from peaktrade_kraken.plugin import KrakenSettings

    values: dict[str, Any] = {
        "base_url": url,
        "api_key": SecretRef(env=key_env),
        "api_secret": SecretRef(env=secret_env),
        "timeout_seconds": 1.0,
        "connect_timeout_seconds": 1.0,
        "status_check_seconds": 0.0,
        "rate_limit_max": 1000.0,
        "rate_limit_decay_per_second": 1000.0,
    }
    values.update(overrides)
    return KrakenSettings(**values)


def _symbol(key: str) -> str:
    base, quote = PAIRS[key]["wsname"].split("/")
    return f"{'BTC' if base == 'XBT' else base}/{quote}"


class _Refusal(Exception):
    def __init__(self, *errors: str, http_status: int = 200):
        super().__init__(errors[0])
        self.errors = list(errors)
        self.http_status = http_status


class LoopbackKraken:
    """The server and its control handle (satisfies the core kit's ``VenueFake``)."""

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        port: int = 0,
        prices: dict[str, float] | None = None,
        balances: dict[str, float] | None = None,
        rate_limit_max: float | None = None,
        rate_limit_decay_per_second: float = 0.33,
        hold_seconds: float = 60.0,
    ):
        self.api_key = api_key or "loopback-" + secrets.token_hex(12)
        self.api_secret = api_secret or base64.b64encode(secrets.token_bytes(64)).decode()
        self.port = port
        self.prices = {**DEFAULT_PRICES, **(prices or {})}
        self.balances = {**DEFAULT_BALANCES, **(balances or {})}
        self.rate_limit_max = rate_limit_max  # None: the counter is not enforced
        self.rate_limit_decay = rate_limit_decay_per_second
        self.hold_seconds = hold_seconds
        self.status = "online"
        #: while true the public Ticker answers EService:Unavailable: the feed stops quoting
        self.ticker_down = False
        self.spreads: dict[str, float] = {}  # pair key -> ask - bid
        self.skew_seconds = 0.0
        self._orders: dict[str, dict[str, Any]] = {}  # txid -> order info (Kraken's fields)
        self._late: list[tuple[str, float]] = []  # (endpoint, seconds the request waits before it is processed)
        self.late_processed = 0
        self._faults: list[tuple[str, str, int]] = []  # (kind, endpoint, requests to let pass first)
        self._last_nonce: dict[str, int] = {}
        self._level = 0.0
        self._level_at = time.monotonic()
        self._dead_man_deadline: float | None = None
        self._lock = threading.RLock()
        self._release = threading.Event()
        self._changed = threading.Condition(self._lock)
        self.request_count = 0
        self.by_endpoint: Counter[str] = Counter()
        self.rate_limited = 0
        self.validated = 0
        self.dead_man_fired = 0
        #: every request as received (method, path, headers, body): for tests that look for leaks
        self.received: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the loopback first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LoopbackKraken:
        kraken = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet: tests read the counters instead
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                kraken._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                kraken._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._release.clear()
        serve = threading.Thread(target=self._server.serve_forever, name="loopback-kraken", daemon=True)
        tick = threading.Thread(target=self._tick, name="loopback-kraken-deadman", daemon=True)
        self._threads = [serve, tick]
        serve.start()
        tick.start()
        return self

    def stop(self) -> None:
        self._release.set()  # answers held back by timeout_after_accept go out now
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> LoopbackKraken:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- control ---------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        return self.request_count

    def fail_next(self, kind: str, endpoint: str = "AddOrder", after: int = 0) -> None:
        """The next request to ``endpoint`` (after ``after`` more that pass) fails as ``kind``
        (see the module doc)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        with self._lock:
            self._faults.append((kind, endpoint, after))

    def delay_next(self, seconds: float, endpoint: str = "AddOrder") -> None:
        """The next request to ``endpoint`` waits ``seconds`` in a queue before it is
        processed — as a request stuck on the way to Kraken's engine; an ``AddOrder`` whose
        ``deadline`` has passed by then is rejected (``EService:Deadline elapsed``)."""
        with self._lock:
            self._late.append((endpoint, seconds))

    def set_price(self, pair: str, price: float, *, spread: float | None = None) -> None:
        """The last trade price (Ticker ``c``, and what orders fill at) of ``pair`` — its
        key, altname, wsname or the core's symbol (``BTC/EUR``); ``spread``: ask - bid."""
        key = self._pair_key(pair.replace("BTC/", "XBT/"))
        with self._lock:
            self.prices[key] = float(price)
            if spread is not None:
                self.spreads[key] = float(spread)

    def orders(self) -> list[dict[str, Any]]:
        """Every order placed (never validate-only ones), oldest first."""
        names = {"open": "open", "pending": "open", "closed": "filled", "canceled": "cancelled", "expired": "cancelled"}
        with self._lock:
            out = []
            for txid, info in self._orders.items():
                status = names[info["status"]]
                if status == "open" and float(info["vol_exec"]) > 0:
                    status = "partially_filled"
                pair = next(k for k, p in PAIRS.items() if p["altname"] == info["descr"]["pair"])
                out.append({"txid": txid, "client_order_id": info.get("cl_ord_id"), "symbol": _symbol(pair), "status": status,
                            "side": info["descr"]["type"], "quantity": float(info["vol"]), "filled": float(info["vol_exec"])})
            return out

    def open_orders(self) -> list[dict[str, Any]]:
        return [o for o in self.orders() if o["status"] in ("open", "partially_filled")]

    def place_resting_order(self, symbol: str = "BTC/EUR", cl_ord_id: str | None = None) -> str:
        """An open order placed by someone else on this account (another tool, a person)."""
        key = next(k for k in PAIRS if _symbol(k) == symbol)
        with self._lock:
            return self._place(key, "buy", "limit", Decimal("0.01"), Decimal("1000"), cl_ord_id)

    @property
    def dead_man_armed(self) -> bool:
        return self._dead_man_deadline is not None

    def expire_dead_man(self) -> int:
        """Let the armed dead man's switch fire now; returns the orders it cancelled."""
        with self._lock:
            if self._dead_man_deadline is None:
                return 0
            return self._fire_dead_man()

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> bool:
        """Wait until ``predicate()`` holds (checked on every change), at most ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.2))
            return True

    # -- the dead man's switch -------------------------------------------------------------

    def _tick(self) -> None:
        while not self._release.wait(0.1):
            with self._lock:
                if self._dead_man_deadline is not None and time.time() >= self._dead_man_deadline:
                    self._fire_dead_man()

    def _fire_dead_man(self) -> int:
        self._dead_man_deadline = None
        self.dead_man_fired += 1
        count = self._cancel_where(lambda info: True, reason="dead man's switch")
        self._changed.notify_all()
        return count

    # -- requests --------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        headers = {k: v for k, v in handler.headers.items()}
        endpoint = parsed.path.rsplit("/", 1)[-1]
        with self._lock:
            self.request_count += 1
            self.by_endpoint[endpoint] += 1
            self.received.append({"method": method, "path": parsed.path, "headers": headers, "body": body, "at": time.time()})
            self._changed.notify_all()
        status, payload, hold = 200, None, False
        try:
            if parsed.path.startswith("/0/public/"):
                params = dict(urllib.parse.parse_qsl(parsed.query or body))
                payload = {"error": [], "result": self._public(endpoint, params)}
            elif parsed.path.startswith("/0/private/") and method == "POST":
                with self._lock:
                    late = next((i for i, (e, _s) in enumerate(self._late) if e == endpoint), None)
                    delay = self._late.pop(late)[1] if late is not None else 0.0
                if delay:
                    time.sleep(delay)
                try:
                    result, status, hold = self._private(endpoint, parsed.path, headers, body)
                finally:
                    if delay:
                        with self._lock:
                            self.late_processed += 1
                            self._changed.notify_all()
                payload = {"error": [], "result": result}
            else:
                raise _Refusal("EGeneral:Unknown method", http_status=404)
        except _Refusal as refusal:
            status, payload = refusal.http_status, {"error": refusal.errors}
        if hold:  # timeout_after_accept: placed, but the answer comes late (or never)
            self._release.wait(self.hold_seconds)
        raw = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(raw)))
            handler.end_headers()
            handler.wfile.write(raw)
        except OSError:
            pass  # the client gave up waiting

    def _public(self, endpoint: str, params: dict[str, str]) -> Any:
        if endpoint == "Time":
            now = time.time() + self.skew_seconds
            return {"unixtime": int(now), "rfc1123": time.strftime("%a, %d %b %y %H:%M:%S +0000", time.gmtime(now))}
        if endpoint == "SystemStatus":
            return {"status": self.status, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if endpoint == "AssetPairs":
            wanted = set(params.get("pair", "").split(",")) - {""}
            return {k: {**p} for k, p in PAIRS.items() if not wanted or k in wanted or p["altname"] in wanted}
        if endpoint == "Ticker":
            if self.ticker_down:
                raise _Refusal("EService:Unavailable")
            keys = [self._pair_key(name) for name in params.get("pair", "").split(",")]
            return {key: self._ticker(key) for key in keys}
        raise _Refusal("EGeneral:Unknown method", http_status=404)

    def _ticker(self, key: str) -> dict[str, Any]:
        """One pair's ticker as Kraken documents it: ``a`` ask [price, whole lot volume, lot
        volume], ``b`` bid, ``c`` last trade [price, lot volume], ``v`` volume [today, 24 h],
        ``p`` VWAP, ``t`` trades, ``l``/``h`` low/high, ``o`` today's opening price."""
        with self._lock:
            price, half = self.prices[key], self.spreads.get(key, 0.0) / 2
        decimals = PAIRS[key]["pair_decimals"]

        def text(value: float) -> str:
            return f"{value:.{decimals}f}"

        return {
            "a": [text(price + half), "1", "1.000"],
            "b": [text(price - half), "1", "1.000"],
            "c": [text(price), "0.00100000"],
            "v": ["12.50000000", "25.00000000"],
            "p": [text(price), text(price)],
            "t": [120, 240],
            "l": [text(price), text(price)],
            "h": [text(price), text(price)],
            "o": text(price),
        }

    def _take_fault(self, endpoint: str) -> str | None:
        for i, (kind, target, after) in enumerate(self._faults):
            if target == endpoint:
                if after:
                    self._faults[i] = (kind, target, after - 1)
                    return None
                del self._faults[i]
                return kind
        return None

    def _private(self, endpoint: str, path: str, headers: dict[str, str], body: str) -> tuple[Any, int, bool]:
        with self._lock:
            fault = self._take_fault(endpoint)
            if fault == "echo":
                raise _Refusal(f"EGeneral:Invalid arguments: request was {json.dumps({'headers': headers, 'body': body})}")
            if fault == "5xx_before":
                raise _Refusal(f"EService:Internal server error; request was {body}", http_status=502)
            key = next((v for k, v in headers.items() if k.lower() == "api-key"), None)
            signature = next((v for k, v in headers.items() if k.lower() == "api-sign"), None)
            if key != self.api_key:
                raise _Refusal("EAPI:Invalid key")
            params = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
            nonce_text = params.get("nonce", "")
            if not nonce_text.isdigit():
                raise _Refusal("EAPI:Invalid nonce")
            if signature != sign(path, nonce_text, body, self.api_secret):
                raise _Refusal("EAPI:Invalid signature")
            nonce = int(nonce_text)
            if fault == "invalid_nonce" or nonce <= self._last_nonce.get(key, 0):
                raise _Refusal("EAPI:Invalid nonce")
            self._last_nonce[key] = nonce
            if fault == "rate_limit":
                raise _Refusal("EAPI:Rate limit exceeded" if endpoint != "AddOrder" else "EOrder:Rate limit exceeded")
            if fault == "lockout":
                raise _Refusal("EGeneral:Temporary lockout")
            if fault == "unavailable":
                raise _Refusal("EService:Unavailable")
            if fault == "busy":
                raise _Refusal("EService:Busy")
            self._count(endpoint)
            handler = getattr(self, f"_ep_{endpoint}", None)
            if handler is None:
                raise _Refusal("EGeneral:Unknown method", http_status=404)
            result = handler(params)
            self._changed.notify_all()
            if fault == "5xx":
                raise _Refusal(f"EService:Internal server error; request was {body}", http_status=502)
            return result, 200, fault == "timeout_after_accept"

    def _count(self, endpoint: str) -> None:
        if self.rate_limit_max is None:
            return
        now = time.monotonic()
        self._level = max(0.0, self._level - (now - self._level_at) * self.rate_limit_decay)
        self._level_at = now
        cost = call_cost(endpoint)
        if self._level + cost > self.rate_limit_max + 1e-9:
            self.rate_limited += 1
            raise _Refusal("EAPI:Rate limit exceeded")
        self._level += cost

    # -- endpoints -------------------------------------------------------------------------

    def _pair_key(self, name: str) -> str:
        for key, pair in PAIRS.items():
            if name in (key, pair["altname"], pair["wsname"]):
                return key
        raise _Refusal("EQuery:Unknown asset pair")

    @staticmethod
    def _decimal(params: dict[str, str], name: str) -> Decimal:
        try:
            value = Decimal(params[name])
        except (KeyError, InvalidOperation):
            raise _Refusal(f"EGeneral:Invalid arguments:{name}") from None
        if not value.is_finite() or value <= 0:
            raise _Refusal(f"EGeneral:Invalid arguments:{name}")
        return value

    def _ep_AddOrder(self, params: dict[str, str]) -> dict[str, Any]:  # noqa: N802 - Kraken's names
        key = self._pair_key(params.get("pair", ""))
        pair = PAIRS[key]
        side, kind = params.get("type"), params.get("ordertype")
        if side not in ("buy", "sell") or kind not in ("market", "limit"):
            raise _Refusal("EGeneral:Invalid arguments:ordertype")
        if self.status in ("maintenance", "cancel_only"):
            raise _Refusal("EService:Market in cancel_only mode" if self.status == "cancel_only" else "EService:Unavailable")
        volume = self._decimal(params, "volume")
        if -volume.as_tuple().exponent > pair["lot_decimals"]:
            raise _Refusal("EGeneral:Invalid arguments:volume")
        if volume < Decimal(pair["ordermin"]):
            raise _Refusal("EOrder:Order minimum not met")
        price = None
        if kind == "limit":
            price = self._decimal(params, "price")
            if price % Decimal(pair["tick_size"]) != 0:
                raise _Refusal("EOrder:Invalid price:price must be a multiple of the tick size")
        last = Decimal(repr(self.prices[key]))
        if volume * (price or last) < Decimal(pair["costmin"]):
            raise _Refusal("EOrder:Cost minimum not met")
        if params.get("deadline"):
            from datetime import datetime

            try:
                deadline = datetime.fromisoformat(params["deadline"].replace("Z", "+00:00")).timestamp()
            except ValueError:
                raise _Refusal("EGeneral:Invalid arguments:deadline") from None
            if time.time() > deadline:
                raise _Refusal("EService:Deadline elapsed")
        cl_ord_id = params.get("cl_ord_id") or None
        if cl_ord_id is not None and any(o.get("cl_ord_id") == cl_ord_id for o in self._orders.values()):
            raise _Refusal("EOrder:Duplicate order")  # stricter than Kraken (open orders only): catches a double placement
        cost = volume * (price if price is not None and not self._marketable(side, price, last) else last)
        if side == "buy" and Decimal(repr(self.balances.get(pair["quote"], 0.0))) < cost * Decimal("1.0026"):
            raise _Refusal("EOrder:Insufficient funds")
        if side == "sell" and Decimal(repr(self.balances.get(pair["base"], 0.0))) < volume:
            raise _Refusal("EOrder:Insufficient funds")
        text = f"{side} {params['volume']} {pair['altname']} @ {'limit ' + params['price'] if price is not None else 'market'}"
        if params.get("validate") in ("true", "1", "True"):
            self.validated += 1
            return {"descr": {"order": text}}
        txid = self._place(key, side, kind, volume, price, cl_ord_id)
        return {"descr": {"order": text}, "txid": [txid]}

    @staticmethod
    def _marketable(side: str, price: Decimal, last: Decimal) -> bool:
        return price >= last if side == "buy" else price <= last

    def _place(self, key: str, side: str, kind: str, volume: Decimal, price: Decimal | None, cl_ord_id: str | None) -> str:
        pair = PAIRS[key]
        txid = "O" + secrets.token_hex(3).upper() + "-" + secrets.token_hex(3).upper()[:5] + "-" + secrets.token_hex(3).upper()
        now = time.time()
        info: dict[str, Any] = {
            "status": "open", "opentm": now, "closetm": 0, "vol": str(volume), "vol_exec": "0", "cost": "0", "fee": "0",
            "price": "0", "descr": {"pair": pair["altname"], "type": side, "ordertype": kind, "price": str(price or 0)},
            "cl_ord_id": cl_ord_id, "reason": None,
        }
        self._orders[txid] = info
        last = Decimal(repr(self.prices[key]))
        if price is None or self._marketable(side, price, last):
            cost = volume * last
            fee = cost * Decimal(repr(FEE_RATE))
            sign_ = 1 if side == "buy" else -1
            self.balances[pair["base"]] = float(Decimal(repr(self.balances.get(pair["base"], 0.0))) + sign_ * volume)
            self.balances[pair["quote"]] = float(Decimal(repr(self.balances.get(pair["quote"], 0.0))) - sign_ * cost - fee)
            info.update(status="closed", closetm=now, vol_exec=str(volume), cost=str(cost), fee=str(fee), price=str(last))
        return txid

    def _select(self, params: dict[str, str], statuses: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        wanted = params.get("cl_ord_id")
        return {t: dict(i) for t, i in self._orders.items() if i["status"] in statuses and (wanted is None or i.get("cl_ord_id") == wanted)}

    def _ep_OpenOrders(self, params: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        return {"open": self._select(params, ("open", "pending"))}

    def _ep_ClosedOrders(self, params: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        closed = self._select(params, ("closed", "canceled", "expired"))
        return {"closed": closed, "count": len(closed)}

    def _ep_QueryOrders(self, params: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        txids = [t for t in params.get("txid", "").split(",") if t]
        if not txids or any(t not in self._orders for t in txids):
            raise _Refusal("EOrder:Invalid order")
        return {t: dict(self._orders[t]) for t in txids}

    def _cancel_where(self, predicate: Any, reason: str = "User requested") -> int:
        count = 0
        for info in self._orders.values():
            if info["status"] in ("open", "pending") and predicate(info):
                info.update(status="canceled", closetm=time.time(), reason=reason)
                count += 1
        return count

    def _ep_CancelOrder(self, params: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        txid, cl_ord_id = params.get("txid"), params.get("cl_ord_id")
        if not txid and not cl_ord_id:
            raise _Refusal("EGeneral:Invalid arguments:txid")
        count = self._cancel_where(lambda i: (txid is not None and self._orders.get(txid) is i) or (cl_ord_id is not None and i.get("cl_ord_id") == cl_ord_id))
        if not count:
            raise _Refusal("EOrder:Unknown order")
        return {"count": count}

    def _ep_CancelAll(self, params: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        return {"count": self._cancel_where(lambda i: True)}

    def _ep_CancelAllOrdersAfter(self, params: dict[str, str]) -> dict[str, Any]:  # noqa: N802
        try:
            timeout = int(params.get("timeout", ""))
        except ValueError:
            raise _Refusal("EGeneral:Invalid arguments:timeout") from None
        now = time.time()
        self._dead_man_deadline = now + timeout if timeout > 0 else None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        trigger = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + timeout)) if timeout > 0 else "0"
        return {"currentTime": stamp, "triggerTime": trigger}

    def _ep_Balance(self, params: dict[str, str]) -> dict[str, str]:  # noqa: N802
        return {asset: format(Decimal(repr(amount)), "f") for asset, amount in self.balances.items()}
