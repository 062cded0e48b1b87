"""The Kraken spot REST client: the core's ``ExchangeClient`` for the ``kraken`` venue.

Outcomes the core's executor acts on (docs/kraken.md has the table):

* ``ExchangeError`` — Kraken refused (bad key or signature, invalid arguments, insufficient
  funds, …), or this client refused before sending (system status, clock skew, an order
  Kraken cannot take);
* ``TransientExchangeError`` — back off and retry: rate limits, temporary lockout, no
  connection (nothing was sent);
* ``UnknownOutcomeError`` — the request may have been executed: timeouts after sending,
  HTTP 5xx, ``EService:Unavailable`` / ``EService:Busy``. The executor reconciles by client
  order id before any retry.

No message this client produces contains the API key, the secret, a nonce, a signature or
the request body: Kraken's own words are scrubbed of them before they travel anywhere.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
import urllib.parse
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peaktrade_core.plugin_api import (
    REDACTED,
    ExchangeError,
    InstrumentRules,
    OrderRequest,
    OrderType,
    SecretError,
    Side,
    TimeInForce,
    TransientExchangeError,
    UnknownOutcomeError,
    logger,
    register_secret,
)
from peaktrade_kraken.auth import CallCounter, NonceStore, call_cost, sign

if TYPE_CHECKING:
    import httpx

    from peaktrade_core.plugin_api import Quote
    from peaktrade_kraken.plugin import KrakenSettings

#: back off and retry: Kraken certainly did not act on the request
TRANSIENT_ERRORS = ("EAPI:Rate limit exceeded", "EOrder:Rate limit exceeded", "EGeneral:Temporary lockout", "EService:Deadline elapsed")
#: the request may have been executed: reconcile before retrying
UNKNOWN_ERRORS = ("EService:Unavailable", "EService:Busy", "EGeneral:Internal error")
#: statuses in which Kraken takes no new (normal) orders
BLOCKING_STATUSES = {
    "maintenance": "Kraken is in maintenance",
    "cancel_only": "Kraken accepts cancels only (cancel_only)",
    "post_only": "Kraken accepts post-only limit orders only (post_only)",
    "limit_only": "Kraken accepts limit orders only (limit_only)",
}
#: an AddOrder deadline is at least this far ahead (Kraken takes now + 2 s .. now + 60 s)
MIN_DEADLINE_SECONDS = 2.5
#: after an unknown outcome, wait until this long past the deadline before reporting it
DEADLINE_MARGIN_SECONDS = 1.0
#: Kraken's names for assets where they differ from everyone else's
_ASSET_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_FREE_TEXT = re.compile(r"^[A-Za-z0-9_.:-]{1,18}$")


def common_asset(code: str) -> str:
    """Kraken's asset code as the rest of the world writes it: ``XXBT``/``XBT`` -> ``BTC``,
    ``ZEUR`` -> ``EUR``."""
    if len(code) == 4 and code[0] in "XZ" and code not in ("XTZ",):
        code = code[1:]
    return _ASSET_ALIASES.get(code, code)


def kraken_cl_ord_id(client_order_id: str) -> str:
    """The core's client order id as Kraken's ``cl_ord_id``: a UUID, 32 hex characters (a UUID
    without dashes, what the core makes) or up to 18 characters of free text pass unchanged;
    anything else becomes 32 hex characters of its hash — the same every time, so a lookup
    by the core's id still finds the order."""
    if _UUID.match(client_order_id) or _HEX32.match(client_order_id) or _FREE_TEXT.match(client_order_id):
        return client_order_id
    return hashlib.blake2b(client_order_id.encode(), digest_size=16).hexdigest()


def _rfc3339(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decimal_text(value: float) -> str:
    """A number as Kraken takes it: plain decimal, no exponent, never rounded."""
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class KrakenClient:
    """One Kraken API key, spot. ``validate_only``: every ``AddOrder`` carries
    ``validate=true`` (checked by Kraken, never placed) and nothing that changes the account
    is sent at all — no cancel, no dead man's switch — because Kraken has no separate
    testnet: the key is a production key."""

    name = "kraken"

    def __init__(
        self,
        settings: KrakenSettings,
        *,
        validate_only: bool,
        data_dir: str | Path | None = None,
        store: Any = None,
        sleep: Any = time.sleep,
    ):
        self.settings = settings
        self.validate_only = validate_only
        self.testnet = validate_only
        self.endpoint = settings.base_url
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._store = store
        self._http_client: httpx.Client | None = None
        self._credentials: tuple[str, str] | None = None
        self._nonces: NonceStore | None = None
        self._lock = threading.Lock()
        self._sleep = sleep
        self._counter: CallCounter | None = None
        self._pairs: dict[str, dict[str, Any]] | None = None  # core symbol -> pair info
        self._checked_at: float | None = None  # monotonic time of the last status/skew check
        self.clock_skew: float | None = None
        self.system_status: str | None = None
        self._dead_man: float | None = None  # the armed timeout
        self._dead_man_at = 0.0  # monotonic time it was last armed

    # -- plumbing --------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._http_client is None:
                timeout = httpx.Timeout(self.settings.timeout_seconds, connect=self.settings.connect_timeout_seconds)
                self._http_client = httpx.Client(
                    base_url=self.endpoint,
                    timeout=timeout,
                    follow_redirects=False,
                    headers={"User-Agent": "peaktrade-kraken/0.1"},
                )
            return self._http_client

    def close(self) -> None:
        with self._lock:
            if self._http_client is not None:
                self._http_client.close()
                self._http_client = None

    def _secrets(self) -> tuple[str, str]:
        if self._credentials is None:
            settings = self.settings
            if settings.api_key is None or settings.api_secret is None:
                raise ExchangeError("kraken: [plugins.kraken] api_key and api_secret are not set (give references, e.g. { env = \"PEAK_TRADE_KRAKEN_API_KEY\" })")
            try:
                key, secret = settings.api_key.resolve(), settings.api_secret.resolve()
            except SecretError as exc:
                raise ExchangeError(f"kraken: credentials: {exc}") from None
            register_secret(key)
            register_secret(secret)
            self._credentials = (key, secret)
        return self._credentials

    def _nonce_store(self, key: str) -> NonceStore:
        if self._nonces is None:
            store = self._store
            if store is None:
                from peaktrade_core.plugin_api import StateStore

                if self._data_dir is None:
                    raise ExchangeError("kraken: no data directory for the nonce store")
                store = self._store = StateStore.in_dir(self._data_dir)
            self._nonces = NonceStore(store, key)
        return self._nonces

    def _call_counter(self, key: str) -> CallCounter:
        if self._counter is None:
            store = self._nonce_store(key).store
            settings = self.settings
            self._counter = CallCounter(settings.rate_limit_max, settings.rate_limit_decay_per_second, store, key, sleep=self._sleep)
        return self._counter

    def _scrub(self, text: str, *extra: str) -> str:
        """Kraken's (or an HTTP stack's) words, without anything secret, one line, short."""
        values = [*(self._credentials or ()), *extra]
        for value in sorted((v for v in values if v), key=len, reverse=True):
            text = text.replace(value, REDACTED)
            quoted = urllib.parse.quote_plus(value)
            if quoted != value:
                text = text.replace(quoted, REDACTED)
        text = re.sub(r"nonce=\d+", "nonce=" + REDACTED, text)
        return " ".join(text.split())[:300]

    def _send(self, method: str, path: str, *, body: str | None = None, headers: dict[str, str] | None = None, scrub: tuple[str, ...] = ()) -> Any:
        """One HTTP request; the JSON answer, or the right exception."""
        import httpx

        endpoint = path.split("?", 1)[0].rsplit("/", 1)[-1]
        started = time.monotonic()
        try:
            if method == "GET":
                response = self._http().get(path)
            else:
                response = self._http().post(
                    path, content=body or "", headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientExchangeError(f"kraken {endpoint}: no connection to {self.endpoint} ({type(exc).__name__}); nothing was sent") from None
        except httpx.TimeoutException:
            raise UnknownOutcomeError(f"kraken {endpoint}: no answer within {self.settings.timeout_seconds:g}s") from None
        except httpx.HTTPError as exc:
            raise UnknownOutcomeError(f"kraken {endpoint}: {type(exc).__name__}: {self._scrub(str(exc), *scrub)}") from None
        logger.debug("kraken {} {} -> HTTP {} in {:.0f} ms", method, endpoint, response.status_code, (time.monotonic() - started) * 1000)
        if response.status_code >= 500:
            raise UnknownOutcomeError(f"kraken {endpoint}: HTTP {response.status_code} {self._scrub(response.text, *scrub)!r}")
        if response.status_code == 429:
            raise TransientExchangeError(f"kraken {endpoint}: HTTP 429 (rate limited)")
        try:
            data = response.json()
        except ValueError:
            raise UnknownOutcomeError(
                f"kraken {endpoint}: HTTP {response.status_code}, not JSON: {self._scrub(response.text, *scrub)!r}"
            ) from None
        if not isinstance(data, dict):
            raise UnknownOutcomeError(f"kraken {endpoint}: unexpected answer {self._scrub(str(data), *scrub)!r}")
        errors = [str(e) for e in data.get("error") or []]
        if errors:
            raise self._error(endpoint, errors, scrub)
        if response.status_code != 200:
            raise ExchangeError(f"kraken {endpoint}: HTTP {response.status_code} {self._scrub(response.text, *scrub)!r}")
        return data.get("result")

    def _error(self, endpoint: str, errors: list[str], scrub: tuple[str, ...]) -> ExchangeError:
        message = f"kraken {endpoint}: " + self._scrub("; ".join(errors), *scrub)
        if any(e.startswith(TRANSIENT_ERRORS) for e in errors):
            return TransientExchangeError(message)
        if any(e.startswith(UNKNOWN_ERRORS) for e in errors):
            return UnknownOutcomeError(message)
        error = ExchangeError(message)
        error.kraken_errors = errors  # type: ignore[attr-defined]
        return error

    def _public(self, endpoint: str, params: dict[str, str] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._send("GET", f"/0/public/{endpoint}{query}")

    def _private(self, endpoint: str, params: dict[str, str] | None = None) -> Any:
        """A signed call. ``EAPI:Invalid nonce`` (another process using the key got ahead, or
        two of our requests crossed) is retried once with a fresh nonce: Kraken refused the
        request before looking at it, so nothing was executed."""
        key, secret = self._secrets()
        nonces = self._nonce_store(key)
        path = f"/0/private/{endpoint}"
        for attempt in (1, 2):
            self._call_counter(key).acquire(call_cost(endpoint))  # a refused request counts at Kraken too
            nonce = nonces.next()
            body = urllib.parse.urlencode({"nonce": str(nonce), **(params or {})})
            signature = sign(path, nonce, body, secret)
            scrub = (signature, str(nonce), body)
            try:
                return self._send("POST", path, body=body, headers={"API-Key": key, "API-Sign": signature}, scrub=scrub)
            except ExchangeError as exc:
                errors = getattr(exc, "kraken_errors", [])
                if attempt == 1 and any(e.startswith("EAPI:Invalid nonce") for e in errors):
                    logger.warning("kraken {}: nonce refused; retrying once with a fresh one", endpoint)
                    continue
                if any(e.startswith("EAPI:Invalid nonce") for e in errors):
                    raise ExchangeError(
                        f"{exc} (twice: does another program use this API key with larger nonces? "
                        "give each program its own key, or share one data directory)"
                    ) from None
                raise
        raise AssertionError("unreachable")

    # -- venue status ----------------------------------------------------------------------

    def server_time(self) -> float:
        return float(self._public("Time")["unixtime"])

    def _status(self) -> str:
        return str(self._public("SystemStatus").get("status", "unknown"))

    def _measure(self) -> None:
        status = self._status()
        before = time.time()
        server = self.server_time()
        after = time.time()
        # Kraken's Time is whole seconds: the venue's clock lies in [server, server + 1)
        local = (before + after) / 2
        skew = 0.0 if server <= local < server + 1 else (server + 0.5) - local
        self.system_status, self.clock_skew = status, skew
        self._checked_at = time.monotonic()

    def ping(self) -> dict[str, Any]:
        self._measure()
        return {
            "status": self.system_status,
            "clock_skew_seconds": round(self.clock_skew or 0.0, 3),
            "max_clock_skew_seconds": self.settings.max_clock_skew_seconds,
            "submits_blocked": self._submit_problem(),
            "endpoint": self.endpoint,
            "validate_only": self.validate_only,
        }

    def _submit_problem(self) -> str | None:
        if self.system_status != "online":
            return BLOCKING_STATUSES.get(self.system_status or "", f"Kraken system status is {self.system_status!r}")
        if self.clock_skew is not None and abs(self.clock_skew) > self.settings.max_clock_skew_seconds:
            return (
                f"clock skew {self.clock_skew:+.1f}s between this host and Kraken exceeds "
                f"max_clock_skew_seconds = {self.settings.max_clock_skew_seconds:g}; fix the host clock (NTP)"
            )
        return None

    def _check_venue_ready(self) -> None:
        """Before a submit: Kraken takes orders and our clock agrees with Kraken's."""
        fresh = self._checked_at is not None and time.monotonic() - self._checked_at < self.settings.status_check_seconds
        if not fresh:
            try:
                self._measure()
            except UnknownOutcomeError as exc:  # a status read: no order was sent
                raise TransientExchangeError(f"{exc}; no order was sent") from None
        problem = self._submit_problem()
        if problem:
            self._checked_at = None  # look again next time
            raise ExchangeError(f"kraken: submit blocked, nothing sent: {problem}")

    # -- instruments -----------------------------------------------------------------------

    def _pair_map(self) -> dict[str, dict[str, Any]]:
        if self._pairs is None:
            result = self._public("AssetPairs")
            pairs: dict[str, dict[str, Any]] = {}
            for key, info in (result or {}).items():
                wsname = info.get("wsname")
                if not wsname or "/" not in wsname:
                    continue
                base, quote = wsname.split("/", 1)
                entry = {**info, "key": key, "symbol": f"{_ASSET_ALIASES.get(base, base)}/{_ASSET_ALIASES.get(quote, quote)}"}
                for name in {entry["symbol"], wsname, info.get("altname"), key}:
                    if name:
                        pairs.setdefault(name, entry)
            self._pairs = pairs
        return self._pairs

    def pair(self, symbol: str) -> dict[str, Any]:
        """Kraken's pair for ``symbol`` (``BTC/EUR``, ``XBT/EUR``, ``XBTEUR`` or ``XXBTZEUR``)."""
        info = self._pair_map().get(symbol) or self._pair_map().get(symbol.upper())
        if info is None:
            raise ExchangeError(f"kraken: unknown symbol {symbol!r} (not in AssetPairs)")
        return info

    def symbol_of(self, pair_name: str) -> str:
        info = self._pair_map().get(pair_name)
        return info["symbol"] if info else pair_name

    def instrument_rules(self, symbol: str) -> InstrumentRules:
        info = self.pair(symbol)

        def number(name: str) -> float | None:
            value = info.get(name)
            return float(value) if value not in (None, "") and float(value) > 0 else None

        tick = number("tick_size")
        if tick is None and info.get("pair_decimals") is not None:
            tick = 10.0 ** -int(info["pair_decimals"])
        lot = 10.0 ** -int(info["lot_decimals"]) if info.get("lot_decimals") is not None else None
        return InstrumentRules(symbol, tick_size=tick, lot_step=lot, min_quantity=number("ordermin"), min_notional=number("costmin"))

    def fetch_ticker(self, symbol: str) -> float:
        info = self.pair(symbol)
        result = self._public("Ticker", {"pair": info["altname"]})
        (ticker,) = result.values()
        return float(ticker["c"][0])

    def quotes(self, symbols: list[str]) -> list[Quote]:
        """The public ``Ticker`` of ``symbols`` in one request, as quotes: ``c`` (last trade)
        is the price, ``b``/``a`` the best bid/ask, ``v`` the last 24 hours' volume. Kraken's
        ticker carries no time: a quote is stamped when its answer arrived."""
        from peaktrade_core.plugin_api import Quote

        pairs = {self.pair(symbol)["key"]: symbol for symbol in symbols}
        result = self._public("Ticker", {"pair": ",".join(self.pair(s)["altname"] for s in symbols)})
        at = time.time()
        out = []
        for key, ticker in (result or {}).items():
            symbol = pairs.get(key) or pairs.get(self.pair(key)["key"])
            if symbol is None:
                continue
            out.append(
                Quote(
                    symbol,
                    float(ticker["c"][0]),
                    at,
                    bid=float(ticker["b"][0]),
                    ask=float(ticker["a"][0]),
                    volume=float(ticker["v"][1]),
                )
            )
        return out

    # -- orders ----------------------------------------------------------------------------

    def _add_order_params(self, order: OrderRequest, cl_ord_id: str) -> dict[str, str]:
        if order.time_in_force is TimeInForce.FOK:
            raise ExchangeError("kraken: fill-or-kill is not offered on Kraken spot; nothing sent")
        if order.reduce_only and order.side is Side.BUY:
            raise ExchangeError("kraken: reduce-only buys do not exist on spot (no short to reduce); nothing sent")
        params = {
            "ordertype": order.order_type.value,
            "type": order.side.value,
            "volume": decimal_text(order.quantity),
            "pair": self.pair(order.symbol)["altname"],
            "cl_ord_id": cl_ord_id,
        }
        if order.order_type is OrderType.LIMIT:
            params["price"] = decimal_text(order.limit_price)  # type: ignore[arg-type]
            if order.time_in_force is TimeInForce.IOC:
                params["timeinforce"] = "IOC"
        if self.validate_only:
            params["validate"] = "true"
        return params

    def submit_order(self, order: OrderRequest) -> dict[str, Any]:
        cl_ord_id = kraken_cl_ord_id(order.client_order_id)
        params = self._add_order_params(order, cl_ord_id)
        self._check_venue_ready()
        self._refresh_dead_man()
        # Kraken's matching engine rejects the request once its deadline passes: a request
        # stuck in a queue can then no longer land after we gave up on it, and a lookup by
        # client order id after the deadline is conclusive (no second order on a resubmit)
        offset = min(60.0, max(MIN_DEADLINE_SECONDS, self.settings.timeout_seconds))
        deadline = time.time() + offset
        params["deadline"] = _rfc3339(deadline + (self.clock_skew or 0.0))
        try:
            result = self._private("AddOrder", params)
        except UnknownOutcomeError:
            wait = deadline + DEADLINE_MARGIN_SECONDS - time.time()
            if wait > 0:
                self._sleep(wait)
            raise
        description = ((result or {}).get("descr") or {}).get("order", "")
        if self.validate_only:
            return {"client_order_id": order.client_order_id, "status": "validated", "symbol": order.symbol, "description": description, "validate_only": True}
        txids = (result or {}).get("txid") or []
        response: dict[str, Any] = {"client_order_id": order.client_order_id, "status": "accepted", "symbol": order.symbol, "description": description}
        if txids:
            response["venue_order_id"] = txids[0]
            try:  # the fills, where there are any already; the order stands either way
                info = self._private("QueryOrders", {"txid": txids[0], "trades": "false"}) or {}
                if txids[0] in info:
                    response = self._response(order.client_order_id, txids[0], info[txids[0]])
            except ExchangeError as exc:
                logger.warning("kraken: order {} placed; its state could not be read yet: {}", order.client_order_id, exc)
        return response

    def _response(self, client_order_id: str, txid: str, info: dict[str, Any]) -> dict[str, Any]:
        """Kraken's order info as the core's VenueOrderResponse."""
        status = str(info.get("status", ""))
        executed = float(info.get("vol_exec") or 0.0)
        descr = info.get("descr") or {}
        symbol = self.symbol_of(str(descr.get("pair", "")))
        mapped = {"pending": "accepted", "open": "accepted", "closed": "filled", "canceled": "cancelled", "expired": "cancelled"}.get(status, "accepted")
        if mapped == "accepted" and executed > 0:
            mapped = "partially_filled"
        if mapped == "filled" and executed <= 0:
            mapped = "cancelled"
        response: dict[str, Any] = {
            "client_order_id": client_order_id,
            "status": mapped,
            "venue_order_id": txid,
            "symbol": symbol,
            "kraken_status": status,
            "quantity": float(info.get("vol") or 0.0),
        }
        if executed > 0:
            quote = symbol.split("/", 1)[1] if "/" in symbol else None
            fill = {
                "quantity": executed,
                "price": float(info.get("price") or 0.0) or float(info.get("cost") or 0.0) / executed,
                "fee": float(info.get("fee") or 0.0),
                "timestamp": float(info.get("closetm") or info.get("opentm") or time.time()),
            }
            if quote:
                fill["fee_currency"] = quote
            response["fills"] = [fill]
        if status in ("canceled", "expired") and info.get("reason"):
            response["reason"] = str(info["reason"])
        return response

    def fetch_order(self, client_order_id: str, symbol: str | None = None) -> dict[str, Any] | None:
        """The order by the core's client id (Kraken finds it by ``cl_ord_id`` alone; the
        symbol is accepted for the interface)."""
        cl_ord_id = kraken_cl_ord_id(client_order_id)
        open_orders = (self._private("OpenOrders", {"cl_ord_id": cl_ord_id}) or {}).get("open") or {}
        for txid, info in open_orders.items():
            if info.get("cl_ord_id") == cl_ord_id:
                return self._response(client_order_id, txid, info)
        closed = (self._private("ClosedOrders", {"cl_ord_id": cl_ord_id}) or {}).get("closed") or {}
        for txid, info in closed.items():
            if info.get("cl_ord_id") == cl_ord_id:
                return self._response(client_order_id, txid, info)
        return None

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        wanted = self.pair(symbol)["altname"] if symbol else None
        open_orders = (self._private("OpenOrders") or {}).get("open") or {}
        out = []
        for txid, info in open_orders.items():
            if wanted is not None and (info.get("descr") or {}).get("pair") != wanted:
                continue
            out.append(self._response(str(info.get("cl_ord_id") or txid), txid, info))
        return out

    def cancel_order(self, client_order_id: str, symbol: str | None = None) -> bool:
        """True when Kraken cancelled it; False when Kraken has no open order by that id."""
        if self.validate_only:
            return False  # a validate-only client placed nothing and changes nothing
        try:
            result = self._private("CancelOrder", {"cl_ord_id": kraken_cl_ord_id(client_order_id)})
        except ExchangeError as exc:
            if any(e.startswith("EOrder:Unknown order") for e in getattr(exc, "kraken_errors", [])):
                return False
            raise
        return int((result or {}).get("count") or 0) > 0

    def cancel_all(self, symbol: str | None = None) -> int:
        """Cancel every open order (``symbol``: of that pair only). Kraken's ``CancelAll``
        has no pair filter, so a symbol cancels its open orders one by one."""
        if self.validate_only:
            return 0  # never touch the production account's real orders from a testnet session
        if symbol is None:
            return int((self._private("CancelAll") or {}).get("count") or 0)
        cancelled = 0
        for entry in self.fetch_open_orders(symbol):
            try:
                result = self._private("CancelOrder", {"txid": entry["venue_order_id"]})
            except ExchangeError as exc:
                if any(e.startswith("EOrder:Unknown order") for e in getattr(exc, "kraken_errors", [])):
                    continue  # filled or cancelled meanwhile
                raise
            cancelled += int((result or {}).get("count") or 0)
        return cancelled

    # -- account ---------------------------------------------------------------------------

    def fetch_balances(self) -> dict[str, float]:
        balances: dict[str, float] = {}
        for code, amount in (self._private("Balance") or {}).items():
            name = common_asset(code)
            balances[name] = balances.get(name, 0.0) + float(amount)
        return balances

    def fetch_positions(self) -> dict[str, float]:
        """Spot holds assets, not positions: see ``fetch_balances``."""
        return {}

    # -- dead man's switch -----------------------------------------------------------------

    def arm_dead_man_switch(self, timeout_seconds: float | None = None) -> None:
        """Kraken cancels every open order of the key unless re-armed within the timeout
        (``CancelAllOrdersAfter``). Not sent by a validate-only client: on the production
        account it would cancel orders this session never placed."""
        timeout = timeout_seconds if timeout_seconds else self.settings.dead_man_timeout_seconds
        if self.validate_only:
            return
        self._private("CancelAllOrdersAfter", {"timeout": str(max(1, math.ceil(timeout)))})
        self._dead_man, self._dead_man_at = timeout, time.monotonic()

    def disarm_dead_man_switch(self) -> None:
        if self.validate_only:
            return
        self._private("CancelAllOrdersAfter", {"timeout": "0"})
        self._dead_man = None

    def _refresh_dead_man(self) -> None:
        """While armed, every submit re-arms once a third of the timeout has passed: the
        switch stays armed while this process is working and fires when it stops."""
        if self._dead_man is not None and time.monotonic() - self._dead_man_at > self._dead_man / 3:
            try:
                self.arm_dead_man_switch(self._dead_man)
            except ExchangeError as exc:  # before the order: whatever happened, it was not sent
                raise TransientExchangeError(f"{exc}; re-arming the dead man's switch failed, the order was not sent") from None
