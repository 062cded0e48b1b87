"""The venue layer in process: instrument rules, client order ids, the client/mode check,
the venue hooks and who chooses the executor, testnet gates, the effective mode, and the
kill switch reaching the venue from a running session."""

from __future__ import annotations

from typing import Any

import pytest
from attrs import evolve
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core import hookimpl
from peaktrade_core.config import ExecutionConfig, PeakTradeConfig
from peaktrade_core.environment import EffectiveMode, EnvironmentConfig, TradingMode
from peaktrade_core.exchange_executor import ExchangeOrderExecutor, result_from_response
from peaktrade_core.executors import GuardedExecutor, create_order_executor
from peaktrade_core.gates import RELEASED, KillSwitchState, effective_mode_of, evaluate_gates
from peaktrade_core.orders import OrderRequest, OrderStatus
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.plugins import get_plugin_manager
from peaktrade_core.risk import LiveRiskConfig
from peaktrade_core.state import StateStore
from peaktrade_core.testing import initialised_store, live_environment, registered_plugin
from peaktrade_core.venues import (
    ClientOrderIds,
    ExchangeClient,
    InstrumentRules,
    VenueError,
    check_client_for_mode,
    is_generated,
    venue_cancel_history,
)

ENGAGED = KillSwitchState(True, "ops", "drill", "2026-01-01T00:00:00+00:00", "cli")


class Venue:
    """A small in-process venue that books every order under a unique client order id."""

    validate_only = False

    def __init__(self, name: str = "venue", testnet: bool = True, rules: InstrumentRules | None = None):
        self.name = name
        self.testnet = testnet
        self.endpoint = f"inproc://{name}"
        self.book: dict[str, dict[str, Any]] = {}
        self.refused: list[str] = []
        self.calls: list[str] = []
        self.rules = rules

    def ping(self) -> dict[str, Any]:
        return {"status": "online"}

    def server_time(self) -> float:
        return 0.0

    def instrument_rules(self, symbol: str) -> InstrumentRules | None:
        return self.rules

    def submit_order(self, order: OrderRequest) -> dict[str, Any]:
        if order.client_order_id in self.book:
            self.refused.append(order.client_order_id)
            raise ValueError("duplicate client order id")
        resting = order.limit_price is not None
        self.book[order.client_order_id] = {"client_order_id": order.client_order_id, "status": "accepted" if resting else "filled", "open": resting}
        if not resting:
            self.book[order.client_order_id]["fills"] = [{"quantity": order.quantity, "price": 100.0, "fee": 0.1, "fee_currency": "BNB"}]
        return dict(self.book[order.client_order_id])

    def fetch_order(self, client_order_id: str, symbol: str) -> dict[str, Any] | None:
        return self.book.get(client_order_id)

    def cancel_order(self, client_order_id: str, symbol: str) -> bool:
        return bool(self.book.get(client_order_id, {}).pop("open", False))

    def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return [o for o in self.book.values() if o.get("open")]

    def cancel_all(self, symbol: str | None = None) -> int:
        self.calls.append("cancel_all")
        opened = [o for o in self.book.values() if o.pop("open", False)]
        return len(opened)

    def fetch_balances(self) -> dict[str, float]:
        return {}

    def fetch_positions(self) -> dict[str, float]:
        return {}

    def arm_dead_man_switch(self, timeout_seconds: float) -> None:
        self.calls.append(f"arm {timeout_seconds:g}")

    def disarm_dead_man_switch(self) -> None:
        self.calls.append("disarm")


TESTNET_OPEN = EnvironmentConfig(mode=TradingMode.TESTNET, enable_testnet_trading=True, exchange="venue", testnet_allowed_symbols=("BTC/EUR",))


def order(qty: float = 0.01, **kw: Any) -> OrderRequest:
    return OrderRequest("BTC/EUR", "buy", qty, reference_price=100.0, **kw)


def pipeline(env: EnvironmentConfig, client: Any = None, **kw: Any) -> ExecutionPipeline:
    config = PeakTradeConfig(environment=env, execution=ExecutionConfig(batch_size=2), live_risk=LiveRiskConfig(duplicate_window_seconds=0))
    return ExecutionPipeline(config, store=StateStore(":memory:"), trading_client=client, **kw)


# -- instrument rules -------------------------------------------------------------------------

STEPS = st.sampled_from([1e-8, 0.0001, 0.001, 0.01, 0.1, 0.25, 0.5, 1.0, 5.0])


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 10**7), step=STEPS)
def test_a_whole_number_of_steps_fits_and_half_a_step_more_is_refused_never_rounded(n, step):
    rules = InstrumentRules("BTC/EUR", tick_size=step, lot_step=step)
    assert rules.problems(OrderRequest("BTC/EUR", "buy", n * step, order_type="limit", limit_price=n * step)) == []
    off = (n + 0.5) * step
    problems = rules.problems(OrderRequest("BTC/EUR", "buy", off, order_type="limit", limit_price=off))
    assert len(problems) == 2 and "tick size" in problems[0] and "lot step" in problems[1]


def test_minimum_quantity_and_notional_and_an_unpriced_order_are_refused():
    rules = InstrumentRules("BTC/EUR", min_quantity=0.01, min_notional=5.0)
    assert rules.problems(order(0.01)) == ["notional 1 is below the minimum 5.0"]
    assert rules.problems(order(0.001))[0] == "quantity 0.001 is below the minimum 0.01"
    assert rules.problems(OrderRequest("BTC/EUR", "buy", 0.1)) == ["minimum notional 5.0 cannot be checked: the order has no price"]
    assert rules.problems(order(0.1)) == []


def test_the_executor_refuses_an_order_against_the_rules_before_submit_with_its_own_code():
    venue = Venue(rules=InstrumentRules("BTC/EUR", lot_step=0.001))
    executor = ExchangeOrderExecutor(venue, timeout_seconds=5.0)
    bad, good = executor.execute_orders([order(0.0015), order(0.003)])
    assert bad.status is OrderStatus.RISK_BLOCKED and bad.metadata["violation"] == "instrument_rules"
    assert bad.reasons == ["instrument_rules: quantity 0.0015 is not a multiple of the lot step 0.001"]
    assert good.status is OrderStatus.FILLED and list(venue.book) == [good.order.client_order_id]


def test_rules_that_cannot_be_loaded_refuse_the_order():
    venue = Venue()
    venue.instrument_rules = lambda symbol: (_ for _ in ()).throw(ConnectionError("down"))  # type: ignore[method-assign]
    (result,) = ExchangeOrderExecutor(venue, timeout_seconds=5.0).execute_orders([order()])
    assert result.status is OrderStatus.RISK_BLOCKED and "could not be loaded" in result.reasons[0] and venue.book == {}


def test_validated_and_fee_currency_are_mapped():
    validated = result_from_response(order(), {"client_order_id": "x", "status": "validated"})
    assert validated.status is OrderStatus.VALIDATED and validated.metadata["validate_only"] is True and not validated.fills
    (result,) = ExchangeOrderExecutor(Venue(), timeout_seconds=5.0).execute_orders([order()])
    assert (result.fills[0].fee, result.fills[0].fee_currency) == (0.1, "BNB")


# -- client order ids --------------------------------------------------------------------------


def test_ids_are_32_lowercase_hex_deterministic_per_run_and_position():
    a, b = ClientOrderIds("run-1"), ClientOrderIds("run-2")
    assert a.at(7) == ClientOrderIds("run-1").at(7) and a.at(7) != b.at(7) and a.at(7) != a.at(8)
    assert len(a.at(7)) == 32 and a.at(7) == a.at(7).lower() and int(a.at(7), 16) >= 0
    assert is_generated(a.at(7)) and not is_generated("my-own-id")


@settings(max_examples=50, deadline=None)
@given(runs=st.integers(2, 5), per_run=st.integers(1, 50))
def test_the_same_orders_run_again_never_reuse_an_id_and_keep_theirs_within_a_run(runs, per_run):
    orders = [order(0.001 * (i + 1)) for i in range(per_run)]
    seen: set[str] = set()
    for _ in range(runs):
        venue = Venue()
        p = pipeline(TESTNET_OPEN, venue, record=False)
        p.run(orders)
        ids = [o.client_order_id for o in orders]
        assert not seen & set(ids) and venue.refused == []
        assert all(r["client_order_id"] in ids for r in venue.book.values())
        seen |= set(ids)


def test_an_id_given_by_the_user_is_kept_and_ids_within_a_run_follow_the_position():
    venue = Venue()
    p = pipeline(TESTNET_OPEN, venue)
    given_id = order(client_order_id="mine-1")
    mine, other = given_id, order(0.02)
    summary = p.run([mine, other])
    assert mine.client_order_id == "mine-1"
    assert other.client_order_id == ClientOrderIds(summary.run_id).at(1)  # stable: run id + position


# -- the client and the mode ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "testnet", "message"),
    [
        (TradingMode.TESTNET, False, "venue client 'venue' is a production client (inproc://venue): refused in testnet mode"),
        (TradingMode.LIVE, True, "venue client 'venue' is a testnet client (inproc://venue): refused in live mode"),
    ],
)
def test_a_client_of_the_wrong_kind_is_refused_in_one_line_at_selection_and_at_the_guard(mode, testnet, message):
    venue = Venue(testnet=testnet)
    with pytest.raises(VenueError) as info:
        check_client_for_mode(venue, mode)
    assert str(info.value) == message
    env = TESTNET_OPEN if mode is TradingMode.TESTNET else live_environment()
    with pytest.raises(VenueError, match="refused"):
        create_order_executor(env, trading_client=venue)
    # a guard that somehow holds the wrong client still stops every order
    from peaktrade_core.gates import SafetyGuard

    guarded = GuardedExecutor(ExchangeOrderExecutor(venue), SafetyGuard(env, client=venue))
    (result,) = guarded.execute_orders([order()])
    assert result.status is OrderStatus.GATE_BLOCKED and result.reasons == [message] and venue.book == {}


def test_a_client_that_does_not_say_whether_it_is_testnet_is_refused():
    venue = Venue()
    del venue.testnet
    with pytest.raises(VenueError, match="does not state testnet/validate_only"):
        check_client_for_mode(venue, TradingMode.LIVE)


def test_paper_and_shadow_never_get_a_client():
    for mode in (TradingMode.PAPER, TradingMode.SHADOW):
        with pytest.raises(ValueError, match="never gets a trading client"):
            create_order_executor(EnvironmentConfig(mode=mode), trading_client=Venue())


# -- testnet gates and the effective mode ----------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    testnet_on=st.booleans(), exchange=st.sampled_from([None, "venue"]), kill=st.booleans(),
    live_on=st.booleans(), armed=st.booleans(), dry=st.booleans(),
)
def test_testnet_and_live_gates_are_independent(testnet_on, exchange, kill, live_on, armed, dry):
    switch = ENGAGED if kill else RELEASED
    base = dict(enable_testnet_trading=testnet_on, exchange=exchange, enable_live_trading=live_on, live_mode_armed=armed, live_dry_run_mode=dry)
    testnet = evaluate_gates(evolve(live_environment(), mode=TradingMode.TESTNET, **base), switch)
    assert testnet.sending_allowed == (testnet_on and exchange is not None and not kill)
    assert testnet.live_allowed is False  # testnet never opens live
    live = evaluate_gates(evolve(live_environment(), **base), switch)
    assert live.sending_allowed == (live_on and armed and not dry and not kill)  # enable_testnet_trading plays no part
    for report in (testnet, live):
        assert report.effective_mode in ((EffectiveMode.TESTNET, EffectiveMode.LIVE) if report.sending_allowed else (EffectiveMode.TESTNET_DRY_RUN, EffectiveMode.LIVE_DRY_RUN))


def test_the_effective_mode_names_what_ran():
    live = evaluate_gates(live_environment())
    testnet = evaluate_gates(TESTNET_OPEN)
    assert effective_mode_of(live, sends=False) is EffectiveMode.LIVE_DRY_RUN  # never "live" while dry-running
    assert effective_mode_of(live, sends=True) is EffectiveMode.LIVE
    assert effective_mode_of(testnet, sends=False) is EffectiveMode.TESTNET_DRY_RUN
    assert effective_mode_of(testnet, sends=True) is EffectiveMode.TESTNET
    assert effective_mode_of(testnet, sends=True, validate_only=True) is EffectiveMode.TESTNET_VALIDATE_ONLY


def test_testnet_orders_outside_the_testnet_allow_list_are_blocked_before_the_venue():
    venue = Venue()
    p = pipeline(TESTNET_OPEN, venue, record=False)
    eth = OrderRequest("ETH/EUR", "buy", 0.01, reference_price=100.0)
    ok, blocked = p.process_batch([order(), eth])
    assert ok.status is OrderStatus.FILLED and blocked.status is OrderStatus.GATE_BLOCKED
    assert blocked.reasons == ["symbol not in testnet_allowed_symbols (BTC/EUR)"]
    assert list(venue.book) == [ok.order.client_order_id]


# -- the venue hooks ---------------------------------------------------------------------------------


class VenuePlugin:
    def __init__(self, venue: str):
        self.venue = venue
        self.built: list[str] = []

    @hookimpl
    def exchange_venues(self):
        return [self.venue]

    @hookimpl
    def create_exchange_client(self, venue, mode, settings):
        self.built.append(f"{venue}:{mode.value}:{settings!r}")
        return Venue(venue, testnet=mode is TradingMode.TESTNET)


@pytest.mark.parametrize("order_of_registration", [("aaa", "zzz"), ("zzz", "aaa")])
def test_two_venue_plugins_are_each_selected_for_their_own_venue(order_of_registration):
    plugins = {name: VenuePlugin(name) for name in order_of_registration}
    with registered_plugin(plugins[order_of_registration[0]], order_of_registration[0]), registered_plugin(plugins[order_of_registration[1]], order_of_registration[1]):
        for name in ("aaa", "zzz"):
            env = evolve(TESTNET_OPEN, exchange=name)
            p = pipeline(env, record=False)
            assert p.executor.name == f"guarded:exchange:{name}"
            (result,) = p.process_batch([order()])
            assert result.status is OrderStatus.FILLED and list(p.venue.book) == [result.order.client_order_id]
    assert plugins["aaa"].built == ["aaa:testnet:None"] and plugins["zzz"].built == ["zzz:testnet:None"]


def test_the_client_is_never_built_in_paper_or_shadow_nor_without_an_exchange():
    plugin = VenuePlugin("venue")
    with registered_plugin(plugin, "venue-plugin"):
        pm = get_plugin_manager()
        for env in (EnvironmentConfig(exchange="venue"), EnvironmentConfig(mode=TradingMode.SHADOW, exchange="venue"), evolve(TESTNET_OPEN, exchange=None)):
            assert pm.create_exchange_client(PeakTradeConfig(environment=env)) is None
    assert plugin.built == []


def test_venue_hook_failures_are_one_line_naming_the_plugin():
    pm = get_plugin_manager()
    config = PeakTradeConfig(environment=evolve(TESTNET_OPEN, exchange="nowhere"))
    with pytest.raises(VenueError) as info:
        pm.create_exchange_client(config)
    assert str(info.value) == "[environment] exchange = 'nowhere': no installed plugin serves this venue (installed venues: none)"

    class Broken(VenuePlugin):
        @hookimpl
        def create_exchange_client(self, venue, mode, settings):
            raise RuntimeError("no api key\nsecond line")

    two = pytest.raises(VenueError, match=r"^venue 'venue' is served by two plugins, one and two: uninstall one")
    with registered_plugin(VenuePlugin("venue"), "one"), registered_plugin(VenuePlugin("venue"), "two"), two:
        pm.create_exchange_client(PeakTradeConfig(environment=TESTNET_OPEN))
    with registered_plugin(Broken("venue"), "broken"), pytest.raises(VenueError) as info:
        pm.create_exchange_client(PeakTradeConfig(environment=TESTNET_OPEN))
    assert str(info.value) == "plugin broken: create_exchange_client for venue 'venue' failed: RuntimeError: no api key; second line"


class DocsStyleVenue:
    """A venue plugin written as the old docs said: its own executor from select_executor,
    no tryfirst."""

    def __init__(self) -> None:
        self.client = Venue("binance", testnet=False)

    @hookimpl
    def select_executor(self, env, live_allowed):
        if env.mode is TradingMode.LIVE and live_allowed:
            return ExchangeOrderExecutor(self.client)
        return None


def test_a_select_executor_venue_plugin_works_without_tryfirst_behind_the_guard():
    plugin = DocsStyleVenue()
    with registered_plugin(plugin, "binance"):
        executor = create_order_executor(live_environment(exchange="binance", live_allowed_exchanges=("binance",)))
    assert isinstance(executor, GuardedExecutor) and executor.inner.client is plugin.client


# -- the kill switch reaches the venue; the dead man's switch ----------------------------------------


def test_an_engage_seen_by_a_running_session_cancels_open_orders_once_and_is_recorded():
    venue = Venue()
    p = pipeline(TESTNET_OPEN, venue)
    resting = [OrderRequest("BTC/EUR", "buy", 0.01 * (i + 1), order_type="limit", limit_price=99.5) for i in range(2)]

    def orders():
        yield from resting
        p.kill_switch.engage("runaway", operator="throttle", source="pipeline")  # e.g. another process
        yield from [order(), order(0.02), order(0.03)]

    summary = p.run(orders())
    assert venue.fetch_open_orders() == [] and venue.calls.count("cancel_all") == 1
    assert summary.by_status == {"accepted": 2, "gate_blocked": 3}
    (event,) = venue_cancel_history(p.store)
    assert (event["operator"], event["source"], event["cancelled"], event["venue"]) == ("throttle", f"session {summary.run_id}", 2, "venue")
    assert venue.calls[0] == "arm 60" and venue.calls[-1] == "disarm"


def test_no_venue_cancel_when_switched_off():
    venue = Venue()
    p = pipeline(evolve(TESTNET_OPEN, kill_switch_cancel_open_orders=False), venue)
    p.kill_switch.engage("drill", operator="ops")
    p.run([order()])
    assert "cancel_all" not in venue.calls and venue_cancel_history(p.store) == []


def test_a_session_that_cannot_arm_the_dead_man_switch_does_not_start():
    venue = Venue()

    def refuse(timeout_seconds: float) -> None:
        raise ConnectionError("venue down")

    venue.arm_dead_man_switch = refuse  # type: ignore[method-assign]
    p = pipeline(TESTNET_OPEN, venue, record=False)
    with pytest.raises(VenueError, match="^could not arm the dead man's switch on venue: ConnectionError: venue down; nothing was sent$"):
        p.run([order()])
    assert venue.book == {}


def test_a_select_executor_that_raises_is_one_line_naming_the_plugin():
    from peaktrade_core.plugins import PluginError

    class Raising:
        @hookimpl
        def select_executor(self, env):
            raise RuntimeError("boom\ntrace")

    with registered_plugin(Raising(), "raising"), pytest.raises(PluginError) as info:
        create_order_executor(EnvironmentConfig())
    assert str(info.value) == "plugin raising: select_executor failed: RuntimeError: boom; trace"


def test_the_fake_venue_satisfies_the_protocol():
    assert isinstance(Venue(), ExchangeClient)


def test_a_venue_error_echoing_the_api_secret_never_reaches_the_run_log(tmp_path):
    """A venue that quotes the credential back in its refusal (or a cancel failure) must not
    put it in the run log or the venue-cancel history: everything written is redacted."""
    from peaktrade_core.orders import ExchangeError
    from peaktrade_core.secrets import forget_secrets, register_secret

    secret = "sk-live-7Hq2ZtW9xPb4Lm"
    register_secret(secret)

    class Echoing(Venue):
        def submit_order(self, order: OrderRequest) -> dict[str, Any]:
            raise ExchangeError(f"invalid signature for key {secret}")

        def cancel_all(self, symbol: str | None = None) -> int:
            raise RuntimeError(f"cancel refused: {secret}")

    try:
        store = initialised_store(tmp_path)
        config = PeakTradeConfig(environment=TESTNET_OPEN, execution=ExecutionConfig(batch_size=1), live_risk=LiveRiskConfig(duplicate_window_seconds=0))
        p = ExecutionPipeline(config, store=store, trading_client=Echoing())

        def orders():
            yield order()
            p.kill_switch.engage("stop", operator="ops", source="test")
            yield order(0.02)

        summary = p.run(orders())
        assert summary.by_status.get("rejected") == 1, summary.by_status
        store.close()
        raw = b"".join(f.read_bytes() for f in tmp_path.glob("peaktrade*"))
        assert secret.encode() not in raw
        assert b"invalid signature for key ***" in raw  # the refusal itself is kept
    finally:
        forget_secrets()


def test_status_says_whether_testnet_orders_go_to_the_venue_and_why_not():
    from peaktrade_core.state import StateCheck
    from peaktrade_core.status import render_status, status_dict

    config = PeakTradeConfig(environment=TESTNET_OPEN)
    ok = StateCheck("state.sqlite3", "ok")
    assert status_dict(config, RELEASED, ok)["testnet_sending"]["allowed"] is True
    engaged = status_dict(config, ENGAGED, ok)
    assert engaged["testnet_sending"] == {"allowed": False, "reason": "kill switch " + ENGAGED.describe()}
    assert "testnet sending: NOT ALLOWED (kill switch engaged by ops" in render_status(engaged)
    lost = status_dict(config, RELEASED, StateCheck("state.sqlite3", "lost", "store missing"))["testnet_sending"]
    assert lost == {"allowed": False, "reason": "state store: store missing"}
    assert status_dict(PeakTradeConfig(), RELEASED, ok)["testnet_sending"] is None  # paper: not shown
