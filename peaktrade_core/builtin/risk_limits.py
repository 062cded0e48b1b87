"""Essential built-in plugin: the standard pre-trade risk limits over each batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from peaktrade_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from collections.abc import Sequence

    from peaktrade_core.environment import EnvironmentConfig
    from peaktrade_core.orders import OrderRequest
    from peaktrade_core.risk import LiveRiskConfig, LiveRiskLimits, PortfolioState, RiskViolation

#: the limits of the last call: a session passes the same config objects with every batch,
#: so the precomputed limits are built once per session, not once per batch
_last: tuple[LiveRiskConfig, EnvironmentConfig, LiveRiskLimits] | None = None


@hookimpl(tryfirst=True)
def check_risk(
    orders: Sequence[OrderRequest],
    portfolio: PortfolioState,
    limits: LiveRiskConfig,
    env: EnvironmentConfig,
) -> list[RiskViolation]:
    global _last
    cached = _last
    if cached is not None and cached[0] is limits and cached[1] is env:
        checker = cached[2]
    else:
        from peaktrade_core.risk import LiveRiskLimits

        checker = LiveRiskLimits(limits, env)
        _last = (limits, env, checker)
    return checker.violations(orders, portfolio)
