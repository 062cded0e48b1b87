"""The standard limits: one test per violation code (code, limit, value), batch awareness,
block_on_violation, enabled, live limits, plugins failing closed, profiles."""

from __future__ import annotations

import pytest
from attrs import evolve

from peaktrade_core.config import ConfigError, structure_config
from peaktrade_core.environment import EnvironmentConfig
from peaktrade_core.hookspecs import hookimpl
from peaktrade_core.orders import OrderRequest
from peaktrade_core.plugins import get_plugin_manager
from peaktrade_core.portfolio import LivePortfolioMonitor
from peaktrade_core.risk import (
    LiveRiskConfig,
    LiveRiskLimits,
    PortfolioState,
    RiskViolation,
    ViolationCode,
    blocked_orders,
    run_risk_checks,
)
from peaktrade_core.testing import registered_plugin

NO_LIMITS = LiveRiskConfig(price_collar_pct=0.0)
LIVE = EnvironmentConfig(mode="live")


def buy(qty=1.0, price=100.0, symbol="BTC/EUR", **kw):
    return OrderRequest(symbol=symbol, side="buy", quantity=qty, reference_price=price, **kw)


def sell(qty=1.0, price=100.0, symbol="BTC/EUR", **kw):
    return OrderRequest(symbol=symbol, side="sell", quantity=qty, reference_price=price, **kw)


def through_plugin(orders, portfolio, limits, env):
    """The essential built-in through the plugin manager, as the pipeline calls it."""
    found = get_plugin_manager().check_risk(orders, portfolio, limits, env, 2.0)
    assert all(v.plugin == "risk-limits" for v in found), found
    return [evolve(v, plugin="") for v in found]


def only(found: list[RiskViolation], code: ViolationCode) -> RiskViolation:
    assert [v.code for v in found] == [code.value], found
    return found[0]


# -- one test per code ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "env", "orders", "portfolio", "code", "limit", "value", "index"),
    [
        (
            LiveRiskConfig(max_order_notional=1000.0, price_collar_pct=0),
            None,
            [buy(15, 100.0)],
            None,
            ViolationCode.ORDER_NOTIONAL,
            1000.0,
            1500.0,
            0,
        ),
        (
            LiveRiskConfig(min_order_notional=10.0, price_collar_pct=0),
            None,
            [buy(0.05, 100.0)],
            None,
            ViolationCode.MIN_ORDER_NOTIONAL,
            10.0,
            5.0,
            0,
        ),
        (
            LiveRiskConfig(max_symbol_exposure_notional=1000.0, price_collar_pct=0),
            None,
            [buy(6), buy(6)],
            None,
            ViolationCode.SYMBOL_EXPOSURE,
            1000.0,
            1200.0,
            1,
        ),
        (
            LiveRiskConfig(max_total_exposure_notional=1000.0, price_collar_pct=0),
            None,
            [buy(6), buy(6, symbol="ETH/EUR")],
            None,
            ViolationCode.TOTAL_EXPOSURE,
            1000.0,
            1200.0,
            1,
        ),
        (
            LiveRiskConfig(max_open_positions=1, price_collar_pct=0),
            None,
            [buy(1), buy(1, symbol="ETH/EUR")],
            None,
            ViolationCode.OPEN_POSITIONS,
            1.0,
            2.0,
            1,
        ),
        (
            LiveRiskConfig(max_order_quantity={"BTC/EUR": 2.0}, price_collar_pct=0),
            None,
            [buy(1, symbol="ETH/EUR"), buy(3)],
            None,
            ViolationCode.MAX_QUANTITY,
            2.0,
            3.0,
            1,
        ),
        (
            LiveRiskConfig(price_collar_pct=10.0),
            None,
            [
                OrderRequest(
                    symbol="BTC/EUR",
                    side="buy",
                    quantity=1,
                    order_type="limit",
                    limit_price=115.0,
                    reference_price=100.0,
                )
            ],
            None,
            ViolationCode.PRICE_COLLAR,
            10.0,
            15.0,
            0,
        ),
        (
            LiveRiskConfig(max_order_notional=1000.0),
            None,
            [OrderRequest(symbol="BTC/EUR", side="buy", quantity=1)],
            None,
            ViolationCode.NO_PRICE,
            None,
            None,
            0,
        ),
        (
            NO_LIMITS,
            EnvironmentConfig(mode="live", max_live_notional_per_order=50.0),
            [buy(1, 60.0)],
            None,
            ViolationCode.LIVE_ORDER_NOTIONAL,
            50.0,
            60.0,
            0,
        ),
        (
            NO_LIMITS,
            EnvironmentConfig(mode="live", max_live_notional_total=150.0),
            [buy(1), buy(1)],
            None,
            ViolationCode.LIVE_TOTAL_NOTIONAL,
            150.0,
            200.0,
            1,
        ),
        (
            NO_LIMITS,
            EnvironmentConfig(mode="live", live_trade_min_size=10.0),
            [buy(0.05)],
            None,
            ViolationCode.LIVE_MIN_SIZE,
            10.0,
            5.0,
            0,
        ),
        (
            LiveRiskConfig(max_daily_loss_abs=50.0, price_collar_pct=0),
            None,
            [buy(1)],
            "loss",
            ViolationCode.DAILY_LOSS_ABS,
            50.0,
            100.0,
            0,
        ),
        (
            LiveRiskConfig(max_daily_loss_pct=5.0, price_collar_pct=0),
            None,
            [buy(1)],
            "loss",
            ViolationCode.DAILY_LOSS_PCT,
            5.0,
            10.0,
            0,
        ),
    ],
    ids=lambda p: p.value if isinstance(p, ViolationCode) else None,
)
def test_each_violation_code_names_limit_and_value(
    limits, env, orders, portfolio, code, limit, value, index
):
    state = PortfolioState(cash=1000.0, starting_equity=1000.0)
    if portfolio == "loss":  # bought 1 at 200, now worth 100: a loss of 100 on equity 1000
        state.roll_day(0.0)
        state.apply_fill("SOL/EUR", 1.0, 200.0, 0.0)
        state.update_prices({"SOL/EUR": 100.0})
    env = env or EnvironmentConfig()
    found = through_plugin(orders, state, limits, env)
    violation = only(found, code)
    assert (violation.limit, violation.value, violation.order_index) == (limit, value, index)
    assert violation.message.startswith(f"{code.value}: ")
    assert violation.symbol == orders[index].symbol
    assert LiveRiskLimits(limits, env).check_orders(orders, state).allowed is False


def test_message_reads_like_the_limit_that_broke():
    found = LiveRiskLimits(LiveRiskConfig(max_order_notional=1000.0)).violations(
        [buy(15)], PortfolioState()
    )
    assert found[0].message == "max_order_notional: order notional 1500.00 > limit 1000.00"


# -- semantics ------------------------------------------------------------------------------


def test_blocked_order_does_not_count_against_the_batch():
    limits = LiveRiskConfig(max_order_notional=1000.0, max_total_exposure_notional=2500.0)
    # the big order (2000) is blocked, so the two small ones (700 each) after it still fit
    found = LiveRiskLimits(limits).violations([buy(20), buy(7), buy(7)], PortfolioState())
    assert [(v.code, v.order_index) for v in found] == [("max_order_notional", 0)]


def test_reducing_an_oversized_position_passes():
    state = PortfolioState()
    state.apply_fill("BTC/EUR", 30.0, 100.0, 0.0)
    limits = LiveRiskConfig(max_symbol_exposure_notional=1000.0, max_total_exposure_notional=1000.0)
    checker = LiveRiskLimits(limits)
    assert checker.violations([sell(5)], state) == []
    assert [v.code for v in checker.violations([buy(1)], state)] == [
        "max_symbol_exposure_notional",
        "max_total_exposure_notional",
    ]


def test_closing_a_position_frees_an_open_position_slot_in_the_same_batch():
    state = PortfolioState()
    state.apply_fill("BTC/EUR", 1.0, 100.0, 0.0)
    checker = LiveRiskLimits(LiveRiskConfig(max_open_positions=1))
    assert checker.violations([sell(1), buy(1, symbol="ETH/EUR")], state) == []
    assert only(checker.violations([buy(1, symbol="ETH/EUR")], state), ViolationCode.OPEN_POSITIONS)


def test_last_price_of_the_portfolio_prices_a_market_order():
    state = PortfolioState(last_prices={"BTC/EUR": 200.0})
    found = LiveRiskLimits(LiveRiskConfig(max_order_notional=100.0)).violations(
        [OrderRequest(symbol="BTC/EUR", side="buy", quantity=1)], state
    )
    assert only(found, ViolationCode.ORDER_NOTIONAL).value == 200.0


def test_no_price_is_fine_when_no_notional_limit_is_set():
    order = OrderRequest(symbol="BTC/EUR", side="buy", quantity=1)
    assert (
        LiveRiskLimits(LiveRiskConfig(max_open_positions=3)).violations([order], PortfolioState())
        == []
    )


def test_daily_loss_lets_reducing_orders_through():
    state = PortfolioState(cash=1000.0, starting_equity=1000.0)
    state.roll_day(0.0)
    state.apply_fill("BTC/EUR", 2.0, 200.0, 0.0)
    state.update_prices({"BTC/EUR": 100.0})
    checker = LiveRiskLimits(LiveRiskConfig(max_daily_loss_abs=50.0))
    assert checker.violations([sell(1)], state) == []
    assert only(checker.violations([sell(3)], state), ViolationCode.DAILY_LOSS_ABS).value == 200.0


def test_block_on_violation_false_reports_but_allows_and_counts():
    limits = LiveRiskConfig(
        max_order_notional=1000.0, max_total_exposure_notional=2500.0, block_on_violation=False
    )
    result = LiveRiskLimits(limits).check_orders([buy(20), buy(7)], PortfolioState())
    assert result.allowed is True
    # the first order is not blocked, so it counts: the second then breaks the total
    assert [(v.code, v.order_index) for v in result.violations] == [
        ("max_order_notional", 0),
        ("max_total_exposure_notional", 1),
    ]
    assert blocked_orders(result.violations, block_on_violation=False) == (False, set())
    assert blocked_orders(result.violations, block_on_violation=True) == (False, {0, 1})


def test_disabled_checks_no_standard_limit_but_keeps_environment_live_limits():
    limits = LiveRiskConfig(
        enabled=False, max_order_notional=1.0, max_open_positions=0, price_collar_pct=1.0
    )
    assert LiveRiskLimits(limits).violations([buy(100)], PortfolioState()) == []
    live = EnvironmentConfig(mode="live", max_live_notional_per_order=50.0)
    assert only(
        LiveRiskLimits(limits, live).violations([buy(1)], PortfolioState()),
        ViolationCode.LIVE_ORDER_NOTIONAL,
    )


def test_live_limits_apply_in_live_dry_run_only_in_live_mode():
    dry_run = EnvironmentConfig(
        mode="live", live_dry_run_mode=True, max_live_notional_per_order=50.0
    )
    paper = EnvironmentConfig(mode="paper", max_live_notional_per_order=50.0)
    assert LiveRiskLimits(NO_LIMITS, dry_run).violations([buy(1)], PortfolioState())
    assert LiveRiskLimits(NO_LIMITS, paper).violations([buy(1)], PortfolioState()) == []


def test_tighter_of_environment_and_live_risk_live_limit_applies():
    env = EnvironmentConfig(mode="live", max_live_notional_per_order=500.0)
    found = LiveRiskLimits(LiveRiskConfig(max_live_notional_per_order=80.0), env).violations(
        [buy(1)], PortfolioState()
    )
    assert only(found, ViolationCode.LIVE_ORDER_NOTIONAL).limit == 80.0


def test_collar_is_skipped_without_reference_price():
    order = OrderRequest(
        symbol="BTC/EUR", side="buy", quantity=1, order_type="limit", limit_price=1e6
    )
    assert (
        LiveRiskLimits(LiveRiskConfig(price_collar_pct=1.0)).violations([order], PortfolioState())
        == []
    )


def test_wildcard_max_order_quantity():
    limits = LiveRiskConfig(max_order_quantity={"*": 5.0, "BTC/EUR": 1.0})
    found = LiveRiskLimits(limits).violations(
        [buy(2), buy(4, symbol="ETH/EUR"), buy(6, symbol="ETH/EUR")], PortfolioState()
    )
    assert [(v.order_index, v.limit) for v in found] == [(0, 1.0), (2, 5.0)]


# -- portfolio level ------------------------------------------------------------------------


def test_evaluate_portfolio_checks_exposure_positions_and_daily_loss():
    state = PortfolioState(cash=1000.0, starting_equity=1000.0)
    state.roll_day(0.0)
    state.apply_fill("BTC/EUR", 10.0, 100.0, 0.0)
    state.apply_fill("ETH/EUR", -5.0, 100.0, 0.0)
    state.update_prices({"BTC/EUR": 80.0})
    limits = LiveRiskConfig(
        max_symbol_exposure_notional=700.0,
        max_total_exposure_notional=1200.0,
        max_open_positions=1,
        max_daily_loss_abs=150.0,
    )
    result = LiveRiskLimits(limits).evaluate_portfolio(LivePortfolioMonitor(state).snapshot())
    got = {(v.code, v.symbol): (v.limit, v.value) for v in result.violations}
    assert got == {
        ("max_symbol_exposure_notional", "BTC/EUR"): (700.0, 800.0),
        ("max_total_exposure_notional", None): (1200.0, 1300.0),
        ("max_open_positions", None): (1.0, 2.0),
        ("max_daily_loss_abs", None): (150.0, 200.0),
    }
    assert result.allowed is False


# -- plugins --------------------------------------------------------------------------------


class _Raises:
    @hookimpl
    def check_risk(self, orders):
        raise RuntimeError("boom")


class _Garbage:
    @hookimpl
    def check_risk(self, orders):
        return 42


class _Adds:
    @hookimpl
    def check_risk(self, orders):
        return [
            RiskViolation(
                code="fat_finger", message="fat_finger: too big", order_index=0, symbol="BTC/EUR"
            )
        ]


@pytest.mark.parametrize(
    ("plugin", "what"), [(_Raises(), "RuntimeError: boom"), (_Garbage(), "returned int")]
)
def test_failing_risk_plugin_blocks_the_batch_naming_it(plugin, what):
    with registered_plugin(plugin, "shaky-risk"):
        found = run_risk_checks([buy(1)], PortfolioState(), NO_LIMITS, EnvironmentConfig())
    violation = only(found, ViolationCode.PLUGIN)
    assert violation.plugin == "shaky-risk" and violation.order_index is None
    assert "shaky-risk" in violation.message and what in violation.message
    # fail closed even when violations only warn
    assert blocked_orders(found, block_on_violation=False) == (True, set())


def test_plugin_violations_are_added_and_attributed():
    with registered_plugin(_Adds(), "fat-finger"):
        found = run_risk_checks(
            [buy(15)],
            PortfolioState(),
            LiveRiskConfig(max_order_notional=1000.0),
            EnvironmentConfig(),
        )
    assert sorted((v.code, v.plugin) for v in found) == [
        ("fat_finger", "fat-finger"),
        ("max_order_notional", "risk-limits"),
    ]


# -- config ---------------------------------------------------------------------------------


def test_profile_applies_presets_and_keys_beside_it_override():
    config = structure_config({"live_risk": {"profile": "conservative", "max_open_positions": 7}})
    risk = config.live_risk
    assert (
        risk.profile,
        risk.max_order_notional,
        risk.max_daily_loss_pct,
        risk.max_open_positions,
    ) == (
        "conservative",
        500.0,
        1.0,
        7,
    )


def test_unknown_profile_and_time_zone_are_one_line_each():
    with pytest.raises(ConfigError) as err:
        structure_config({"live_risk": {"profile": "yolo"}}, "c.toml")
    assert err.value.lines == [
        'c.toml: live_risk.profile: unknown profile "yolo"; one of conservative, moderate, aggressive'
    ]
    with pytest.raises(ConfigError) as err:
        structure_config({"live_risk": {"timezone": "Mars/Olympus"}}, "c.toml")
    assert len(err.value.lines) == 1 and "timezone" in err.value.lines[0]
    assert "Mars/Olympus" in err.value.lines[0]


def test_seed_config_with_live_limits_in_live_risk_is_valid():
    config = structure_config(
        {"live_risk": {"max_live_notional_per_order": 1000.0, "live_trade_min_size": 10.0}}
    )
    assert config.live_risk.max_live_notional_per_order == 1000.0
