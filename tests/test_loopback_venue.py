"""The loopback reference venue holds its promises (signing, unique ids, faults), the
executor over it never places an order twice whatever fails, and the conformance kit fails
adapters that get the venue's answers wrong."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.register_assert_rewrite("peaktrade_core.testing.venue_kit")

from peaktrade_core.environment import TradingMode  # noqa: E402
from peaktrade_core.exchange_executor import ExchangeOrderExecutor  # noqa: E402
from peaktrade_core.orders import (  # noqa: E402
    ExchangeError,
    OrderRequest,
    OrderStatus,
    TransientExchangeError,
    UnknownOutcomeError,
)
from peaktrade_core.testing.loopback import (  # noqa: E402
    FAULTS,
    LoopbackClient,
    LoopbackSettings,
    LoopbackVenue,
    LoopbackVenuePlugin,
    sign,
)
from peaktrade_core.testing.venue_kit import VenueConformance  # noqa: E402


@pytest.fixture
def venue():
    with LoopbackVenue() as venue:
        yield venue


def _order(**kw):
    return OrderRequest(kw.pop("symbol", "BTC/EUR"), "buy", kw.pop("quantity", 0.01), client_order_id=uuid.uuid4().hex, **kw)


def _raw(venue, method, target, body=b"", *, secret=None, signed_body=None, stamp=None):
    stamp = stamp or str(int(time.time() * 1000))
    signature = sign(secret or venue.api_secret, stamp, method, target, body if signed_body is None else signed_body)
    request = urllib.request.Request(
        venue.url + target, data=body or None, method=method,
        headers={"PT-Key": venue.api_key, "PT-Timestamp": stamp, "PT-Signature": signature},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_private_requests_must_be_signed_with_the_secret_over_the_exact_body(venue):
    assert _raw(venue, "GET", "/api/balances")[0] == 200
    assert _raw(venue, "GET", "/api/balances", secret="other") == (401, {"error": "invalid signature"})
    body = json.dumps({"client_order_id": "a", "symbol": "BTC/EUR", "side": "buy", "quantity": 0.01}).encode()
    tampered = body.replace(b"0.01", b"0.02")
    assert _raw(venue, "POST", "/api/orders", tampered, signed_body=body)[0] == 401
    assert venue.orders() == []
    status, ticker = _raw(venue, "GET", "/api/ticker?symbol=BTC/EUR", secret="other")
    assert (status, ticker["symbol"], ticker["price"]) == (200, "BTC/EUR", 40_000.0)
    replayed = str(int((time.time() - 120) * 1000))  # correctly signed, but two minutes old
    assert _raw(venue, "GET", "/api/balances", stamp=replayed) == (401, {"error": "timestamp outside the 30s window"})


def test_a_reused_client_order_id_is_refused_for_good(venue):
    client = LoopbackClient(venue.url, venue.api_key, venue.api_secret)
    order = _order()
    assert client.submit_order(order)["status"] == "filled"
    with pytest.raises(ExchangeError, match="duplicate client order id") as refused:
        client.submit_order(order)
    assert not isinstance(refused.value, (TransientExchangeError, UnknownOutcomeError))
    assert len(venue.orders()) == 1


def test_fills_carry_their_fee_currency(venue):
    answer = LoopbackClient(venue.url, venue.api_key, venue.api_secret).submit_order(_order())
    [fill] = answer["fills"]
    assert fill["fee_currency"] == "EUR" and fill["fee"] == pytest.approx(0.01 * 40_000 * 0.001)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(faults=st.lists(st.lists(st.sampled_from(FAULTS), max_size=2), min_size=1, max_size=3))
def test_whatever_fails_an_order_is_never_placed_twice(faults):
    """Faults before each order's submits: every order ends at most once at the venue, and
    exactly once when the executor reports it filled."""
    with LoopbackVenue() as venue:
        client = LoopbackClient(venue.url, venue.api_key, venue.api_secret, timeout_seconds=30)
        executor = ExchangeOrderExecutor(client, max_retries=4, backoff_seconds=0.0, timeout_seconds=0.5)
        for kinds in faults:
            for kind in kinds:
                venue.fail_next(kind)
            order = _order()
            [result] = executor.execute_orders([order])
            held = [o for o in venue.orders() if o["client_order_id"] == order.client_order_id]
            assert len(held) <= 1
            if result.status is OrderStatus.FILLED:
                assert len(held) == 1
            ids = [o["client_order_id"] for o in venue.orders()]
            assert len(ids) == len(set(ids))


# -- the kit has teeth: adapters that get the venue wrong fail it ----------------------------


class _BrokenPlugin(LoopbackVenuePlugin):
    def __init__(self, client_class):
        self.client_class = client_class

    def create_exchange_client(self, venue, mode, settings):
        client = super().create_exchange_client(venue, mode, settings)
        client.__class__ = self.client_class
        return client


class _RetriesBadCredentials(LoopbackClient):
    """Treats a refused signature as something to retry."""

    def fetch_balances(self):
        try:
            return super().fetch_balances()
        except ExchangeError as exc:
            raise TransientExchangeError(str(exc)) from None


class _FiveHundredsAreTransient(LoopbackClient):
    """Retries a 5xx on submit blindly: at a venue that placed the order, a duplicate."""

    def submit_order(self, order):
        try:
            return super().submit_order(order)
        except UnknownOutcomeError as exc:
            raise TransientExchangeError(str(exc)) from None


class _IgnoresValidateOnly(LoopbackClient):
    """Says validate-only, places the order anyway."""

    def submit_order(self, order):
        self.validate_only = False
        try:
            return super().submit_order(order)
        finally:
            self.validate_only = True


@pytest.fixture
def kit(venue, monkeypatch):
    monkeypatch.setenv("LOOPBACK_API_KEY", venue.api_key)
    monkeypatch.setenv("LOOPBACK_API_SECRET", venue.api_secret)
    monkeypatch.setenv("LOOPBACK_WRONG_SECRET", "x" + venue.api_secret)
    kit = VenueConformance()
    kit.venue = "loopback"
    kit.executor_timeout_seconds = 2.0
    return kit


def _clients(kit, venue, broken):
    from peaktrade_core.secrets import SecretRef

    plugin = _BrokenPlugin(broken)
    good = LoopbackSettings(base_url=venue.url, timeout_seconds=30.0)
    wrong = LoopbackSettings(base_url=venue.url, api_secret=SecretRef(env="LOOPBACK_WRONG_SECRET"))
    return plugin, good, wrong


def test_the_kit_fails_an_adapter_that_retries_a_wrong_secret(kit, venue):
    plugin, good, wrong = _clients(kit, venue, _RetriesBadCredentials)
    client = kit.build_client(plugin, good, TradingMode.LIVE)
    with pytest.raises(AssertionError, match="definite refusal"):
        kit.test_signed_identity_wrong_secret_is_a_definite_refusal(venue, plugin, client, wrong)


def test_the_kit_fails_an_adapter_that_retries_a_5xx_blindly(kit, venue):
    plugin, good, _ = _clients(kit, venue, _FiveHundredsAreTransient)
    client = kit.build_client(plugin, good, TradingMode.LIVE)
    executor = ExchangeOrderExecutor(client, max_retries=2, backoff_seconds=0.0, timeout_seconds=2.0)
    with pytest.raises(AssertionError, match="unknown outcome"):
        kit.test_5xx_is_reconciled_to_exactly_one_order(venue, executor)


def test_the_kit_fails_an_adapter_that_places_validate_only_orders(kit, venue):
    plugin, good, _ = _clients(kit, venue, _IgnoresValidateOnly)
    with pytest.raises(AssertionError):
        kit.test_validate_only_places_nothing(venue, kit.build_client(plugin, good, TradingMode.TESTNET))
    assert venue.orders() != []
