"""Executor selection and the guard around anything that sends real orders (ORD-5).

``create_order_executor`` decides (docs/executors.md): the core's venue executor when a
venue client is given and the mode's gates allow sending, otherwise ``select_executor``
with the dry-run plugin as the declared fallback. Whatever is chosen, an executor declaring
``sends_real_orders`` is wrapped in :class:`GuardedExecutor`, which re-checks every gate
(and that the client fits the mode) immediately before each submit. No plugin can bypass it.
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
    evaluate_gates,
)
from peaktrade_core.orders import (
    ExchangeClient,
    OrderExecutionResult,
    OrderExecutor,
    OrderRequest,
    OrderStatus,
)
from peaktrade_core.venues import check_client_for_mode

if TYPE_CHECKING:
    from peaktrade_core.config import PeakTradeConfig
    from peaktrade_core.plugins import PluginManager

#: plugins asked by ``select_executor`` only when no other plugin answered (the core's
#: declared fallback: dry-run for testnet and live)
FALLBACK_EXECUTOR_PLUGINS = ("dryrun",)

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

    def cancel_order(self, client_order_id: str, symbol: str | None = None) -> bool:
        if symbol is None:
            return self.inner.cancel_order(client_order_id)
        return self.inner.cancel_order(client_order_id, symbol)

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
    """The executor for ``env``; the choice is the core's (docs/executors.md):

    1. testnet/live with a venue client and the mode's gates open: the core's
       :class:`ExchangeOrderExecutor` over the client, behind the guard;
    2. otherwise ``select_executor``, asked of every plugin but the declared fallback
       (``FALLBACK_EXECUTOR_PLUGINS``) first, then of the fallback (the dry-run plugin).

    A client that does not fit the mode (production in testnet, testnet in live) raises
    ``VenueError``; paper and shadow never take a client."""
    from peaktrade_core.plugins import get_plugin_manager

    if env.mode in (TradingMode.PAPER, TradingMode.SHADOW) and trading_client is not None:
        raise ValueError(f"mode {env.mode.value!r} never gets a trading client (research cannot reach live)")
    if trading_client is not None:
        check_client_for_mode(trading_client, env.mode)
    report = evaluate_gates(env, kill_switch())
    if trading_client is not None and report.sending_allowed:
        from peaktrade_core.exchange_executor import ExchangeOrderExecutor

        execution = config.execution if config is not None else None
        venue_executor = ExchangeOrderExecutor(
            trading_client,
            **(
                {
                    "max_retries": execution.max_retries,
                    "backoff_seconds": execution.retry_backoff_seconds,
                    "timeout_seconds": execution.submit_timeout_seconds,
                }
                if execution is not None
                else {}
            ),
        )
        return GuardedExecutor(venue_executor, SafetyGuard(env, kill_switch, trading_client))
    pm = plugin_manager or get_plugin_manager()
    context = ExecutorContext(config, dict(simulated_prices or {}), trading_client, kill_switch)
    executor = _select_executor(pm, env, report.sending_allowed, context)
    if executor is None:
        plugin = EXECUTOR_PLUGINS[env.mode]
        raise NoExecutorError(
            f"no executor for mode {env.mode.value!r}: install the plugin {plugin} (pip install {plugin})"
        )
    if getattr(executor, "sends_real_orders", True):  # undeclared = assume it sends
        executor = GuardedExecutor(executor, SafetyGuard(env, kill_switch, trading_client))
    return executor


def _select_executor(pm: PluginManager, env: EnvironmentConfig, allowed: bool, context: ExecutorContext) -> OrderExecutor | None:
    """``select_executor``, the fallback plugins asked last: a plugin's place in the
    registration order (its name) never decides whether it is asked. A plugin that raises is
    one line naming it (``PluginError``): the session does not start."""
    executor = pm.select_executor(env, allowed, context, exclude=FALLBACK_EXECUTOR_PLUGINS)
    for fallback in FALLBACK_EXECUTOR_PLUGINS:
        if executor is not None:
            break
        executor = pm.select_executor(env, allowed, context, only=fallback)
    return executor
