"""ExchangeOrderExecutor against an in-process venue: retries, timeouts, never a duplicate
order, and the guard in front of it when selected through ``create_order_executor``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core.exchange_executor import ExchangeOrderExecutor, result_from_response
from peaktrade_core.executors import GuardedExecutor, create_order_executor
from peaktrade_core.hookspecs import hookimpl
from peaktrade_core.killswitch import KillSwitch
from peaktrade_core.orders import (
    ExchangeClient,
    ExchangeError,
    OrderRequest,
    OrderStatus,
    TransientExchangeError,
    UnknownOutcomeError,
)
from peaktrade_core.state import StateStore
from peaktrade_core.testing import live_environment, registered_plugin

PRICE = 50_000.0


class FakeVenue:
    """A venue in the test process. It does not deduplicate client order ids (the worst
    case), so ``placed`` shows every order that actually reached its book.

    ``submit_script`` / ``fetch_script`` say how the next calls behave (default ``ok``):
    submit: ``transient`` (429, nothing booked), ``lost`` (502 before booking), ``refuse``,
    ``accept_then_fail`` (booked, then 504), ``accept_then_hang`` (booked, then no answer
    until ``release`` is set), ``hang_then_accept`` (no answer until ``release``, then
    booked and answered); fetch: ``transient``, ``unknown`` (timeout-like), ``ok``.
    """

    name = "fakevenue"

    def __init__(self, submit_script=(), fetch_script=(), fill=True):
        self.submit_script = list(submit_script)
        self.fetch_script = list(fetch_script)
        self.fill = fill
        self.placed: list[OrderRequest] = []
        self.book: dict[str, dict[str, Any]] = {}
        self.submit_calls = 0
        self.fetch_calls = 0
        self.cancelled: list[str] = []
        self.release = threading.Event()
        self.submit_returned = threading.Event()
        self.lagging_reads = False  # fetch_order does not see the book yet (read replica)
        self._lock = threading.Lock()

    def _book(self, order: OrderRequest) -> dict[str, Any]:
        record: dict[str, Any] = {
            "client_order_id": order.client_order_id,
            "venue_order_id": f"V{len(self.placed) + 1}",
            "status": "filled" if self.fill else "accepted",
        }
        if self.fill:
            record["fills"] = [
                {"quantity": order.quantity, "price": PRICE, "fee": 1.25, "timestamp": 1.0}
            ]
        with self._lock:
            self.placed.append(order)
            self.book[order.client_order_id] = record
        return record

    def submit_order(self, order: OrderRequest) -> dict[str, Any]:
        with self._lock:
            self.submit_calls += 1
            behaviour = self.submit_script.pop(0) if self.submit_script else "ok"
        try:
            if behaviour == "transient":
                raise TransientExchangeError("429 rate limited")
            if behaviour == "lost":
                raise UnknownOutcomeError("502 bad gateway")
            if behaviour == "refuse":
                raise ExchangeError("EOrder:Insufficient funds")
            if behaviour == "hang_then_accept":
                self.release.wait(5)
            record = self._book(order)
            if behaviour == "accept_then_fail":
                raise UnknownOutcomeError("504 gateway timeout")
            if behaviour == "accept_then_hang":
                self.release.wait(5)
            return dict(record)
        finally:
            self.submit_returned.set()

    def fetch_order(self, client_order_id: str, symbol: str = "") -> dict[str, Any] | None:
        with self._lock:
            self.fetch_calls += 1
            behaviour = self.fetch_script.pop(0) if self.fetch_script else "ok"
        if behaviour == "transient":
            raise TransientExchangeError("503 maintenance")
        if behaviour == "unknown":
            raise UnknownOutcomeError("read timed out")
        if self.lagging_reads:
            return None
        record = self.book.get(client_order_id)
        return dict(record) if record else None

    def ping(self) -> dict[str, Any]:
        return {"status": "online"}

    def cancel_order(self, client_order_id: str) -> bool:
        self.cancelled.append(client_order_id)
        return client_order_id in self.book

    def cancel_all(self) -> int:
        return len(self.book)

    def fetch_positions(self) -> dict[str, float]:
        return {}

    def fetch_balances(self) -> dict[str, float]:
        return {"EUR": 1000.0}


class Sleeps(list):
    """A ``sleep`` that records the delays instead of waiting (unless told to act)."""

    def __init__(self, on_sleep: Callable[[int], None] | None = None):
        super().__init__()
        self.on_sleep = on_sleep

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self.on_sleep:
            self.on_sleep(len(self))


def order(quantity=0.5, ref="1") -> OrderRequest:
    return OrderRequest("BTC/EUR", "buy", quantity, source_ref=ref)


def make(venue: FakeVenue, **kw) -> tuple[ExchangeOrderExecutor, Sleeps]:
    sleeps = kw.pop("sleep", None)
    if sleeps is None:  # an empty Sleeps is falsy
        sleeps = Sleeps()
    kw.setdefault("max_retries", 3)
    kw.setdefault("backoff_seconds", 0.1)
    kw.setdefault("timeout_seconds", 2.0)
    return ExchangeOrderExecutor(venue, sleep=sleeps, **kw), sleeps


@pytest.fixture
def venue():
    v = FakeVenue()
    yield v
    v.release.set()  # let any hanging venue thread finish


def test_the_fake_venue_satisfies_the_client_protocol(venue):
    assert isinstance(venue, ExchangeClient)
    executor, _ = make(venue)
    assert executor.name == "exchange:fakevenue"
    assert executor.sends_real_orders is True


def test_filled_order_maps_fills_and_keeps_the_venue_response(venue):
    executor, sleeps = make(venue)
    o = order()
    (result,) = executor.execute_orders([o])
    assert result.status is OrderStatus.FILLED
    assert result.filled_quantity == 0.5 and result.fills[0].price == PRICE and result.fees == 1.25
    assert result.fills[0].client_order_id == o.client_order_id
    assert result.venue_response["venue_order_id"] == "V1"
    assert result.metadata["attempts"] == 1 and "recovered_by" not in result.metadata
    assert sleeps == []


def test_transient_errors_are_retried_with_exponential_backoff(venue):
    venue.submit_script = ["transient", "transient"]
    executor, sleeps = make(venue)
    (result,) = executor.execute_orders([order()])
    assert result.status is OrderStatus.FILLED
    assert sleeps == [0.1, 0.2]
    assert len(venue.placed) == 1 and venue.fetch_calls == 0
    assert result.metadata["attempts"] == 3


def test_retries_are_bounded_and_a_venue_that_never_took_the_order_is_an_error(venue):
    venue.submit_script = ["transient"] * 10
    executor, sleeps = make(venue, max_retries=2)
    (result,) = executor.execute_orders([order()])
    assert result.status is OrderStatus.ERROR
    assert result.metadata["outcome_unknown"] is False
    assert venue.submit_calls == 3 and venue.placed == []
    assert "unavailable after 3 attempts" in result.reasons[0]


def test_a_definite_refusal_is_rejected_with_the_venue_message_and_not_retried(venue):
    venue.submit_script = ["refuse"]
    executor, sleeps = make(venue)
    (result,) = executor.execute_orders([order()])
    assert result.status is OrderStatus.REJECTED
    assert "EOrder:Insufficient funds" in result.reasons[0]
    assert result.venue_response == {"error": "EOrder:Insufficient funds"}
    assert venue.submit_calls == 1 and sleeps == []


def test_client_that_times_out_after_accepting_is_found_by_client_id_not_submitted_twice(venue):
    venue.submit_script = ["accept_then_hang"]
    executor, _ = make(venue, timeout_seconds=0.05)
    o = order()
    (result,) = executor.execute_orders([o])

    assert len(venue.placed) == 1  # exactly one order at the venue
    assert venue.submit_calls == 1
    assert result.status is OrderStatus.FILLED
    assert result.metadata["recovered_by"] == "fetch_order"
    assert result.venue_response["client_order_id"] == o.client_order_id
    assert "no answer within 0.05s" in result.metadata["retried_after"][0]


def test_5xx_after_booking_is_looked_up_not_resubmitted(venue):
    venue.submit_script = ["accept_then_fail"]
    executor, _ = make(venue)
    (result,) = executor.execute_orders([order()])
    assert result.status is OrderStatus.FILLED
    assert len(venue.placed) == 1 and venue.submit_calls == 1 and venue.fetch_calls == 1


def test_request_lost_before_the_venue_booked_it_is_resubmitted_after_the_lookup(venue):
    venue.submit_script = ["lost"]
    executor, sleeps = make(venue)
    (result,) = executor.execute_orders([order()])
    assert result.status is OrderStatus.FILLED
    assert len(venue.placed) == 1 and venue.submit_calls == 2 and venue.fetch_calls == 1
    assert sleeps == [0.1]


def test_never_resubmits_while_the_first_submit_may_still_land(venue):
    venue.submit_script = ["hang_then_accept"]  # stuck in flight, not booked yet
    executor, sleeps = make(venue, timeout_seconds=0.05, max_retries=2)
    (result,) = executor.execute_orders([order()])

    assert venue.submit_calls == 1  # the lookups found nothing, yet no second submit
    assert venue.fetch_calls == 2
    assert result.status is OrderStatus.ERROR
    assert result.metadata["outcome_unknown"] is True
    assert "check it there by client order id" in result.reasons[0]


def test_an_answer_arriving_after_the_timeout_is_used_when_reads_lag(venue):
    venue.submit_script = ["hang_then_accept"]
    venue.lagging_reads = True

    def on_sleep(_n: int) -> None:  # while we back off, the stuck submit completes
        venue.release.set()
        assert venue.submit_returned.wait(2)

    # the event fires just before the worker thread stores the answer: allow a spare retry
    executor, _ = make(venue, timeout_seconds=0.05, max_retries=5, sleep=Sleeps(on_sleep))
    (result,) = executor.execute_orders([order()])
    assert result.status is OrderStatus.FILLED
    assert result.metadata["recovered_by"] == "late_submit_answer"
    assert len(venue.placed) == 1 and venue.submit_calls == 1


def test_a_failing_lookup_is_retried_and_never_replaced_by_a_submit(venue):
    venue.submit_script = ["accept_then_fail"]
    venue.fetch_script = ["transient", "unknown"]
    executor, sleeps = make(venue)
    (result,) = executor.execute_orders([order()])
    assert result.status is OrderStatus.FILLED
    assert len(venue.placed) == 1 and venue.submit_calls == 1 and venue.fetch_calls == 3
    assert sleeps == [0.1, 0.2, 0.4]


def test_a_malformed_answer_is_an_error_kept_for_the_record_and_not_retried(venue):
    venue.submit_order = lambda o: {"status": "filled", "fills": [{"price": 1.0}]}  # no quantity
    executor, sleeps = make(venue)
    (result,) = executor.execute_orders([order()])
    assert result.status is OrderStatus.ERROR
    assert "malformed fill" in result.reasons[0]
    assert result.venue_response == {"status": "filled", "fills": [{"price": 1.0}]}
    assert sleeps == []


@pytest.mark.parametrize(
    ("response", "status", "filled"),
    [
        ({"status": "accepted"}, OrderStatus.ACCEPTED, 0.0),
        ({"status": "filled"}, OrderStatus.ACCEPTED, 0.0),  # no fills reported: nothing to book
        (
            {"status": "partially_filled", "fills": [{"quantity": 0.2, "price": 10.0}]},
            OrderStatus.PARTIALLY_FILLED,
            0.2,
        ),
        (
            {
                "status": "filled",
                "fills": [{"quantity": 0.2, "price": 10.0}, {"quantity": 0.3, "price": 11.0}],
            },
            OrderStatus.FILLED,
            0.5,
        ),
        ({"status": "rejected", "reason": "post-only would cross"}, OrderStatus.REJECTED, 0.0),
        ({"status": "cancelled"}, OrderStatus.REJECTED, 0.0),
        ("OK", OrderStatus.ERROR, 0.0),
    ],
)
def test_response_mapping(response, status, filled):
    result = result_from_response(order(), response, now=5.0)
    assert result.status is status
    assert result.filled_quantity == pytest.approx(filled)
    if status is OrderStatus.REJECTED:
        assert result.reasons == [response.get("reason", "cancelled by the venue")]
    if result.fills:
        assert all(f.timestamp == 5.0 for f in result.fills)


def test_cancel_order_delegates_to_the_client(venue):
    executor, _ = make(venue)
    o = order()
    executor.execute_orders([o])
    assert executor.cancel_order(o.client_order_id) is True
    assert executor.cancel_order("pt-unknown") is False
    assert venue.cancelled == [o.client_order_id, "pt-unknown"]


submit_behaviours = st.sampled_from(["ok", "transient", "lost", "refuse", "accept_then_fail"])
fetch_behaviours = st.sampled_from(["ok", "transient", "unknown"])


@settings(max_examples=60, deadline=None)
@given(
    submits=st.lists(submit_behaviours, max_size=6),
    fetches=st.lists(fetch_behaviours, max_size=6),
    max_retries=st.integers(0, 4),
)
def test_never_a_duplicate_and_never_reports_an_order_as_not_placed_when_it_was(
    submits, fetches, max_retries
):
    venue = FakeVenue(submits, fetches)
    executor = ExchangeOrderExecutor(
        venue, max_retries=max_retries, backoff_seconds=0.0, sleep=lambda s: None
    )
    (result,) = executor.execute_orders([order()])

    assert len(venue.placed) <= 1
    assert venue.submit_calls <= max_retries + 1
    if result.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.ACCEPTED):
        assert len(venue.placed) == 1
    if result.status is OrderStatus.REJECTED:
        assert venue.placed == []
    if result.status is OrderStatus.ERROR and venue.placed:
        assert result.metadata["outcome_unknown"] is True


# -- selection and the guard -------------------------------------------------------------------

OPEN_LIVE = live_environment(exchange="fakevenue", live_allowed_exchanges=("fakevenue",))


class VenuePlugin:
    """A minimal venue plugin: the exchange executor whenever live is allowed with a client."""

    @hookimpl
    def select_executor(self, live_allowed, context):
        if live_allowed and context.trading_client is not None:
            return ExchangeOrderExecutor(context.trading_client, timeout_seconds=2.0)
        return None


def test_gate_closed_between_selection_and_submit_stops_the_order_at_the_guard(tmp_path, venue):
    store = StateStore.in_dir(tmp_path / "data")
    kill_switch = KillSwitch(store)
    with registered_plugin(VenuePlugin(), "venue"):
        executor = create_order_executor(
            OPEN_LIVE, trading_client=venue, kill_switch=kill_switch.state
        )
    assert isinstance(executor, GuardedExecutor)
    assert executor.inner.name == "exchange:fakevenue"

    (first,) = executor.execute_orders([order(ref="a")])
    assert first.status is OrderStatus.FILLED and len(venue.placed) == 1

    # another process (the operator's CLI) engages the kill switch in the same data dir
    KillSwitch(StateStore.in_dir(tmp_path / "data")).engage("market halt", operator="ops")
    (second,) = executor.execute_orders([order(ref="b")])

    assert second.status is OrderStatus.GATE_BLOCKED
    assert any("kill switch engaged by ops" in r for r in second.reasons)
    assert len(venue.placed) == 1 and venue.submit_calls == 1  # the venue received nothing more


def test_guard_blocks_a_symbol_outside_the_live_allow_list_before_the_venue(venue):
    with registered_plugin(VenuePlugin(), "venue"):
        executor = create_order_executor(OPEN_LIVE, trading_client=venue)
    (result,) = executor.execute_orders([OrderRequest("DOGE/EUR", "buy", 1.0)])
    assert result.status is OrderStatus.GATE_BLOCKED
    assert venue.submit_calls == 0
