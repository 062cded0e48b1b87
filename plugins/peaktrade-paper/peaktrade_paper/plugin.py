"""The ``paper`` plugin: executors for modes ``paper`` and ``shadow``, and ``[plugins.paper]``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from attrs import field, frozen
from peaktrade_core.plugin_api import EnvironmentConfig, TradingMode

from peaktrade_paper.checks import basis_points, positive_per_symbol

if TYPE_CHECKING:
    from peaktrade_core.plugin_api import ExecutorContext, OrderExecutor, PeakTradeConfig

    from peaktrade_paper.executor import PaperMarketContext

SECTION = "paper"


@frozen
class PaperConfig:
    """``[plugins.paper]``: the paper market model."""

    fee_bps: float = field(default=0.0, validator=basis_points)
    slippage_bps: float = field(default=0.0, validator=basis_points)
    #: default price per symbol; ``simulated_prices`` given to the session override them
    prices: dict[str, float] = field(factory=dict, validator=positive_per_symbol)
    #: most quantity one order fills per symbol; larger orders fill partially
    liquidity: dict[str, float] = field(factory=dict, validator=positive_per_symbol)

    def market(self, simulated_prices: Mapping[str, float] = {}) -> PaperMarketContext:  # noqa: B006 - read only
        from peaktrade_paper.executor import PaperMarketContext

        return PaperMarketContext(
            prices={**self.prices, **simulated_prices},
            fee_bps=self.fee_bps,
            slippage_bps=self.slippage_bps,
            liquidity=dict(self.liquidity),
        )


def paper_config(config: PeakTradeConfig | None) -> PaperConfig:
    """``[plugins.paper]`` of ``config`` (structured here if it was loaded without this plugin)."""
    from peaktrade_core.plugin_api import plugin_settings

    return plugin_settings(config, SECTION, PaperConfig)


def config_sections() -> dict[str, type]:
    return {SECTION: PaperConfig}


def select_executor(env: EnvironmentConfig, context: ExecutorContext) -> OrderExecutor | None:
    if env.mode not in (TradingMode.PAPER, TradingMode.SHADOW):
        return None
    from peaktrade_paper.executor import PaperOrderExecutor, ShadowOrderExecutor

    market = paper_config(context.config).market(context.simulated_prices)
    if env.mode is TradingMode.PAPER:
        return PaperOrderExecutor(market)
    return ShadowOrderExecutor(market)
