"""Essential built-in plugin: the standard pre-trade risk limits over each batch."""

from __future__ import annotations

from collections.abc import Sequence

from peaktrade_core.environment import EnvironmentConfig
from peaktrade_core.hookspecs import hookimpl
from peaktrade_core.orders import OrderRequest
from peaktrade_core.risk import LiveRiskConfig, PortfolioState, RiskViolation


@hookimpl(tryfirst=True)
def check_risk(
    orders: Sequence[OrderRequest], portfolio: PortfolioState, limits: LiveRiskConfig, env: EnvironmentConfig
) -> list[RiskViolation]:
    from peaktrade_core.risk import LiveRiskLimits

    return LiveRiskLimits(limits, env).violations(orders, portfolio)
