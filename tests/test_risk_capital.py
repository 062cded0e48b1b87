"""The capital limits: the ramp-up by readiness stage, capital per strategy and
``max_open_positions_live`` block with their own codes in the pipeline, whatever
``enabled`` and ``block_on_violation`` say; the run log records what was in force."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_core.config import PeakTradeConfig, structure_config
from peaktrade_core.environment import LIVE_CONFIRM_TOKEN, EnvironmentConfig, TradingMode
from peaktrade_core.orders import OrderRequest, OrderStatus
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.readiness import current_stage
from peaktrade_core.risk import CapitalLimits, LiveRiskConfig
from peaktrade_core.risk.capital import ramp_up_limit
from peaktrade_core.runlog import iter_run_events
from peaktrade_core.state import StateStore
from peaktrade_core.testing import FillingExecutor

OFF = dict(max_orders_per_second=0, max_orders_per_minute=0, duplicate_window_seconds=0, runaway_max_executions=0, price_collar_pct=0)
LIVE = EnvironmentConfig(
    mode=TradingMode.LIVE, enable_live_trading=True, live_mode_armed=True, live_dry_run_mode=False,
    confirm_token=LIVE_CONFIRM_TOKEN, max_live_notional_per_order=100_000.0, max_live_notional_total=100_000.0,
    live_allowed_symbols=("BTC/EUR", "ETH/EUR", "SOL/EUR"), exchange="kraken", live_allowed_exchanges=("kraken",),
)


def sign_stages(store: StateStore, up_to: int) -> None:
    """Sign-offs as ``readiness sign-off`` records them (stage 4 needs two people)."""
    current_stage(store)  # its table
    with store.transaction() as conn:
        for stage in range(1, up_to + 1):
            for operator in ("alice", "bob") if stage == 4 else ("alice",):
                conn.execute(
                    "INSERT INTO readiness_signoffs (stage, operator, at, reason, evidence) VALUES (?, ?, ?, ?, ?)",
                    (stage, operator, "2026-11-26T00:00:00+00:00", f"stage {stage} reviewed", "[]"),
                )
    assert current_stage(store) == up_to


def pipeline(limits: dict, *, env: EnvironmentConfig | None = None, store: StateStore | None = None, record: bool = False):
    config = PeakTradeConfig(environment=env or EnvironmentConfig(), live_risk=LiveRiskConfig(**{**OFF, **limits}))
    filler = FillingExecutor()
    p = ExecutionPipeline(config, store=store or StateStore(":memory:"), executor=filler, record=record)
    return p, filler


def o(symbol="BTC/EUR", side="buy", qty=0.01, price=40_000.0) -> OrderRequest:
    return OrderRequest(symbol, side, qty, reference_price=price)


def statuses(results) -> list[str]:
    return [r.status.value for r in results]


# -- the ramp-up --------------------------------------------------------------------------


@pytest.mark.parametrize("standard", [{}, {"block_on_violation": False}, {"enabled": False}], ids=["default", "warn-only", "disabled"])
def test_the_stage_limit_blocks_the_first_order_above_it_with_its_own_code(standard):
    # stage 0 (nothing signed): 1,000 of capital; each order is 400
    p, filler = pipeline({**standard, "ramp_up_max_capital": {"0": 1_000.0, "4": 50_000.0}})
    results = p.process_batch([o(), o(), o(), o("ETH/EUR", "buy", 0.1, 2_000.0)])
    assert statuses(results) == ["filled", "filled", "risk_blocked", "filled"]  # 800 + 400 > 1,000; 800 + 200 fits
    assert results[2].reasons == ["ramp_up_max_capital: exposure after order 1200.00 > ramp-up limit 1000.00 at readiness stage 0"]
    assert [o.client_order_id for o in filler.received] == [r.order.client_order_id for r in results if r.status is OrderStatus.FILLED]
    # reducing is always allowed: selling brings the exposure down
    assert statuses(p.process_batch([o(side="sell")])) == ["filled"]


def test_a_higher_signed_stage_raises_the_limit_and_an_unlisted_stage_takes_the_one_below():
    schedule = {"0": 500.0, "2": 1_000.0, "4": 5_000.0}
    store = StateStore(":memory:")
    p, _ = pipeline({"ramp_up_max_capital": schedule}, store=store)
    assert statuses(p.process_batch([o(), o()])) == ["filled", "risk_blocked"]
    sign_stages(store, 3)  # stage 3 is not listed: stage 2's limit applies
    p, _ = pipeline({"ramp_up_max_capital": schedule}, store=store)
    assert p.capital.in_force()["ramp_up_max_capital"] == 1_000.0
    assert statuses(p.process_batch([o(), o(), o()])) == ["filled", "filled", "risk_blocked"]


def test_a_schedule_without_an_entry_at_or_below_the_stage_allows_no_new_exposure():
    assert ramp_up_limit({"2": 1_000.0}, 0) == 0.0
    assert ramp_up_limit({"2": 1_000.0}, None) == 0.0  # stage unreadable: fail closed
    assert ramp_up_limit({}, 0) == math.inf  # no schedule: not checked
    p, _ = pipeline({"ramp_up_max_capital": {"2": 1_000.0}})
    (result,) = p.process_batch([o(qty=0.0001)])
    assert result.status is OrderStatus.RISK_BLOCKED and result.reasons[0].startswith("ramp_up_max_capital:")


# -- capital per strategy -----------------------------------------------------------------


def test_each_strategy_gets_its_percent_of_equity_and_the_rest_the_star_entry():
    # starting cash 100,000: "*" 0.5% = 500, momentum 1% = 1,000
    limits = {"max_capital_pct_per_strategy": {"*": 0.5, "momentum": 1.0}}
    p, _ = pipeline(limits)
    assert statuses(p.process_batch([o(), o()])) == ["filled", "risk_blocked"]
    p, _ = pipeline(limits)
    p.capital = p.capital.for_strategy("momentum")
    results = p.process_batch([o(), o(), o()])
    assert statuses(results) == ["filled", "filled", "risk_blocked"]
    assert results[2].reasons == ["max_capital_pct_per_strategy: exposure after order 1200.00 > 1% of equity (1000.00) allotted to strategy momentum"]


# -- open positions in live mode ----------------------------------------------------------


def test_max_open_positions_live_blocks_the_order_that_opens_one_position_too_many():
    p, filler = pipeline({"max_open_positions_live": 2}, env=LIVE)
    results = p.process_batch([o(), o("ETH/EUR", qty=0.1, price=2_000.0), o("BTC/EUR"), o("SOL/EUR", qty=1.0, price=150.0)])
    assert statuses(results) == ["filled", "filled", "filled", "risk_blocked"]  # adding to BTC opens nothing
    assert results[3].reasons == ["max_open_positions_live: live open positions after order 3 > limit 2"]
    assert "SOL/EUR" not in {o.symbol for o in filler.received}
    # closing one makes room for the next
    assert statuses(p.process_batch([o("ETH/EUR", "sell", 0.1, 2_000.0), o("SOL/EUR", qty=1.0, price=150.0)])) == ["filled", "filled"]
    # paper: a live limit, not checked
    p, _ = pipeline({"max_open_positions_live": 2})
    assert statuses(p.process_batch([o(), o("ETH/EUR", qty=0.1, price=2_000.0), o("SOL/EUR", qty=1.0, price=150.0)])) == ["filled"] * 3


# -- recorded with each run ---------------------------------------------------------------


def test_the_run_log_records_the_capital_limits_in_force(tmp_path):
    store = StateStore(tmp_path / "state.sqlite3")
    sign_stages(store, 1)
    limits = {"ramp_up_max_capital": {"0": 500.0, "1": 1_000.0}, "max_capital_pct_per_strategy": {"*": 2.0}}
    p, _ = pipeline(limits, store=store, record=True)
    summary = p.run([o(), o(), o()], strategy="breakout")
    assert summary.by_status == {"filled": 2, "risk_blocked": 1}
    (session,) = [e for e in iter_run_events(store, summary.run_id) if e.kind == "session"]
    recorded = session.extra["limits_in_force"]
    assert recorded["capital"] == {
        "stage": 1, "strategy": "breakout", "ramp_up_max_capital": 1_000.0,
        "max_capital_pct_per_strategy": 2.0, "max_open_positions_live": None,
    }
    assert recorded["live_risk"]["ramp_up_max_capital"] == {"0": 500.0, "1": 1_000.0}
    codes = [v["code"] for v in p.risk_records.query()]
    assert codes == ["ramp_up_max_capital"] and p.risk_records.query()[0]["blocked"] is True


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        ({"ramp_up_max_capital": {"7": 1.0}}, "live_risk.ramp_up_max_capital: must be keyed by readiness stage 0-4, got '7'"),
        ({"ramp_up_max_capital": {"1": -5.0}}, "live_risk.ramp_up_max_capital: must be finite numbers >= 0, got -5.0 for stage 1"),
        ({"max_capital_pct_per_strategy": {"*": 120.0}}, "live_risk.max_capital_pct_per_strategy: must be percentages from 0 to 100, got 120.0 for '*'"),
        ({"max_open_positions_live": -1}, "live_risk.max_open_positions_live: must be >= 0, got -1"),
    ],
)
def test_a_bad_capital_setting_is_one_line_naming_file_and_key(setting, line):
    from peaktrade_core.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        structure_config({"live_risk": setting}, source="c.toml")
    assert str(caught.value).splitlines() == [f"c.toml: {line}"]


# -- the property -------------------------------------------------------------------------

SYMBOLS = ("BTC/EUR", "ETH/EUR", "SOL/EUR")
amounts = st.floats(min_value=1.0, max_value=5_000.0, allow_nan=False)
orders = st.lists(
    st.tuples(st.sampled_from(SYMBOLS), st.sampled_from(("buy", "sell")), st.floats(0.01, 20.0), st.floats(10.0, 500.0)),
    min_size=1,
    max_size=12,
)
configs = st.fixed_dictionaries(
    {
        "ramp_up_max_capital": st.dictionaries(st.sampled_from(("0", "1", "2", "3", "4")), amounts, min_size=1),
        "enabled": st.booleans(),
        "block_on_violation": st.booleans(),
    },
    optional={
        "max_total_exposure_notional": amounts,
        "max_order_notional": amounts,
        "max_open_positions": st.integers(0, 3),
        "max_capital_pct_per_strategy": st.dictionaries(st.sampled_from(("*", "manual")), st.floats(0.0, 100.0), max_size=2),
        "max_open_positions_live": st.integers(0, 3),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=configs, stage=st.integers(0, 4), batches=st.lists(orders, min_size=1, max_size=3), live=st.booleans())
def test_no_order_that_would_exceed_the_stages_ramp_up_limit_passes_whatever_the_config(config, stage, batches, live):
    store = StateStore(":memory:")
    if stage:
        sign_stages(store, stage)
    p, _ = pipeline(config, env=LIVE if live else None, store=store)
    limit = ramp_up_limit(config["ramp_up_max_capital"], stage)
    book: dict[str, tuple[float, float]] = {}  # symbol -> (position, last fill price): the replay

    def exposure() -> float:
        return sum(abs(q) * price for q, price in book.values())

    for batch in batches:
        for r in p.process_batch([o(*row) for row in batch]):
            if r.status is not OrderStatus.FILLED:
                continue
            before = exposure()
            q = book.get(r.order.symbol, (0.0, 0.0))[0] + (r.order.quantity if r.order.side.value == "buy" else -r.order.quantity)
            book[r.order.symbol] = (q, r.order.price)
            assert exposure() <= max(before, limit) + 1e-6, (r.order, before, exposure(), limit)


def test_capital_limits_are_inactive_without_settings():
    assert not CapitalLimits(LiveRiskConfig(), LIVE).active
    assert CapitalLimits(LiveRiskConfig(), LIVE).violations([o()], p_state()) == []


def p_state():
    from peaktrade_core.risk import PortfolioState

    return PortfolioState(cash=1_000.0, starting_equity=1_000.0)


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_capital_pct_per_strategy", '{ "*" = 50.0 }'), ("ramp_up_max_capital", "{ 0 = 1e9 }"), ("max_open_positions_live", "99")],
)
def test_config_set_refuses_every_capital_limit(tmp_path, key, value):
    from peaktrade_core.config import PACKAGED_DEFAULT, ConfigError, set_value

    path = tmp_path / "config.toml"
    path.write_bytes(PACKAGED_DEFAULT.read_bytes())
    with pytest.raises(ConfigError) as refused:
        set_value(path, f"live_risk.{key}", value, plugin_sections={})
    assert f"live_risk.{key}: is a governance key" in refused.value.lines[0]
    assert path.read_bytes() == PACKAGED_DEFAULT.read_bytes()


def test_the_portfolio_view_names_a_portfolio_over_the_stages_ramp_up(tmp_path):
    import json

    from click.testing import CliRunner

    from peaktrade_core.cli import cli

    config = tmp_path / "config.toml"
    config.write_text('[environment]\nmode = "paper"\n\n[live_risk]\nramp_up_max_capital = { 0 = 1000.0, 1 = 5000.0 }\n')
    store = StateStore(tmp_path / "data" / "peaktrade.sqlite3")
    p, _ = pipeline({"ramp_up_max_capital": {"0": 5_000.0}}, store=store, record=True)
    p.run([o(qty=0.03)])  # 1,200 held, within that session's own limit
    shown = CliRunner().invoke(cli, ["--config", str(config), "portfolio", "--json"])
    assert shown.exit_code == 0, shown.output
    risk = json.loads(shown.stdout)["risk"]
    assert risk["allowed"] is False
    assert [(v["code"], v["limit"], v["value"]) for v in risk["violations"]] == [("ramp_up_max_capital", 1000.0, 1200.0)]
    sign_stages(store, 1)
    risk = json.loads(CliRunner().invoke(cli, ["--config", str(config), "portfolio", "--json"]).stdout)["risk"]
    assert risk == {"allowed": True, "violations": []}
