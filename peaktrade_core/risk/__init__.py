"""Pre-trade risk: the ``[live_risk]`` limits, violations, portfolio state (RISK-1, RISK-2).

Each part is called by the pipeline once per batch:

* :class:`LiveRiskLimits` (:mod:`.limits`) — the standard, stateless limits over a batch
  and a :class:`PortfolioState` (the essential built-in ``check_risk`` plugin);
  :func:`run_risk_checks` calls it and every plugin's ``check_risk``, failing closed;
* :class:`PreTradeControls` (:mod:`.controls`) — the stateful market-access controls of a
  session (order-rate throttle, duplicate orders, stale reference data, runaway throttle
  → kill switch);
* :class:`PortfolioState` (:mod:`.portfolio_state`) — positions and PnL;
  :meth:`PortfolioState.roll_day` starts a new calendar day for the daily loss limits;
* :class:`CapitalLimits` (:mod:`.capital`) — capital per strategy, the ramp-up by
  readiness stage and the open positions in live mode; always blocking;
* :class:`LiveRiskConfig` and :data:`RISK_PROFILES` (:mod:`.config`) — the settings.

Every name is importable from ``peaktrade_core.risk`` as before the split (each module
imported when one of its names is first used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from peaktrade_core import _lazy_attributes

# imported on first use: loading the config needs only ``.config``, not the limits
_SOURCES = {
    "CapitalLimits": "peaktrade_core.risk.capital",
    "RISK_PROFILES": "peaktrade_core.risk.config",
    "LiveRiskConfig": "peaktrade_core.risk.config",
    "SEEN_IDS_KEPT": "peaktrade_core.risk.controls",
    "PreTradeControls": "peaktrade_core.risk.controls",
    "ALWAYS_BLOCKING": "peaktrade_core.risk.limits",
    "LiveRiskCheckResult": "peaktrade_core.risk.limits",
    "LiveRiskLimits": "peaktrade_core.risk.limits",
    "RiskViolation": "peaktrade_core.risk.limits",
    "ViolationCode": "peaktrade_core.risk.limits",
    "blocked_orders": "peaktrade_core.risk.limits",
    "run_risk_checks": "peaktrade_core.risk.limits",
    "POSITION_EPSILON": "peaktrade_core.risk.portfolio_state",
    "NonFiniteAccountingError": "peaktrade_core.risk.portfolio_state",
    "PortfolioState": "peaktrade_core.risk.portfolio_state",
}
__getattr__ = _lazy_attributes(__name__, _SOURCES)

if TYPE_CHECKING:
    from peaktrade_core.risk.capital import CapitalLimits
    from peaktrade_core.risk.config import RISK_PROFILES, LiveRiskConfig
    from peaktrade_core.risk.controls import SEEN_IDS_KEPT, PreTradeControls
    from peaktrade_core.risk.limits import (
        ALWAYS_BLOCKING,
        LiveRiskCheckResult,
        LiveRiskLimits,
        RiskViolation,
        ViolationCode,
        blocked_orders,
        run_risk_checks,
    )
    from peaktrade_core.risk.portfolio_state import (
        POSITION_EPSILON,
        NonFiniteAccountingError,
        PortfolioState,
    )

__all__ = [
    "ALWAYS_BLOCKING",
    "POSITION_EPSILON",
    "RISK_PROFILES",
    "SEEN_IDS_KEPT",
    "CapitalLimits",
    "LiveRiskCheckResult",
    "LiveRiskConfig",
    "LiveRiskLimits",
    "NonFiniteAccountingError",
    "PortfolioState",
    "PreTradeControls",
    "RiskViolation",
    "ViolationCode",
    "blocked_orders",
    "run_risk_checks",
]
