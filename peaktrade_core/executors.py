"""Executor selection and the guard around anything that sends real orders (ORD-5).

``create_order_executor`` asks the ``select_executor`` hook; whatever a plugin returns, an
executor declaring ``sends_real_orders`` is wrapped in :class:`GuardedExecutor`, which
re-checks every gate immediately before each submit. No plugin can bypass it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from attrs import define, field

from peaktrade_core.environment import EnvironmentConfig, TradingMode
from peaktrade_core.gates import (
    RELEASED,
    KillSwitchState,
    LiveExecutionBlocked,
    SafetyGuard,
    is_live_execution_allowed,
)
from peaktrade_core.orders import (
    ExchangeClient,
    OrderExecutionResult,
    OrderExecutor,
    OrderRequest,
    OrderStatus,
)

if TYPE_CHECKING:
    from peaktrade_core.config import PeakTradeConfig
    from peaktrade_core.plugins import PluginManager

#: which plugin package provides executors for each mode (for the "install X" message)
EXECUTOR_PLUGINS = {
    TradingMode.PAPER: "peaktrade-paper",
    TradingMode.SHADOW: "peaktrade-paper",
    TradingMode.TESTNET: "peaktrade-dryrun",
    TradingMode.LIVE: "peaktrade-dryrun",
}


class NoExecutorError(Exception):
    """No installed plugin provides an executor for the mode."""


@define
class ExecutorContext:
    """What ``select_executor`` implementations get besides the environment."""

    config: PeakTradeConfig | None = None
    simulated_prices: Mapping[str, float] = field(factory=dict)
    #: the venue client; only ever given in testnet/live mode (research cannot reach live)
    trading_client: ExchangeClient | None = None
    kill_switch: Callable[[], KillSwitchState] = lambda: RELEASED


class GuardedExecutor:
    """Wraps an executor that sends real orders: the gates are re-checked before every
    single order is handed on. A gate closed after selection stops the order here."""

    sends_real_orders = True

    def __init__(self, inner: OrderExecutor, guard: SafetyGuard):
        self.inner = inner
        self.guard = guard
        self.name = f"guarded:{inner.name}"

    def execute_orders(self, orders: Sequence[OrderRequest]) -> list[OrderExecutionResult]:
        results = []
        for order in orders:
            try:
                self.guard.ensure_may_place_order(order)
            except LiveExecutionBlocked as exc:
                results.append(
                    OrderExecutionResult(order, OrderStatus.GATE_BLOCKED, reasons=exc.reasons, metadata={"blocked_by": "guard"})
                )
                continue
            results.extend(self.inner.execute_orders([order]))
        return results

    def cancel_order(self, client_order_id: str) -> bool:
        return self.inner.cancel_order(client_order_id)

    def __getattr__(self, name: str) -> Any:  # extra executor features (events, prices)
        return getattr(self.inner, name)


def create_order_executor(
    env: EnvironmentConfig,
    simulated_prices: Mapping[str, float] | None = None,
    trading_client: ExchangeClient | None = None,
    *,
    config: PeakTradeConfig | None = None,
    kill_switch: Callable[[], KillSwitchState] = lambda: RELEASED,
    plugin_manager: PluginManager | None = None,
) -> OrderExecutor:
    """The executor for ``env`` (seed 000 semantics): paper → paper, shadow → shadow,
    testnet → testnet dry-run, live → live dry-run unless every gate is open *and* a trading
    client is given, then the exchange executor (always behind the guard)."""
    from peaktrade_core.plugins import get_plugin_manager

    if env.mode in (TradingMode.PAPER, TradingMode.SHADOW) and trading_client is not None:
        raise ValueError(f"mode {env.mode.value!r} never gets a trading client (research cannot reach live)")
    pm = plugin_manager or get_plugin_manager()
    live_allowed, _reason = is_live_execution_allowed(env, kill_switch())
    context = ExecutorContext(config, dict(simulated_prices or {}), trading_client, kill_switch)
    executor = pm.select_executor(env, live_allowed, context)
    if executor is None:
        plugin = EXECUTOR_PLUGINS[env.mode]
        raise NoExecutorError(
            f"no executor for mode {env.mode.value!r}: install the plugin {plugin} (pip install {plugin})"
        )
    if getattr(executor, "sends_real_orders", True):  # undeclared = assume it sends
        executor = GuardedExecutor(executor, SafetyGuard(env, kill_switch))
    return executor
