"""The installed ``paper`` plugin: discovery, executor selection per mode, [plugins.paper]."""

from __future__ import annotations

import pytest
from peaktrade_core.plugin_api import (
    ConfigError,
    EnvironmentConfig,
    OrderRequest,
    OrderStatus,
    TradingMode,
    get_plugin_manager,
)
from peaktrade_core.testing import (
    GuardedExecutor,
    NoExecutorError,
    create_order_executor,
    load_config,
)

from peaktrade_paper import PaperConfig, PaperOrderExecutor, ShadowOrderExecutor


def test_plugin_is_discovered_through_its_entry_point():
    info = {i.name: i for i in get_plugin_manager().infos()}["paper"]
    assert info.status == "loaded"
    assert info.distribution == "peaktrade-paper"
    assert set(info.hooks) == {"config_sections", "select_executor"}


@pytest.mark.parametrize(
    ("mode", "cls"), [("paper", PaperOrderExecutor), ("shadow", ShadowOrderExecutor)]
)
def test_create_order_executor_maps_paper_and_shadow(mode, cls):
    executor = create_order_executor(EnvironmentConfig(mode=TradingMode(mode)), {"BTC/EUR": 100.0})
    assert type(executor) is cls  # sends nothing: not wrapped by the guard
    assert not isinstance(executor, GuardedExecutor)
    (result,) = executor.execute_orders([OrderRequest("BTC/EUR", "buy", 1.0)])
    assert result.fills[0].price == 100.0


@pytest.mark.parametrize("mode", ["testnet", "live"])
def test_other_modes_are_not_handled_here_and_the_core_names_the_plugin(mode):
    with pytest.raises(NoExecutorError, match="peaktrade-dryrun"):
        create_order_executor(EnvironmentConfig(mode=TradingMode(mode)))


def write_config(tmp_path, body: str):
    path = tmp_path / "config.toml"
    path.write_text(body)
    return path


def test_config_section_sets_the_market_and_simulated_prices_override_it(tmp_path):
    path = write_config(
        tmp_path,
        """
[plugins.paper]
fee_bps = 10
slippage_bps = 0
prices = { "BTC/EUR" = 50000.0, "ETH/EUR" = 3000.0 }
liquidity = { "BTC/EUR" = 0.25 }
""",
    )
    config = load_config(path)
    assert isinstance(config.plugins["paper"], PaperConfig)

    executor = create_order_executor(config.environment, {"ETH/EUR": 3100.0}, config=config)
    btc, eth = executor.execute_orders(
        [OrderRequest("BTC/EUR", "buy", 1.0), OrderRequest("ETH/EUR", "sell", 1.0)]
    )
    assert btc.status is OrderStatus.PARTIALLY_FILLED and btc.filled_quantity == 0.25
    assert btc.fees == pytest.approx(0.25 * 50_000.0 * 0.001)
    assert eth.fills[0].price == 3100.0


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("fee_bps = -1", "plugins.paper.fee_bps: must be >= 0"),
        ('fee_bps = "ten"', 'plugins.paper.fee_bps: expected a number, got "ten"'),
        ('prices = { "BTC/EUR" = -5.0 }', "plugins.paper.prices: must be > 0"),
        ("slipage_bps = 3", "plugins.paper.slipage_bps: unknown key (did you mean slippage_bps?)"),
    ],
)
def test_bad_config_is_one_clear_line_naming_file_and_key(tmp_path, body, line):
    path = write_config(tmp_path, f"[plugins.paper]\n{body}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.lines) == 1
    assert info.value.lines[0].startswith(f"{path}: {line}")
