from peaktrade_core.config import structure_config
from peaktrade_core.gates import GateContext, evaluate_gates
from peaktrade_core.orders import OrderRequest
from peaktrade_core.plugins import get_plugin_manager


def test_hello_is_discovered_through_its_entry_point():
    info = {i.name: i for i in get_plugin_manager().infos()}["hello"]
    assert info.source == "entry-point"
    assert info.status == "loaded"
    assert info.distribution == "peaktrade-hello-plugin"
    assert "check_gate" in info.hooks


def test_hello_blocks_only_orders_above_its_configured_ceiling():
    pm = get_plugin_manager()
    config = structure_config({"plugins": {"hello": {"max_quantity": 2.0}}}, "t.toml", pm.config_sections())
    pm.configure(config)
    orders = [OrderRequest("BTC/EUR", "buy", 1.0), OrderRequest("BTC/EUR", "buy", 3.0)]
    context = GateContext(evaluate_gates(config.environment))
    results = dict((n, r) for n, r, _e in pm.call_isolated("check_gate", {"env": config.environment, "orders": orders, "context": context}, 1.0))
    decision = results["hello"]
    assert decision.orders == (1,)
    assert "above 2" in decision.reason
