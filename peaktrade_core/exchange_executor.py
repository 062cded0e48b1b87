"""The generic executor over any venue client (EXCH-1): retries, timeouts, no duplicates.

Rules, per order:

* every client call runs on its own worker thread and is waited for at most
  ``timeout_seconds``; a call that does not answer in time is an *unknown outcome*;
* ``TransientExchangeError`` (the venue certainly did not take the request: rate limit,
  maintenance) → retried, at most ``max_retries`` times, after ``backoff_seconds * 2**n``;
* before the first submit the order is checked against the venue's instrument rules
  (``client.instrument_rules(symbol)``, loaded once per symbol): an order that breaks one is
  refused (``risk_blocked``, reason ``instrument_rules: ...``), never rounded to fit;
* an unknown outcome (``UnknownOutcomeError``, a timeout, any unexpected exception) → the
  order is first looked up with ``fetch_order(client_order_id, symbol)``; it is submitted again only
  when the venue answers that it does not know the order *and* the earlier submit call has
  finished (a submit still running on its worker thread may yet land). So an order is never
  placed twice by this executor; the client order id (unique per run, stable within it) lets
  venues that enforce unique ids refuse a duplicate as a second line of defence;
* any other ``ExchangeError`` is a definite refusal → ``rejected`` with the venue's message;
* when the budget runs out the result is ``error``; if the outcome is still unknown,
  ``metadata["outcome_unknown"]`` is true and the reason says to check the venue.

The client's answer to ``submit_order`` and ``fetch_order`` is a dict of the shape
:class:`VenueOrderResponse`; :func:`result_from_response` maps it to the result.
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict

from peaktrade_core.log import logger
from peaktrade_core.orders import (
    ExchangeError,
    OrderExecutionResult,
    OrderFill,
    OrderRequest,
    OrderStatus,
    TransientExchangeError,
    UnknownOutcomeError,
)
from peaktrade_core.venues import INSTRUMENT_RULES, ExchangeClient, InstrumentRules


class VenueFill(TypedDict):
    quantity: float
    price: float
    fee: NotRequired[float]  # default 0
    fee_currency: NotRequired[str]  # default: the symbol's quote currency
    timestamp: NotRequired[float]  # epoch seconds; default: when the response was read


class VenueOrderResponse(TypedDict):
    """What ``ExchangeClient.submit_order`` and ``fetch_order`` return for one order.

    ``status``: ``accepted`` (open at the venue), ``validated`` (accepted by the venue's
    validation, never placed: validate-only), ``partially_filled``, ``filled``,
    ``rejected`` or ``cancelled``. ``fills`` decides the filled quantity: with fills the
    result is ``filled`` / ``partially_filled`` whatever ``status`` says; without, it is
    ``accepted`` unless the venue validated, rejected or cancelled the order. Anything else the venue
    said may stay in the dict: it is kept whole as ``venue_response``.
    """

    client_order_id: str
    status: Literal["accepted", "validated", "partially_filled", "filled", "rejected", "cancelled"]
    venue_order_id: NotRequired[str]
    fills: NotRequired[list[VenueFill]]
    reason: NotRequired[str]  # why the venue rejected or cancelled it


_REFUSED = {"rejected": "rejected by the venue", "cancelled": "cancelled by the venue"}


def result_from_response(
    order: OrderRequest, response: Any, now: float | None = None
) -> OrderExecutionResult:
    """Map a :class:`VenueOrderResponse` to the result; a malformed one gives ``error``
    (the venue did answer, so the order is *not* retried)."""
    if not isinstance(response, Mapping):
        return OrderExecutionResult(
            order,
            OrderStatus.ERROR,
            reasons=[f"venue response is not a mapping: {response!r:.200}"],
        )
    kept = dict(response)
    try:
        fills = [_fill(order, f, now) for f in response.get("fills") or ()]
    except (KeyError, TypeError, ValueError) as exc:
        return OrderExecutionResult(
            order,
            OrderStatus.ERROR,
            reasons=[f"venue response has a malformed fill: {exc}"],
            venue_response=kept,
        )
    status = response.get("status", "accepted")
    metadata = {"venue_order_id": response.get("venue_order_id")}
    if fills:
        filled = math.fsum(f.quantity for f in fills)
        done = filled >= order.quantity * (1 - 1e-9)
        result_status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        return OrderExecutionResult(
            order, result_status, fills, metadata=metadata, venue_response=kept
        )
    if status in _REFUSED:
        reason = str(response.get("reason") or _REFUSED[status])
        return OrderExecutionResult(
            order, OrderStatus.REJECTED, reasons=[reason], metadata=metadata, venue_response=kept
        )
    if status == "validated":
        metadata["validate_only"] = True
        return OrderExecutionResult(order, OrderStatus.VALIDATED, metadata=metadata, venue_response=kept)
    return OrderExecutionResult(order, OrderStatus.ACCEPTED, metadata=metadata, venue_response=kept)


def _fill(order: OrderRequest, raw: Mapping[str, Any], now: float | None) -> OrderFill:
    timestamp = raw.get("timestamp")
    currency = raw.get("fee_currency")
    return OrderFill(
        order.client_order_id,
        order.symbol,
        order.side,
        float(raw["quantity"]),
        float(raw["price"]),
        float(raw.get("fee", 0.0)),
        float(timestamp) if timestamp is not None else (now if now is not None else time.time()),
        str(currency) if currency is not None else None,
    )


class _StillInFlight(Exception):
    """The earlier submit has not returned: resubmitting could place the order twice."""


class ExchangeOrderExecutor:
    """Sends orders to a venue through ``client``. Declares ``sends_real_orders``, so
    ``create_order_executor`` always puts the gate guard in front of it."""

    sends_real_orders = True

    def __init__(
        self,
        client: ExchangeClient,
        *,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if max_retries < 0 or backoff_seconds < 0 or timeout_seconds <= 0:
            raise ValueError("max_retries and backoff_seconds must be >= 0, timeout_seconds > 0")
        self.client = client
        self.name = f"exchange:{client.name}"
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep
        self._rules: dict[str, InstrumentRules | None] = {}
        #: client order id -> symbol of the orders sent (cancel by id needs the symbol)
        self._symbols: dict[str, str] = {}

    def execute_orders(self, orders: Sequence[OrderRequest]) -> list[OrderExecutionResult]:
        return [self._execute_one(order) for order in orders]

    def cancel_order(self, client_order_id: str, symbol: str | None = None) -> bool:
        symbol = symbol or self._symbols.get(client_order_id)
        if symbol is None:
            raise ExchangeError(f"cancel {client_order_id}: symbol unknown (not sent by this executor); give it")
        return bool(self._await(self._call(self.client.cancel_order, client_order_id, symbol)))

    def cancel_all(self, symbol: str | None = None) -> int:
        return int(self._await(self._call(self.client.cancel_all, symbol)))

    # -- instrument rules --------------------------------------------------------------------

    def rule_problems(self, order: OrderRequest) -> list[str]:
        """Why the venue's instrument rules refuse ``order`` (empty: it fits). Rules are
        loaded once per symbol; rules that cannot be loaded refuse the order (fail closed)."""
        symbol = order.symbol
        if symbol not in self._rules:
            load = getattr(self.client, "instrument_rules", None)
            if load is None:
                self._rules[symbol] = None  # a client without rules: the venue decides
            else:
                try:
                    rules = self._await(self._call(load, symbol))
                except Exception as exc:  # noqa: BLE001 - not loaded = not checked = refused
                    return [f"rules for {symbol} could not be loaded ({type(exc).__name__}: {exc}); refused (fail closed)"]
                if rules is not None and not isinstance(rules, InstrumentRules):
                    return [f"rules for {symbol} are not InstrumentRules: {rules!r:.80}; refused (fail closed)"]
                self._rules[symbol] = rules
        rules = self._rules[symbol]
        return rules.problems(order) if rules is not None else []

    # -- one order -------------------------------------------------------------------------

    def _execute_one(self, order: OrderRequest) -> OrderExecutionResult:
        submit: concurrent.futures.Future[Any] | None = None  # the last submit call
        unknown = False  # the venue may have the order: look it up before any resubmit
        attempts = 0
        errors: list[str] = []
        problems = self.rule_problems(order)
        if problems:
            return OrderExecutionResult(
                order,
                OrderStatus.RISK_BLOCKED,
                reasons=[f"{INSTRUMENT_RULES}: {p}" for p in problems],
                metadata={"executor": self.name, "attempts": 0, "violation": INSTRUMENT_RULES},
            )
        if len(self._symbols) >= 100_000:  # bounded: drop the oldest
            del self._symbols[next(iter(self._symbols))]
        self._symbols[order.client_order_id] = order.symbol
        while True:
            try:
                if unknown:
                    response, recovered_by = self._look_up(order, submit)
                    if response is not None:
                        return self._result(order, response, attempts + 1, errors, recovered_by)
                    unknown = False  # the venue does not have it and no submit is running
                submit = self._call(self.client.submit_order, order)
                response = self._await(submit)
                return self._result(order, response, attempts + 1, errors, None)
            except TransientExchangeError as exc:
                errors.append(f"transient: {exc}")
            except (UnknownOutcomeError, _StillInFlight) as exc:
                unknown = True
                errors.append(f"outcome unknown: {exc}")
            except ExchangeError as exc:
                if unknown:  # a failed lookup settles nothing
                    errors.append(f"lookup failed: {exc}")
                else:
                    return self._refused(order, str(exc), attempts + 1, errors)
            except Exception as exc:  # noqa: BLE001 - a client bug after sending is still an unknown outcome
                unknown = True
                errors.append(f"outcome unknown: {type(exc).__name__}: {exc}")
            attempts += 1
            if attempts > self.max_retries:
                return self._gave_up(order, attempts, errors, unknown)
            delay = self.backoff_seconds * 2 ** (attempts - 1)
            logger.warning(
                "{} order {}: {}; retry {}/{} in {:g}s",
                self.name,
                order.client_order_id,
                errors[-1],
                attempts,
                self.max_retries,
                delay,
            )
            self.sleep(delay)

    def _look_up(
        self, order: OrderRequest, submit: concurrent.futures.Future[Any] | None
    ) -> tuple[Any, str | None]:
        """``(the venue's answer about the order, where it came from)``, or ``(None, None)``
        when the venue does not know the order and it is safe to submit."""
        submit_finished = submit is None or submit.done()  # sampled *before* the lookup
        known = self._await(self._call(self.client.fetch_order, order.client_order_id, order.symbol))
        if known is not None:
            return known, "fetch_order"
        if not submit_finished:
            raise _StillInFlight(
                "the venue does not list the order yet, but the submit has not returned"
            )
        if submit is not None and submit.exception() is None:
            return submit.result(), "late_submit_answer"  # answered after our timeout: it stands
        return None, None

    def _call(self, function: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """Run ``function`` on a daemon thread: a hung venue call can neither block the
        session beyond the timeout nor keep the process alive at exit."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(function(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                future.set_exception(exc)

        threading.Thread(target=run, name=f"peaktrade-{self.name}", daemon=True).start()
        return future

    def _await(self, future: concurrent.futures.Future[Any]) -> Any:
        try:
            return future.result(timeout=self.timeout_seconds)
        except concurrent.futures.TimeoutError:
            raise UnknownOutcomeError(f"no answer within {self.timeout_seconds:g}s") from None

    # -- results ---------------------------------------------------------------------------

    def _result(
        self,
        order: OrderRequest,
        response: Any,
        attempts: int,
        errors: list[str],
        recovered_by: str | None,
    ) -> OrderExecutionResult:
        result = result_from_response(order, response)
        result.metadata.update({"executor": self.name, "attempts": attempts})
        if recovered_by is not None:  # the outcome was unknown, then settled this way
            result.metadata["recovered_by"] = recovered_by
        if errors:
            result.metadata["retried_after"] = errors
        return result

    def _refused(
        self, order: OrderRequest, message: str, attempts: int, errors: list[str]
    ) -> OrderExecutionResult:
        result = OrderExecutionResult(
            order,
            OrderStatus.REJECTED,
            reasons=[f"{self.client.name}: {message}"],
            metadata={"executor": self.name, "attempts": attempts},
            venue_response={"error": message},
        )
        if errors:
            result.metadata["retried_after"] = errors
        return result

    def _gave_up(
        self, order: OrderRequest, attempts: int, errors: list[str], unknown: bool
    ) -> OrderExecutionResult:
        if unknown:
            reason = (
                f"outcome unknown after {attempts} attempts: order {order.client_order_id} may be "
                f"open at {self.client.name}; check it there by client order id ({errors[-1]})"
            )
        else:
            reason = f"{self.client.name} unavailable after {attempts} attempts ({errors[-1]})"
        logger.error("{} order {}: {}", self.name, order.client_order_id, reason)
        return OrderExecutionResult(
            order,
            OrderStatus.ERROR,
            reasons=[reason],
            metadata={
                "executor": self.name,
                "attempts": attempts,
                "outcome_unknown": unknown,
                "errors": errors,
            },
        )
