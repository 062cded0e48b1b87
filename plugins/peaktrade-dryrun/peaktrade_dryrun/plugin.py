"""The ``dryrun`` plugin: executors for modes ``testnet`` and ``live``.

``live`` gets the exchange executor only when every gate is open and a trading client is
given; the core then puts its guard in front of it (it declares ``sends_real_orders``).
Otherwise ``live`` runs in dry-run and says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from peaktrade_core.plugin_api import (
    LIVE_DRY_RUN,
    EnvironmentConfig,
    TradingMode,
    is_live_execution_allowed,
    logger,
)

from peaktrade_dryrun.executor import LiveOrderExecutor, TestnetOrderExecutor

if TYPE_CHECKING:
    from peaktrade_core.plugin_api import ExecutorContext, OrderExecutor


def select_executor(
    env: EnvironmentConfig, live_allowed: bool, context: ExecutorContext
) -> OrderExecutor | None:
    if env.mode is TradingMode.TESTNET:
        return TestnetOrderExecutor(context.simulated_prices)
    if env.mode is not TradingMode.LIVE:
        return None
    if live_allowed and context.trading_client is not None:
        from peaktrade_core.plugin_api import ExchangeOrderExecutor

        if context.config is None:
            return ExchangeOrderExecutor(context.trading_client)
        execution = context.config.execution
        return ExchangeOrderExecutor(
            context.trading_client,
            max_retries=execution.max_retries,
            backoff_seconds=execution.retry_backoff_seconds,
            timeout_seconds=execution.submit_timeout_seconds,
        )
    why = (
        "no trading client given"
        if live_allowed
        else is_live_execution_allowed(env, context.kill_switch())[1]
    )
    logger.bind(tag=LIVE_DRY_RUN).warning("live mode runs as dry run, nothing is sent: {}", why)
    return LiveOrderExecutor(context.simulated_prices)
