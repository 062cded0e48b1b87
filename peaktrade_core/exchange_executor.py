"""The generic executor over any venue client (EXCH-1): retries, timeouts, no duplicates.

Rules, per order:

* every client call runs on its own worker thread and is waited for at most
  ``timeout_seconds``; a call that does not answer in time is an *unknown outcome*;
* ``TransientExchangeError`` (the venue certainly did not take the request: rate limit,
  maintenance) → retried, at most ``max_retries`` times, after ``backoff_seconds * 2**n``;
* an unknown outcome (``UnknownOutcomeError``, a timeout, any unexpected exception) → the
  order is first looked up with ``fetch_order(client_order_id)``; it is submitted again only
  when the venue answers that it does not know the order *and* the earlier submit call has
  finished (a submit still running on its worker thread may yet land). So an order is never
  placed twice by this executor; the deterministic client order id lets venues that enforce
  unique ids refuse a duplicate as a second line of defence;
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
    ExchangeClient,
    ExchangeError,
    OrderExecutionResult,
    OrderFill,
    OrderRequest,
    OrderStatus,
    TransientExchangeError,
    UnknownOutcomeError,
)


class VenueFill(TypedDict):
    quantity: float
    price: float
    fee: NotRequired[float]  # in the quote currency; default 0
    timestamp: NotRequired[float]  # epoch seconds; default: when the response was read


class VenueOrderResponse(TypedDict):
    """What ``ExchangeClient.submit_order`` and ``fetch_order`` return for one order.

    ``status``: ``accepted`` (open at the venue), ``partially_filled``, ``filled``,
    ``rejected`` or ``cancelled``. ``fills`` decides the filled quantity: with fills the
    result is ``filled`` / ``partially_filled`` whatever ``status`` says; without, it is
    ``accepted`` unless the venue rejected or cancelled the order. Anything else the venue
    said may stay in the dict: it is kept whole as ``venue_response``.
    """

    client_order_id: str
    status: Literal["accepted", "partially_filled", "filled", "rejected", "cancelled"]
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
    return OrderExecutionResult(order, OrderStatus.ACCEPTED, metadata=metadata, venue_response=kept)


def _fill(order: OrderRequest, raw: Mapping[str, Any], now: float | None) -> OrderFill:
    timestamp = raw.get("timestamp")
    return OrderFill(
        order.client_order_id,
        order.symbol,
        order.side,
        float(raw["quantity"]),
        float(raw["price"]),
        float(raw.get("fee", 0.0)),
        float(timestamp) if timestamp is not None else (now if now is not None else time.time()),
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

    def execute_orders(self, orders: Sequence[OrderRequest]) -> list[OrderExecutionResult]:
        return [self._execute_one(order) for order in orders]

    def cancel_order(self, client_order_id: str) -> bool:
        return bool(self._await(self._call(self.client.cancel_order, client_order_id)))

    # -- one order -------------------------------------------------------------------------

    def _execute_one(self, order: OrderRequest) -> OrderExecutionResult:
        submit: concurrent.futures.Future[Any] | None = None  # the last submit call
        unknown = False  # the venue may have the order: look it up before any resubmit
        attempts = 0
        errors: list[str] = []
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
