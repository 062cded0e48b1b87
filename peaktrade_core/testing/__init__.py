"""Helpers for tests of peaktrade and its plugins."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from peaktrade_core import _lazy_attributes
from peaktrade_core.plugins import get_plugin_manager, reset_plugin_manager


@contextmanager
def registered_plugin(plugin: object, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` with the process-wide manager for the ``with`` block only; it is
    unregistered afterwards even if the block raises."""
    pm = get_plugin_manager()
    registered = pm.register(plugin, name)
    try:
        yield registered
    finally:
        pm.unregister(registered)


def isolate(tmp_path: Path, monkeypatch: Any, plugins: str = "") -> Iterator[None]:
    """For an autouse fixture: only the named external plugins load (``""``: none), state
    goes to a fresh data dir under ``tmp_path``, the cwd is ``tmp_path``, no config file is
    inherited from the environment, and the plugin manager is rebuilt before and after::

        @pytest.fixture(autouse=True)
        def isolated(tmp_path, monkeypatch):
            yield from isolate(tmp_path, monkeypatch, plugins="paper")
    """
    monkeypatch.setenv("PEAK_TRADE_PLUGINS", plugins)
    monkeypatch.delenv("PEAK_TRADE_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("PEAK_TRADE_CONFIG_PATH", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))  # not the user's own config
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("PEAK_TRADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    reset_plugin_manager()
    yield
    reset_plugin_manager()


def live_environment(**overrides: Any) -> Any:
    """An environment with every live gate open and the live limits set: live execution is
    allowed (symbol ``BTC/EUR`` on exchange ``venue``). For tests of what happens *behind*
    the gates — a venue adapter, the guard — and, with one override, of each closed gate."""
    from attrs import evolve

    from peaktrade_core.environment import LIVE_CONFIRM_TOKEN, EnvironmentConfig, TradingMode

    env = EnvironmentConfig(
        mode=TradingMode.LIVE,
        enable_live_trading=True,
        live_mode_armed=True,
        live_dry_run_mode=False,
        confirm_token=LIVE_CONFIRM_TOKEN,
        max_live_notional_per_order=100_000.0,
        max_live_notional_total=1_000_000.0,
        live_allowed_symbols=("BTC/EUR",),
        exchange="venue",
        live_allowed_exchanges=("venue",),
    )
    return evolve(env, **overrides)


class FillingExecutor:
    """An executor for tests: fills every order at its price (limit, else reference) and
    remembers what reached it."""

    name = "filling"

    def __init__(self, sends_real_orders: bool = False):
        self.sends_real_orders = sends_real_orders
        self.received: list[Any] = []

    def execute_orders(self, orders: Any) -> list[Any]:
        from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderStatus

        self.received += orders
        return [
            OrderExecutionResult(o, OrderStatus.FILLED, fills=[OrderFill(o.client_order_id, o.symbol, o.side, o.quantity, o.price)])
            for o in orders
        ]

    def cancel_order(self, client_order_id: str) -> bool:
        return False


def initialised_store(data_dir: str | Path | None = None) -> Any:
    """The state store in ``data_dir`` (default ``$PEAK_TRADE_DATA_DIR``), initialised as
    ``peaktrade state init`` does: testnet and live sessions refuse any other store."""
    import os

    from peaktrade_core.state import StateStore, check_state, init_identity

    store = StateStore.in_dir(data_dir or os.environ["PEAK_TRADE_DATA_DIR"])
    if check_state(store).kind != "ok":
        init_identity(store, "test set-up", operator="tests")
    return store
#: how long the waiting helpers wait before the test fails: generous, since what must come
#: comes long before this on any machine, however loaded
WAIT_SECONDS = 60.0


def next_quote_where(feed: Any, predicate: Any, wait: float = WAIT_SECONDS) -> Any:
    """The feed's next quote for which ``predicate`` holds; the test fails if no quote at
    all comes within ``wait`` seconds (naming the feed's error, if it has one)."""
    while True:
        quote = feed.next_quote(timeout=wait)
        if quote is None:
            inner = getattr(feed, "inner", None)
            raise AssertionError(getattr(feed, "error", None) or getattr(inner, "last_error", None) or "no quote within the wait")
        if predicate(quote):
            return quote


def wait_until(condition: Any, wait: float = WAIT_SECONDS) -> None:
    """Return once ``condition()`` holds (looked at every 10 ms); the test fails after ``wait`` seconds."""
    import time

    deadline = time.monotonic() + wait
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {wait:g} s")
        time.sleep(0.01)


#: what a plugin's tests drive besides the plugin API (peaktrade_core.plugin_api): the
#: CLI, the state store, the kill switch, executor selection, the drill runner; loaded on
#: first access, like the plugin API
_TEST_API: dict[str, str] = {
    "cli": "peaktrade_core.cli",
    "StateStore": "peaktrade_core.state",
    "open_store_url": "peaktrade_core.store",
    "STATE_FILE": "peaktrade_core.state",
    "KillSwitch": "peaktrade_core.killswitch",
    "captured": "peaktrade_core.log",
    "load_config": "peaktrade_core.config",
    "structure_config": "peaktrade_core.config",
    "ExecutionConfig": "peaktrade_core.config",
    "create_order_executor": "peaktrade_core.executors",
    "GuardedExecutor": "peaktrade_core.executors",
    "NoExecutorError": "peaktrade_core.executors",
    "LiveDrillRunner": "peaktrade_core.drills",
    "build_alert_sink_from_config": "peaktrade_core.alerts",
    "deliver_alert": "peaktrade_core.alerts",
    "configure_logging": "peaktrade_core.log",
    "REDACTED": "peaktrade_core.secrets",
    "forget_secrets": "peaktrade_core.secrets",
    "find_chromium": "peaktrade_core.testing.browser",
    "open_in_browser": "peaktrade_core.testing.browser",
    "OperatorShell": "peaktrade_core.testing.operator",
    "install_plugin": "peaktrade_core.testing.operator",
    "LOOPBACK_TESTNET_CONFIG": "peaktrade_core.testing.operator",
    "ROUND_TRIP_ORDERS": "peaktrade_core.testing.operator",
    "seed_import_aliases": "peaktrade_core.testing.seeds",
    "seed_snippets": "peaktrade_core.testing.seeds",
}


__getattr__ = _lazy_attributes(__name__, _TEST_API)
