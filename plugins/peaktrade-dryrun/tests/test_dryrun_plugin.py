"""The installed ``dryrun`` plugin through ``create_order_executor``: the seed's mapping for
testnet and live, the exchange executor behind the guard only when every gate is open and a
client is given, and a gate closed after selection stops the order at the guard."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from peaktrade_core.config import ExecutionConfig, PeakTradeConfig
from peaktrade_core.environment import EnvironmentConfig, TradingMode
from peaktrade_core.executors import GuardedExecutor, NoExecutorError, create_order_executor
from peaktrade_core.killswitch import KillSwitch
from peaktrade_core.log import captured
from peaktrade_core.orders import OrderRequest, OrderStatus
from peaktrade_core.plugins import get_plugin_manager
from peaktrade_core.state import StateStore
from peaktrade_core.testing import live_environment

from peaktrade_dryrun import LiveOrderExecutor, TestnetOrderExecutor

OPEN_LIVE = live_environment()


class RecordingVenue:
    """The smallest in-process venue: books every order it receives, fills it at 100."""

    name = "venue"

    def __init__(self) -> None:
        self.received: list[OrderRequest] = []

    def submit_order(self, order: OrderRequest) -> dict[str, Any]:
        self.received.append(order)
        return {
            "client_order_id": order.client_order_id,
            "status": "filled",
            "fills": [{"quantity": order.quantity, "price": 100.0}],
        }

    def fetch_order(self, client_order_id: str, symbol: str = "") -> dict[str, Any] | None:
        return None

    def ping(self) -> dict[str, Any]:
        return {}

    def cancel_order(self, client_order_id: str) -> bool:
        return False

    def cancel_all(self) -> int:
        return 0

    def fetch_positions(self) -> dict[str, float]:
        return {}

    def fetch_balances(self) -> dict[str, float]:
        return {}


def test_plugin_is_discovered_through_its_entry_point():
    info = {i.name: i for i in get_plugin_manager().infos()}["dryrun"]
    assert info.status == "loaded" and info.distribution == "peaktrade-dryrun"
    assert info.hooks == ("select_executor",)


@pytest.mark.parametrize(
    ("env", "client", "expected"),
    [
        (EnvironmentConfig(mode=TradingMode.TESTNET), None, TestnetOrderExecutor),
        (EnvironmentConfig(mode=TradingMode.TESTNET), RecordingVenue(), TestnetOrderExecutor),
        (EnvironmentConfig(mode=TradingMode.LIVE), None, LiveOrderExecutor),
        (
            EnvironmentConfig(mode=TradingMode.LIVE),
            RecordingVenue(),
            LiveOrderExecutor,
        ),  # gates closed
        (OPEN_LIVE, None, LiveOrderExecutor),  # gates open, but no client
        (attrs.evolve(OPEN_LIVE, live_dry_run_mode=True), RecordingVenue(), LiveOrderExecutor),
    ],
)
def test_seed_mapping_dry_run_cases(env, client, expected):
    executor = create_order_executor(env, {"BTC/EUR": 100.0}, trading_client=client)
    assert type(executor) is expected
    (result,) = executor.execute_orders([OrderRequest("BTC/EUR", "buy", 1.0)])
    assert result.metadata["dry_run"] is True
    if client is not None:
        assert client.received == []  # never sent


@pytest.mark.parametrize("mode", ["paper", "shadow"])
def test_paper_modes_are_not_handled_here_and_the_core_names_the_plugin(mode):
    with pytest.raises(NoExecutorError, match="peaktrade-paper"):
        create_order_executor(EnvironmentConfig(mode=TradingMode(mode)))


def test_live_dry_run_says_which_gate_keeps_it_dry():
    with captured("WARNING") as lines:
        create_order_executor(
            attrs.evolve(OPEN_LIVE, live_mode_armed=False), trading_client=RecordingVenue()
        )
    assert any(
        x.startswith("[LIVE-DRY-RUN] live mode runs as dry run") and "gate 2 blocked" in x
        for x in lines
    )


def test_all_gates_open_with_a_client_gives_the_guarded_exchange_executor():
    venue = RecordingVenue()
    config = PeakTradeConfig(execution=ExecutionConfig(max_retries=1, submit_timeout_seconds=3.0))
    executor = create_order_executor(OPEN_LIVE, trading_client=venue, config=config)

    assert isinstance(executor, GuardedExecutor)
    assert executor.inner.name == "exchange:venue"
    assert (executor.inner.max_retries, executor.inner.timeout_seconds) == (1, 3.0)
    (result,) = executor.execute_orders([OrderRequest("BTC/EUR", "buy", 1.0)])
    assert result.status is OrderStatus.FILLED and len(venue.received) == 1


def test_kill_switch_engaged_after_selection_stops_the_order_at_the_guard(tmp_path):
    venue = RecordingVenue()
    kill_switch = KillSwitch(StateStore.in_dir(tmp_path / "data"))
    executor = create_order_executor(OPEN_LIVE, trading_client=venue, kill_switch=kill_switch.state)
    assert isinstance(executor, GuardedExecutor)

    KillSwitch(StateStore.in_dir(tmp_path / "data")).engage("venue incident", operator="ops")
    (result,) = executor.execute_orders([OrderRequest("BTC/EUR", "buy", 1.0)])

    assert result.status is OrderStatus.GATE_BLOCKED
    assert result.metadata["blocked_by"] == "guard"
    assert venue.received == []
