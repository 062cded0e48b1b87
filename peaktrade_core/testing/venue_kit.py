"""The venue conformance kit: one pytest base class every venue adapter runs against its
own fake venue.

Subclass :class:`VenueConformance` in your adapter's tests (the class name must start with
``Test``) and provide four fixtures; every check below then runs against your adapter::

    class TestMyVenue(VenueConformance):
        venue = "myvenue"

        @pytest.fixture
        def venue_fake(self):            # your fake venue, running; satisfies VenueFake
            with MyFakeVenue() as fake:
                yield fake

        @pytest.fixture
        def venue_plugin(self):          # the object your entry point registers
            return my_plugin

        @pytest.fixture
        def venue_settings(self, venue_fake):          # [plugins.<name>] pointing at the fake
            return MySettings(base_url=venue_fake.url, ...)

        @pytest.fixture
        def wrong_secret_settings(self, venue_fake):   # the same with a wrong secret
            return MySettings(base_url=venue_fake.url, ..., secret=<another secret>)

The clients are built through your plugin's ``create_exchange_client`` for ``live`` mode
(``client``) and ``testnet`` mode (``testnet_client``). Reconcile and back-off checks run
your client through the core's ``ExchangeOrderExecutor`` with short timeouts.

What the checks need of your fake is :class:`VenueFake`: what it holds, a request count and
fault injection. See ``peaktrade_core.testing.loopback`` for a complete reference.
"""

from __future__ import annotations

import inspect
import uuid
from typing import Any, Protocol, runtime_checkable

import pytest

from peaktrade_core.environment import EnvironmentConfig, TradingMode
from peaktrade_core.orders import (
    ExchangeError,
    OrderRequest,
    OrderStatus,
    TransientExchangeError,
    UnknownOutcomeError,
)

__all__ = ["VenueConformance", "VenueFake"]


@runtime_checkable
class VenueFake(Protocol):
    """The control handle on an adapter's fake venue: all the kit needs.

    ``requests``
        How many requests reached the venue so far (any endpoint). The kit compares it
        before and after an action to prove that nothing was sent.
    ``orders()``
        Every order the venue holds — never validate-only ones — as dicts with at least
        ``client_order_id`` (as the venue knows it, see
        ``VenueConformance.venue_client_order_id``), ``symbol`` and ``status``: ``"open"``,
        ``"partially_filled"``, ``"filled"`` or ``"cancelled"``.
    ``fail_next(kind)``
        The *next order submission* fails as ``kind``:

        - ``"timeout_after_accept"``: the venue places the order and never answers (the
          answer may come when the fake stops);
        - ``"5xx"``: a server error (placing the order or not: either must reconcile to
          exactly one order);
        - ``"rate_limit"``: the venue's rate-limit refusal; nothing placed.
    """

    @property
    def requests(self) -> int: ...

    def orders(self) -> list[dict[str, Any]]: ...

    def fail_next(self, kind: str) -> None: ...


def _call_hook(function: Any, **kwargs: Any) -> Any:
    """Call a hook implementation as pluggy would: with the arguments it asks for."""
    names = [n for n in inspect.signature(function).parameters if n != "self"]
    return function(**{n: kwargs[n] for n in names})


class _RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        import time

        self.delays.append(seconds)
        time.sleep(seconds)


class VenueConformance:
    """The checks every venue adapter passes. See the module docstring for how to use it."""

    #: the venue name your plugin declares in ``exchange_venues``
    venue: str = ""
    #: a symbol the fake trades, and optionally a second one (for cancel-all by symbol)
    symbol: str = "BTC/EUR"
    other_symbol: str | None = "ETH/EUR"
    #: a quantity that satisfies the symbol's rules, for market orders that fill at once
    quantity: float = 0.01
    #: about the fake's last price per symbol: market orders carry it as their reference
    #: price, as a session's orders do (the core refuses an unpriced order when the venue
    #: has a minimum notional)
    market_prices: dict[str, float] = {"BTC/EUR": 40_000.0, "ETH/EUR": 2_000.0}  # noqa: RUF012 - read only
    #: limit buy prices far below the market, on the tick grid: such orders stay open
    resting_price: float = 1_000.0
    other_resting_price: float = 1_000.0
    #: the executor's per-call timeout in the reconcile checks; the fake's
    #: timeout_after_accept must hold its answer longer than this
    executor_timeout_seconds: float = 2.0
    backoff_seconds: float = 0.05

    # -- fixtures your adapter's test class provides ---------------------------------------

    @pytest.fixture
    def venue_fake(self) -> VenueFake:
        pytest.fail("provide a `venue_fake` fixture: your fake venue, running (see VenueFake)")

    @pytest.fixture
    def venue_plugin(self) -> Any:
        pytest.fail("provide a `venue_plugin` fixture: the plugin object your entry point registers")

    @pytest.fixture
    def venue_settings(self, venue_fake: VenueFake) -> Any:
        pytest.fail("provide a `venue_settings` fixture: your [plugins.<name>] settings for the fake")

    @pytest.fixture
    def wrong_secret_settings(self, venue_fake: VenueFake) -> Any:
        pytest.fail("provide a `wrong_secret_settings` fixture: settings with a wrong secret")

    # -- fixtures of the kit ---------------------------------------------------------------

    def build_client(self, plugin: Any, settings: Any, mode: TradingMode) -> Any:
        """The client your plugin builds for ``mode``, as the core asks for it."""
        from peaktrade_core.config import PeakTradeConfig

        config = PeakTradeConfig(environment=EnvironmentConfig(mode=mode, exchange=self.venue))
        client = _call_hook(plugin.create_exchange_client, venue=self.venue, mode=mode, settings=settings, config=config)
        assert client is not None, f"create_exchange_client returned None for {self.venue!r} in {mode.value}"
        return client

    @pytest.fixture
    def client(self, venue_plugin: Any, venue_settings: Any) -> Any:
        return self.build_client(venue_plugin, venue_settings, TradingMode.LIVE)

    @pytest.fixture
    def testnet_client(self, venue_plugin: Any, venue_settings: Any) -> Any:
        return self.build_client(venue_plugin, venue_settings, TradingMode.TESTNET)

    @pytest.fixture
    def sleeps(self) -> _RecordingSleep:
        return _RecordingSleep()

    @pytest.fixture
    def executor(self, client: Any, sleeps: _RecordingSleep) -> Any:
        from peaktrade_core.exchange_executor import ExchangeOrderExecutor

        return ExchangeOrderExecutor(
            client,
            max_retries=4,
            backoff_seconds=self.backoff_seconds,
            timeout_seconds=self.executor_timeout_seconds,
            sleep=sleeps,
        )

    # -- orders ------------------------------------------------------------------------------

    def market_order(self, symbol: str | None = None, quantity: float | None = None) -> OrderRequest:
        """A market buy the fake fills at once; a fresh 32-hex client order id each."""
        symbol = symbol or self.symbol
        return OrderRequest(
            symbol, "buy", quantity or self.quantity, reference_price=self.market_prices.get(symbol), client_order_id=uuid.uuid4().hex
        )

    def resting_order(self, symbol: str | None = None) -> OrderRequest:
        """A limit buy far below the market: it stays open at the venue."""
        symbol = symbol or self.symbol
        price = self.resting_price if symbol == self.symbol else self.other_resting_price
        return OrderRequest(symbol, "buy", self.quantity, "limit", limit_price=price, client_order_id=uuid.uuid4().hex)

    def rule_breaking_orders(self, rules: Any) -> list[OrderRequest]:
        """Orders the instrument rules must refuse, derived from the rules themselves."""
        out = []

        def order(quantity: float, price: float) -> OrderRequest:
            return OrderRequest(self.symbol, "buy", quantity, "limit", limit_price=price, client_order_id=uuid.uuid4().hex)

        if rules.tick_size:
            out.append(order(self.quantity, self.resting_price + rules.tick_size / 2))
        if rules.lot_step:
            out.append(order(self.quantity + rules.lot_step / 2, self.resting_price))
        if rules.min_quantity:
            out.append(order(rules.min_quantity / 2, self.resting_price))
        if rules.min_notional:
            smallest = max(rules.min_quantity or 0.0, rules.lot_step or 0.0) or self.quantity
            price = rules.min_notional / smallest / 2
            if rules.tick_size:
                price = max(rules.tick_size, round(price / rules.tick_size) * rules.tick_size)
            out.append(order(smallest, price))
        return out

    def venue_client_order_id(self, client_order_id: str) -> str:
        """The core's client order id as your venue stores it; override if you map it."""
        return client_order_id

    def held(self, fake: VenueFake, client_order_id: str) -> list[dict[str, Any]]:
        """The orders the fake holds under ``client_order_id`` (the core's id)."""
        venue_id = self.venue_client_order_id(client_order_id)
        return [o for o in fake.orders() if o["client_order_id"] == venue_id]

    # -- the checks --------------------------------------------------------------------------

    def test_plugin_declares_its_venue(self, venue_plugin: Any, client: Any) -> None:
        venues = list(_call_hook(venue_plugin.exchange_venues) or ())
        assert self.venue in venues, f"exchange_venues() = {venues} does not name {self.venue!r}"
        assert client.name == self.venue
        assert client.endpoint.startswith(("http://", "https://", "ws://", "wss://"))

    def test_status_calls_answer(self, client: Any) -> None:
        import time

        assert isinstance(client.ping(), dict)
        assert abs(client.server_time() - time.time()) < 24 * 3600, "server_time() is epoch seconds"
        positions = client.fetch_positions()
        assert isinstance(positions, dict) and all(isinstance(v, float) for v in positions.values())
        ticker = getattr(client, "fetch_ticker", None)
        if ticker is not None:
            assert ticker(self.symbol) > 0

    def test_signed_identity_wrong_secret_is_a_definite_refusal(
        self, venue_fake: VenueFake, venue_plugin: Any, client: Any, wrong_secret_settings: Any
    ) -> None:
        balances = client.fetch_balances()  # a private call: the fake checked the signature
        assert balances and all(isinstance(v, float) for v in balances.values())

        forged = self.build_client(venue_plugin, wrong_secret_settings, TradingMode.LIVE)
        with pytest.raises(ExchangeError) as refused:
            forged.fetch_balances()
        assert not isinstance(refused.value, (TransientExchangeError, UnknownOutcomeError)), (
            "a wrong secret must be a definite refusal, not something to retry"
        )
        from peaktrade_core.exchange_executor import ExchangeOrderExecutor

        order = self.market_order()
        [result] = ExchangeOrderExecutor(forged, max_retries=3, backoff_seconds=0.0).execute_orders([order])
        assert result.status is OrderStatus.REJECTED and result.metadata["attempts"] == 1
        assert self.held(venue_fake, order.client_order_id) == []

    def test_submit_fills(self, venue_fake: VenueFake, client: Any, executor: Any) -> None:
        order = self.market_order()
        [result] = executor.execute_orders([order])
        assert result.status is OrderStatus.FILLED, result.reasons
        assert result.filled_quantity == pytest.approx(order.quantity)
        assert result.average_price and result.average_price > 0
        assert len(self.held(venue_fake, order.client_order_id)) == 1
        looked_up = client.fetch_order(order.client_order_id, order.symbol)
        assert looked_up is not None and looked_up["status"] == "filled"
        assert client.fetch_order(uuid.uuid4().hex, order.symbol) is None

    def test_validate_only_places_nothing(self, venue_fake: VenueFake, testnet_client: Any) -> None:
        if not testnet_client.validate_only:
            pytest.skip(f"{self.venue}'s testnet client uses a sandbox, not validate-only orders")
        assert testnet_client.testnet, "a validate-only client is a testnet client"
        order = self.market_order()
        response = testnet_client.submit_order(order)
        assert response["status"] == "validated"
        from peaktrade_core.exchange_executor import ExchangeOrderExecutor

        [result] = ExchangeOrderExecutor(testnet_client).execute_orders([self.market_order()])
        # the venue core adds OrderStatus.VALIDATED; before it, a validated order maps to accepted
        assert result.status is OrderStatus.VALIDATED, result.reasons
        assert result.venue_response["status"] == "validated" and not result.fills
        assert venue_fake.orders() == []
        assert testnet_client.fetch_open_orders(self.symbol) == []

    def test_timeout_after_accept_leaves_exactly_one_order(self, venue_fake: VenueFake, executor: Any) -> None:
        venue_fake.fail_next("timeout_after_accept")
        order = self.market_order()
        [result] = executor.execute_orders([order])
        assert result.status is OrderStatus.FILLED, result.reasons
        assert result.metadata["recovered_by"] == "fetch_order"
        assert len(self.held(venue_fake, order.client_order_id)) == 1

    def test_5xx_is_reconciled_to_exactly_one_order(self, venue_fake: VenueFake, executor: Any) -> None:
        venue_fake.fail_next("5xx")
        order = self.market_order()
        [result] = executor.execute_orders([order])
        assert result.status is OrderStatus.FILLED, result.reasons
        assert any("outcome unknown" in e for e in result.metadata["retried_after"]), (
            "a 5xx on submit is an unknown outcome (UnknownOutcomeError): it must be reconciled"
        )
        assert len(self.held(venue_fake, order.client_order_id)) == 1

    def test_rate_limit_backs_off_then_succeeds(
        self, venue_fake: VenueFake, executor: Any, sleeps: _RecordingSleep
    ) -> None:
        venue_fake.fail_next("rate_limit")
        order = self.market_order()
        [result] = executor.execute_orders([order])
        assert result.status is OrderStatus.FILLED, result.reasons
        assert result.metadata["retried_after"][0].startswith("transient"), (
            "a rate limit is a TransientExchangeError: nothing was placed, back off and retry"
        )
        assert sleeps.delays == [self.backoff_seconds]
        assert len(self.held(venue_fake, order.client_order_id)) == 1

    def test_cancel_by_client_id_with_symbol(self, venue_fake: VenueFake, client: Any, executor: Any) -> None:
        order = self.resting_order()
        [result] = executor.execute_orders([order])
        assert result.status is OrderStatus.ACCEPTED, result.reasons
        assert order.client_order_id in [o["client_order_id"] for o in client.fetch_open_orders(self.symbol)]
        assert client.cancel_order(order.client_order_id, order.symbol) is True
        assert client.fetch_order(order.client_order_id, order.symbol)["status"] == "cancelled"
        assert client.cancel_order(order.client_order_id, order.symbol) is False  # nothing left to cancel
        assert client.cancel_order(uuid.uuid4().hex, order.symbol) is False
        assert client.fetch_open_orders(self.symbol) == []

    def test_cancel_all_by_symbol_and_everywhere(self, venue_fake: VenueFake, client: Any, executor: Any) -> None:
        symbols = [self.symbol, self.symbol] + ([self.other_symbol] if self.other_symbol else [])
        results = executor.execute_orders([self.resting_order(s) for s in symbols])
        assert [r.status for r in results] == [OrderStatus.ACCEPTED] * len(symbols)
        assert client.cancel_all(self.symbol) == 2
        assert client.fetch_open_orders(self.symbol) == []
        if self.other_symbol:
            assert len(client.fetch_open_orders(self.other_symbol)) == 1  # untouched
            assert client.cancel_all() == 1
        assert client.fetch_open_orders() == []
        assert [o["status"] for o in venue_fake.orders()] == ["cancelled"] * len(symbols)

    def test_instrument_rules_refuse_before_submit(self, venue_fake: VenueFake, client: Any, executor: Any) -> None:
        rules = client.instrument_rules(self.symbol)
        assert rules.symbol == self.symbol
        assert rules.problems(self.resting_order()) == [] and rules.problems(self.market_order()) == []
        bad = self.rule_breaking_orders(rules)
        assert bad, "the venue publishes no instrument rule at all for " + self.symbol
        assert all(rules.problems(o) for o in bad), [o for o in bad if not rules.problems(o)]
        results = executor.execute_orders(bad)  # the core's path: refused, nothing placed
        assert [r.status for r in results] == [OrderStatus.RISK_BLOCKED] * len(bad), [r.reasons for r in results]
        assert all(r.reasons[0].startswith("instrument_rules:") for r in results), [r.reasons for r in results]
        assert venue_fake.orders() == []
        for order in bad:  # and the rules are the venue's own: it would refuse them too
            with pytest.raises(ExchangeError) as refused:
                client.submit_order(order)
            assert not isinstance(refused.value, (TransientExchangeError, UnknownOutcomeError))
        assert venue_fake.orders() == []

    def test_kill_switch_blocks_new_orders_and_cancel_all_clears_the_venue(
        self, venue_fake: VenueFake, client: Any, executor: Any
    ) -> None:
        from peaktrade_core.executors import GuardedExecutor
        from peaktrade_core.gates import SafetyGuard
        from peaktrade_core.killswitch import KillSwitch
        from peaktrade_core.state import StateStore
        from peaktrade_core.testing import live_environment

        resting = [self.resting_order(), self.resting_order()]
        assert [r.status for r in executor.execute_orders(resting)] == [OrderStatus.ACCEPTED] * 2
        switch = KillSwitch(StateStore(":memory:"))
        env = live_environment(exchange=self.venue, live_allowed_exchanges=(self.venue,), live_allowed_symbols=(self.symbol,))
        guarded = GuardedExecutor(executor, SafetyGuard(env, switch.state))
        switch.engage("conformance kit", "kit")
        before = venue_fake.requests
        [blocked] = guarded.execute_orders([self.market_order()])
        assert blocked.status is OrderStatus.GATE_BLOCKED and venue_fake.requests == before
        assert client.cancel_all() == 2  # what the core calls on the venue when the switch engages
        assert client.fetch_open_orders() == []

    def test_clients_state_their_mode_and_the_wrong_mode_is_refused(
        self, venue_fake: VenueFake, client: Any, testnet_client: Any
    ) -> None:
        assert client.testnet is False and client.validate_only is False, "the live client must be a production client"
        assert testnet_client.testnet is True, "the testnet client must say it is one"
        if not testnet_client.validate_only:
            assert testnet_client.endpoint != client.endpoint, "a sandbox client must use the sandbox endpoint"
        from peaktrade_core.executors import create_order_executor

        for mode, wrong in ((TradingMode.LIVE, testnet_client), (TradingMode.TESTNET, client)):
            order = self.market_order()
            try:
                executor = create_order_executor(EnvironmentConfig(mode=mode, exchange=self.venue), trading_client=wrong)
                results = executor.execute_orders([order])
            except Exception as exc:  # noqa: BLE001 - refused when choosing the executor: fine
                assert "testnet" in str(exc) or "production" in str(exc), str(exc)
            else:
                assert results[0].status is OrderStatus.GATE_BLOCKED, results[0].reasons
            assert self.held(venue_fake, order.client_order_id) == []
