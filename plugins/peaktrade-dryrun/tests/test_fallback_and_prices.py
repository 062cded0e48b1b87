"""The dry-run plugin is the core's declared fallback (a venue plugin is never beaten by it,
whatever its name), and dry runs price orders without any Python call: reference price,
then ``[plugins.dryrun] prices``, then the venue's ticker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from peaktrade_core.plugin_api import (
    EnvironmentConfig,
    ExchangeOrderExecutor,
    ExecutionPipeline,
    OrderRequest,
    OrderStatus,
    PeakTradeConfig,
    TradingMode,
    hookimpl,
)
from peaktrade_core.testing import (
    GuardedExecutor,
    StateStore,
    create_order_executor,
    initialised_store,
    live_environment,
    registered_plugin,
)

from peaktrade_dryrun import LiveOrderExecutor, TestnetOrderExecutor
from peaktrade_dryrun.plugin import DryRunConfig


class Client:
    name, endpoint, validate_only = "binance", "https://api.binance.example", False

    def __init__(self, testnet: bool = False, price: float = 123.0) -> None:
        self.testnet = testnet
        self.price = price
        self.received: list[Any] = []
        self.ticker_calls: list[str] = []

    def fetch_ticker(self, symbol: str) -> float:
        self.ticker_calls.append(symbol)
        return self.price

    def submit_order(self, order: Any) -> dict[str, Any]:
        self.received.append(order)
        return {"client_order_id": order.client_order_id, "status": "filled", "fills": [{"quantity": order.quantity, "price": self.price}]}

    def fetch_order(self, client_order_id: str, symbol: str) -> None:
        return None

    def instrument_rules(self, symbol: str) -> None:
        return None


class OldDocsVenue:
    """Written as docs/plugins.md described it: select_executor, no tryfirst."""

    def __init__(self) -> None:
        self.client = Client()

    @hookimpl
    def select_executor(self, env, live_allowed):
        return ExchangeOrderExecutor(self.client) if env.mode is TradingMode.LIVE and live_allowed else None


class HookVenue:
    """Written with the venue hooks."""

    @hookimpl
    def exchange_venues(self):
        return ["binance"]

    @hookimpl
    def create_exchange_client(self, venue, mode):
        return Client(testnet=mode is TradingMode.TESTNET)


@pytest.mark.parametrize("name", ["binance", "aaa-binance", "zz-binance"])
def test_a_select_executor_venue_plugin_is_not_beaten_by_dryrun_whatever_its_name(name):
    plugin = OldDocsVenue()
    with registered_plugin(plugin, name):
        executor = create_order_executor(live_environment(exchange="binance", live_allowed_exchanges=("binance",)))
    assert isinstance(executor, GuardedExecutor) and executor.inner.client is plugin.client
    (result,) = executor.execute_orders([OrderRequest("BTC/EUR", "buy", 1.0)])
    assert result.status is OrderStatus.FILLED and len(plugin.client.received) == 1


def test_with_a_gate_closed_dryrun_answers_as_the_fallback():
    with registered_plugin(OldDocsVenue(), "binance"):
        executor = create_order_executor(EnvironmentConfig(mode=TradingMode.LIVE))
    assert type(executor) is LiveOrderExecutor


def test_a_venue_hook_plugin_named_binance_gets_the_core_venue_executor_not_dryrun():
    with registered_plugin(HookVenue(), "binance"):
        env = live_environment(exchange="binance", live_allowed_exchanges=("binance",))
        p = ExecutionPipeline(PeakTradeConfig(environment=env), store=StateStore(":memory:"), record=False)
        assert p.executor.name == "guarded:exchange:binance"
        (result,) = p.process_batch([OrderRequest("BTC/EUR", "buy", 0.001, reference_price=123.0)])
        assert result.status is OrderStatus.FILLED and len(p.venue.received) == 1
        # gate closed: the same venue is only asked for prices, never sent an order
        closed = ExecutionPipeline(PeakTradeConfig(environment=EnvironmentConfig(mode=TradingMode.TESTNET, exchange="binance")), store=StateStore(":memory:"), record=False)
        assert type(closed.executor) is TestnetOrderExecutor
        (dry,) = closed.process_batch([OrderRequest("ETH/EUR", "buy", 0.001)])
        assert dry.status is OrderStatus.FILLED and dry.fills[0].price == 123.0 and dry.metadata["price_source"] == "venue_ticker"
        assert closed.venue.received == [] and closed.venue.ticker_calls == ["ETH/EUR"]


def test_price_order_reference_then_configured_then_ticker_cached():
    now = [0.0]
    calls: list[str] = []

    def ticker(symbol: str) -> float:
        calls.append(symbol)
        return 7.0

    executor = TestnetOrderExecutor({"ETH/EUR": 3_000.0}, ticker=ticker, ticker_ttl_seconds=10.0, clock=lambda: now[0])
    with_ref = OrderRequest("ETH/EUR", "buy", 1.0, reference_price=2_900.0)
    configured = OrderRequest("ETH/EUR", "buy", 1.0)
    ticked = OrderRequest("SOL/EUR", "buy", 1.0)
    a, b, c, d = executor.execute_orders([with_ref, configured, ticked, ticked])
    assert [r.fills[0].price for r in (a, b, c, d)] == [2_900.0, 3_000.0, 7.0, 7.0]
    assert [r.metadata["price_source"] for r in (a, b, c)] == ["reference_price", "configured", "venue_ticker"]
    assert calls == ["SOL/EUR"]  # cached
    now[0] = 11.0
    executor.execute_orders([ticked])
    assert calls == ["SOL/EUR", "SOL/EUR"]


def test_configured_prices_must_be_positive():
    with pytest.raises(ValueError, match="BTC/EUR"):
        DryRunConfig(prices={"BTC/EUR": 0.0})


@pytest.mark.parametrize("mode", ["testnet", "live"])
def test_cli_dry_run_prices_orders_from_the_file_and_the_config_without_any_python_call(tmp_path, mode):
    """Before: every order was rejected ("no simulated price ... call set_simulated_price first")."""
    orders = tmp_path / "orders.csv"
    orders.write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,0.001,50000\nETH/EUR,sell,0.01,\n")
    config = tmp_path / "config.toml"
    config.write_text(f'[environment]\nmode = "{mode}"\n\n[plugins.dryrun]\nprices = {{ "ETH/EUR" = 3000.0 }}\n')
    env = dict(os.environ, PEAK_TRADE_PLUGINS="dryrun")
    initialised_store().close()  # testnet/live refuse a store no person initialised
    out = subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "--config", str(config), "session", "run", "--orders", str(orders), "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["effective_mode"] == f"{mode}_dry_run"
    assert summary["by_status"] == {"filled": 2} and summary["positions"] == {"BTC/EUR": 0.001, "ETH/EUR": -0.01}
    assert "set_simulated_price" not in out.stderr


def test_a_dry_run_fills_at_the_live_quote_and_asks_the_venue_nothing():
    """With a feed, the last quote prices the dry run: no ticker request per order, and the
    fill is at the quote the order was decided at."""
    from peaktrade_core.plugin_api import Quote

    with registered_plugin(HookVenue(), "binance"):
        closed = ExecutionPipeline(PeakTradeConfig(environment=EnvironmentConfig(mode=TradingMode.TESTNET, exchange="binance")),
                                   store=StateStore(":memory:"), record=False)
        closed.on_quote(Quote("ETH/EUR", 2_345.5, closed.clock()))
        (dry,) = closed.process_batch([OrderRequest("ETH/EUR", "buy", 0.001)])
        assert dry.status is OrderStatus.FILLED and dry.fills[0].price == 2_345.5
        assert closed.venue.received == [] and closed.venue.ticker_calls == []
        closed.on_quote(Quote("ETH/EUR", 2_400.0, closed.clock()))
        (again,) = closed.process_batch([OrderRequest("ETH/EUR", "buy", 0.002)])
        assert again.fills[0].price == 2_400.0
