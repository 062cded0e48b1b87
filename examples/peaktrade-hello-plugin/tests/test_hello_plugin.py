from peaktrade_core.plugin_api import (
    GateContext,
    OrderRequest,
    PeakTradeConfig,
    evaluate_gates,
    get_plugin_manager,
)
from peaktrade_core.testing import reset_plugin_manager, structure_config

ORDERS = [OrderRequest("BTC/EUR", "buy", 1.0), OrderRequest("BTC/EUR", "buy", 3.0), OrderRequest("BTC/EUR", "buy", 12.0)]


def hello_decisions(config: PeakTradeConfig, plugin: str = "hello") -> list:
    """What the hello gate closes, called as peaktrade calls it: through the plugin manager."""
    pm = get_plugin_manager()
    env = config.environment
    return [d for d in pm.check_gate(env, ORDERS, GateContext(evaluate_gates(env))) if d.plugin == plugin]


def test_hello_is_discovered_through_its_entry_point():
    info = {i.name: i for i in get_plugin_manager().infos()}["hello"]
    assert info.source == "entry-point"
    assert info.status == "loaded"
    assert info.distribution == "peaktrade-hello-plugin"
    assert info.hooks == ("check_gate", "config_sections", "configure")


def test_hello_blocks_only_orders_above_its_configured_ceiling():
    pm = get_plugin_manager()
    config = structure_config({"plugins": {"hello": {"max_quantity": 2.0}}}, "t.toml", pm.config_sections())
    pm.configure(config)
    (decision,) = hello_decisions(config)
    assert decision.orders == (1, 2)
    assert "above 2" in decision.reason


def test_each_plugin_manager_has_its_own_hello_with_its_own_settings():
    first = get_plugin_manager()
    first.configure(structure_config({"plugins": {"hello": {"max_quantity": 2.0}}}, "t.toml", first.config_sections()))
    assert [d.orders for d in hello_decisions(PeakTradeConfig())] == [(1, 2)]
    reset_plugin_manager()
    assert get_plugin_manager() is not first
    assert [d.orders for d in hello_decisions(PeakTradeConfig())] == [(2,)]  # not configured: default 10
