"""The ``dryrun`` plugin: the core's declared fallback executors for modes ``testnet`` and
``live`` whenever nothing is sent (a gate closed, no venue), and ``[plugins.dryrun]``.

The executor that sends to a venue is the core's own (``create_order_executor``); this plugin
only ever simulates. It prices orders from their ``reference_price``, else ``prices`` here
(or the session's simulated prices), else the venue's ticker (read-only) when a venue client
was built for the session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrs import field, frozen
from peaktrade_core.plugin_api import LIVE_DRY_RUN, EnvironmentConfig, TradingMode, logger

if TYPE_CHECKING:
    from peaktrade_core.plugin_api import ExecutorContext, OrderExecutor, PeakTradeConfig

SECTION = "dryrun"


def _positive_prices(_instance: object, _attribute: object, value: dict[str, float]) -> None:
    for symbol, price in value.items():
        if not price > 0.0:
            raise ValueError(f"price for {symbol!r} must be > 0, got {price!r}")


@frozen
class DryRunConfig:
    """``[plugins.dryrun]``: prices for orders without a ``reference_price``."""

    prices: dict[str, float] = field(factory=dict, validator=_positive_prices)
    #: how long a venue ticker price is reused, per symbol
    ticker_ttl_seconds: float = 10.0


def dryrun_config(config: PeakTradeConfig | None) -> DryRunConfig:
    """``[plugins.dryrun]`` of ``config`` (structured here if it was loaded without this plugin)."""
    from peaktrade_core.plugin_api import plugin_settings

    return plugin_settings(config, SECTION, DryRunConfig)


def config_sections() -> dict[str, type]:
    return {SECTION: DryRunConfig}


def select_executor(
    env: EnvironmentConfig, live_allowed: bool, context: ExecutorContext
) -> OrderExecutor | None:
    if env.mode not in (TradingMode.TESTNET, TradingMode.LIVE):
        return None
    from peaktrade_core.plugin_api import evaluate_gates, ticker_price

    from peaktrade_dryrun.executor import (  # here: the settings class is built at every start
        LiveOrderExecutor,
        TestnetOrderExecutor,
    )

    settings = dryrun_config(context.config)
    client = context.trading_client
    ticker = (lambda symbol: ticker_price(client, symbol)) if client is not None else None
    cls = TestnetOrderExecutor if env.mode is TradingMode.TESTNET else LiveOrderExecutor
    executor = cls(
        {**settings.prices, **context.simulated_prices},
        ticker=ticker,
        ticker_ttl_seconds=settings.ticker_ttl_seconds,
    )
    report = evaluate_gates(env, context.kill_switch())
    why = "no venue client (set [environment] exchange and install its plugin)" if report.sending_allowed else report.sending_reason
    logger.bind(tag=LIVE_DRY_RUN).warning("{} mode runs as dry run, nothing is sent: {}", env.mode.value, why)
    return executor
