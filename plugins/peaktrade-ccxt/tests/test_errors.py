"""What ccxt raises becomes what the core's executor does: refuse for good, back off, or
reconcile by client order id — checked on ccxt's own exception classes and end to end
against the loopback Binance."""

from __future__ import annotations

import uuid

import ccxt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from peaktrade_core.plugin_api import (
    ExchangeError,
    ExchangeOrderExecutor,
    OrderRequest,
    OrderStatus,
    SecretRef,
    TransientExchangeError,
    UnknownOutcomeError,
)

from peaktrade_ccxt.client import build_client
from peaktrade_ccxt.settings import CcxtSettings

DEFINITE, BACK_OFF, UNKNOWN = "refused", "back off", "reconcile"


def kind(exc: Exception) -> str:
    if isinstance(exc, UnknownOutcomeError):
        return UNKNOWN
    if isinstance(exc, TransientExchangeError):
        return BACK_OFF
    assert type(exc) is ExchangeError, type(exc)
    return DEFINITE


@pytest.fixture(scope="module")
def client():
    """A client that is never asked to send anything (its URLs lead nowhere)."""
    return build_client("ccxt:binance", "live", CcxtSettings(urls="http://127.0.0.1:9"))


def translated(client, exc: Exception, *, submit: bool, http_status: int | None = None) -> Exception:
    errors = (ExchangeError, TransientExchangeError, UnknownOutcomeError)
    with pytest.raises(errors) as caught, client._calling("create_order" if submit else "fetch_balance", submit=submit):
        client._status.code = http_status
        raise exc
    return caught.value


# the mapping the docs promise: (ccxt class, on submit, on any other call)
PROMISED = [
    (ccxt.InsufficientFunds, DEFINITE, DEFINITE),
    (ccxt.InvalidOrder, DEFINITE, DEFINITE),
    (ccxt.BadSymbol, DEFINITE, DEFINITE),
    (ccxt.AuthenticationError, DEFINITE, DEFINITE),
    (ccxt.PermissionDenied, DEFINITE, DEFINITE),
    (ccxt.InvalidNonce, DEFINITE, DEFINITE),
    (ccxt.ExchangeError, DEFINITE, DEFINITE),
    (ccxt.RequestTimeout, UNKNOWN, BACK_OFF),
    (ccxt.NetworkError, UNKNOWN, BACK_OFF),
    (ccxt.ExchangeNotAvailable, UNKNOWN, BACK_OFF),
    (ccxt.OnMaintenance, UNKNOWN, BACK_OFF),
    (ccxt.OperationFailed, UNKNOWN, BACK_OFF),
    (ccxt.RateLimitExceeded, BACK_OFF, BACK_OFF),
    (ccxt.DDoSProtection, BACK_OFF, BACK_OFF),
]


@pytest.mark.parametrize(("error", "on_submit", "elsewhere"), PROMISED, ids=[e[0].__name__ for e in PROMISED])
def test_each_ccxt_error_maps_to_the_promised_outcome(client, error, on_submit, elsewhere):
    assert kind(translated(client, error("binance {}"), submit=True)) == on_submit
    assert kind(translated(client, error("binance {}"), submit=False)) == elsewhere


def _ccxt_errors() -> list[type]:
    found, todo = [], [ccxt.BaseError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return sorted(set(found), key=lambda c: c.__name__)


@settings(deadline=None)  # a loaded machine must not fail a property by its clock
@given(error=st.sampled_from(_ccxt_errors()), status=st.sampled_from([None, 200, 400, 401, 418, 429, 500, 502, 503, 504]))
def test_no_failure_of_a_submit_that_may_have_placed_the_order_is_a_definite_refusal(client, error, status):
    """Safety: a submit that failed on the way (network, timeout, any 5xx answer whatever its
    body says) must be reconciled; it is never taken for "refused, nothing placed"."""
    outcome = kind(translated(client, error("binance {\"code\":-1000}"), submit=True, http_status=status))
    if issubclass(error, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        assert outcome == BACK_OFF
    elif issubclass(error, ccxt.InvalidNonce):
        assert outcome == DEFINITE  # the venue refused the request's timestamp: nothing placed
    elif issubclass(error, ccxt.OperationFailed) or (status or 0) >= 500:
        assert outcome == UNKNOWN
    else:
        assert outcome == DEFINITE


@settings(deadline=None)
@given(signature=st.text("0123456789abcdef", min_size=16, max_size=64), key=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=8, max_size=32))
def test_messages_never_carry_a_signed_query(client, signature, key):
    url = f"https://api.binance.com/api/v3/order?symbol=BTCEUR&timestamp=1&apiKey={key}&signature={signature}"
    message = str(translated(client, ccxt.RequestTimeout(f"binance POST {url}"), submit=True))
    assert signature not in message and key not in message
    assert "https://api.binance.com/api/v3/order" in message and "\n" not in message


# -- end to end, against the loopback Binance --------------------------------------------------

@pytest.fixture
def fake(monkeypatch):
    loopback = pytest.importorskip("peaktrade_binance.testing", reason="the loopback Binance (examples/peaktrade-binance)")
    with loopback.LoopbackBinance() as fake:
        monkeypatch.setenv("PT_CCXT_KEY", fake.api_key)
        monkeypatch.setenv("PT_CCXT_SECRET", fake.api_secret)
        yield fake


def live_client(fake):
    settings = CcxtSettings(api_key=SecretRef(env="PT_CCXT_KEY"), api_secret=SecretRef(env="PT_CCXT_SECRET"), urls=fake.url, timeout_seconds=30)
    return build_client("ccxt:binance", "live", settings)


def order(quantity=0.01, symbol="BTC/EUR") -> OrderRequest:
    return OrderRequest(symbol, "buy", quantity, reference_price=40_000.0, client_order_id=uuid.uuid4().hex)


def test_insufficient_funds_is_rejected_once_and_nothing_is_placed(fake):
    big = order(quantity=10.0)  # 400,000 EUR of the fake's 100,000
    [result] = ExchangeOrderExecutor(live_client(fake), max_retries=3, backoff_seconds=0.0).execute_orders([big])
    assert result.status is OrderStatus.REJECTED and result.metadata["attempts"] == 1, result.reasons
    assert "InsufficientFunds" in result.reasons[0] or "insufficient" in result.reasons[0].lower()
    assert fake.orders() == []


def test_an_ip_ban_backs_off_then_fills_once(fake):
    fake.fail_next("ip_ban")
    sleeps: list[float] = []
    executor = ExchangeOrderExecutor(live_client(fake), max_retries=3, backoff_seconds=0.01, sleep=sleeps.append)
    [result] = executor.execute_orders([o := order()])
    assert result.status is OrderStatus.FILLED and result.metadata["retried_after"][0].startswith("transient")
    assert sleeps == [0.01] and [x["client_order_id"] for x in fake.orders()] == [o.client_order_id]


def test_a_5xx_that_placed_nothing_is_looked_up_then_sent_once(fake):
    fake.fail_next("5xx_not_placed")
    executor = ExchangeOrderExecutor(live_client(fake), max_retries=3, backoff_seconds=0.0)
    [result] = executor.execute_orders([o := order()])
    assert result.status is OrderStatus.FILLED and "outcome unknown" in result.metadata["retried_after"][0]
    assert [x["client_order_id"] for x in fake.orders()] == [o.client_order_id]
    lookups = [c for c in fake.calls if (c["method"], c["path"]) == ("GET", "/api/v3/order")]
    assert lookups and lookups[0]["params"]["origClientOrderId"] == o.client_order_id  # by client id, with the symbol
    assert lookups[0]["params"]["symbol"] == "BTCEUR"


def test_a_clock_outside_the_receive_window_is_a_definite_refusal(fake):
    fake.clock_offset = 120.0  # the venue's clock is two minutes ahead of ours
    [result] = ExchangeOrderExecutor(live_client(fake), max_retries=3, backoff_seconds=0.0).execute_orders([order()])
    assert result.status is OrderStatus.REJECTED and result.metadata["attempts"] == 1, result.reasons
    assert fake.orders() == []


@settings(max_examples=25, deadline=None)  # real HTTP: no per-example deadline
@given(faults=st.lists(st.sampled_from(["5xx", "5xx_not_placed", "rate_limit", "ip_ban"]), max_size=4))
def test_no_sequence_of_submit_faults_places_an_order_twice(faults):
    """Safety, over real HTTP: whatever the venue does to the submits of one order (placed
    then 503, 502 with nothing placed, 429, 418), it is never placed twice, and a filled
    result means exactly one order at the venue."""
    loopback = pytest.importorskip("peaktrade_binance.testing", reason="the loopback Binance (examples/peaktrade-binance)")
    with loopback.LoopbackBinance() as fake:
        for fault in faults:
            fake.fail_next(fault)
        client = build_client(
            "ccxt:binance", "live", CcxtSettings(urls=fake.url, api_key=_literal(fake.api_key), api_secret=_literal(fake.api_secret))
        )
        [result] = ExchangeOrderExecutor(client, max_retries=5, backoff_seconds=0.0, timeout_seconds=30.0).execute_orders([o := order()])
        held = [x for x in fake.orders() if x["client_order_id"] == o.client_order_id]
    assert len(held) <= 1
    if result.status is OrderStatus.FILLED:
        assert len(held) == 1
    else:  # only a budget run out can leave it unfilled
        assert result.status is OrderStatus.ERROR and len(faults) > 5, result.reasons


def _literal(value: str) -> SecretRef:
    """A reference to ``value`` (hypothesis examples cannot use monkeypatch)."""
    import os

    name = f"PT_CCXT_PROP_{abs(hash(value))}"
    os.environ[name] = value
    return SecretRef(env=name)


def test_cancel_all_where_the_exchange_lists_open_orders_only_per_symbol(fake):
    """Some exchanges refuse to list open orders without a symbol (ccxt: ArgumentsRequired).
    Cancelling everything — what the kill switch asks — then goes through every symbol the
    mode may trade; without any, it is a one-line refusal, never a silent zero."""
    from peaktrade_core.testing import live_environment

    from peaktrade_ccxt import hooks

    config = type("Config", (), {"environment": live_environment(live_allowed_symbols=("BTC/EUR", "ETH/EUR"))})()
    settings = CcxtSettings(api_key=SecretRef(env="PT_CCXT_KEY"), api_secret=SecretRef(env="PT_CCXT_SECRET"), urls=fake.url)
    client = hooks.create_exchange_client(venue="ccxt:binance", mode="live", settings=settings, config=config)
    assert client.symbols == ("BTC/EUR", "ETH/EUR")
    per_symbol_only = client.exchange.fetch_open_orders

    def fetch_open_orders(symbol=None, *args, **kwargs):  # as such an exchange answers
        if symbol is None:
            raise ccxt.ArgumentsRequired("fetchOpenOrders() requires a symbol argument")
        return per_symbol_only(symbol, *args, **kwargs)

    client.exchange.fetch_open_orders = fetch_open_orders
    for symbol in ("BTC/EUR", "ETH/EUR"):
        client.submit_order(OrderRequest(symbol, "buy", 0.01, "limit", limit_price=1_000.0))
    assert len(client.fetch_open_orders()) == 2
    assert client.cancel_all() == 2
    assert [o["status"] for o in fake.orders()] == ["cancelled", "cancelled"]

    client.symbols = ()
    with pytest.raises(ExchangeError, match="requires a symbol"):
        client.cancel_all()
