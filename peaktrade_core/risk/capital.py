"""The capital limits (seed 001): capital per strategy, the ramp-up by readiness stage, and
the number of open positions in live mode.

They are governance decisions (the rollout plan signed for a stage), so they are in force
whatever ``[live_risk] enabled`` and ``block_on_violation`` say, and every violation
blocks (:data:`~peaktrade_core.risk.limits.ALWAYS_BLOCKING`). The pipeline checks them
once per batch, after the standard limits, for the orders those let through.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from peaktrade_core.environment import EnvironmentConfig, TradingMode
from peaktrade_core.log import SAFETY, logger
from peaktrade_core.orders import OrderRequest, Side
from peaktrade_core.risk.config import LiveRiskConfig
from peaktrade_core.risk.limits import (
    LiveRiskCheckResult,
    RiskViolation,
    ViolationCode,
    _append,
    _money,
)
from peaktrade_core.risk.portfolio_state import POSITION_EPSILON, PortfolioState

if TYPE_CHECKING:
    from peaktrade_core.portfolio import LivePortfolioSnapshot
    from peaktrade_core.state import StateStore

#: the strategy of a session run from an orders file or a Python call
MANUAL_STRATEGY = "manual"


def ramp_up_limit(schedule: Mapping[str, float], stage: int | None) -> float:
    """The most capital at ``stage``: the entry of the highest listed stage at or below it;
    0 when none is (or the stage is unknown); ``inf`` without a schedule."""
    if not schedule:
        return math.inf
    if stage is None:
        return 0.0
    listed = [int(s) for s in schedule if int(s) <= stage]
    return schedule[str(max(listed))] if listed else 0.0


def strategy_pct(allocation: Mapping[str, float], strategy: str) -> float | None:
    """The percent of equity ``strategy`` may hold: its own entry, else ``*``, else none."""
    pct = allocation.get(strategy)
    return allocation.get("*") if pct is None else pct


def readiness_stage(store: StateStore) -> int | None:
    """The installation's readiness stage; ``None`` (the ramp-up then allows nothing) when
    the records cannot be read."""
    from peaktrade_core.readiness import current_stage

    try:
        return current_stage(store)
    except Exception as exc:  # noqa: BLE001 - an unreadable stage fails closed, not open
        logger.bind(tag=SAFETY).error("readiness stage unreadable ({}): the ramp-up allows no new exposure", exc)
        return None


class CapitalLimits:
    """The capital limits of one session: ``stage`` is the readiness stage in force,
    ``strategy`` the session's strategy name (as the run log records it).

    Batch-aware like :class:`~peaktrade_core.risk.limits.LiveRiskLimits`: an order that
    passes counts at once, at its price, for the orders after it; a blocked one does not.
    The exposure limits block only orders that raise the total exposure.
    """

    __slots__ = ("limits", "env", "stage", "strategy", "ramp_up", "strategy_pct", "base_pct", "live_positions", "active")

    def __init__(
        self,
        limits: LiveRiskConfig,
        env: EnvironmentConfig | None = None,
        *,
        stage: int | None = 0,
        strategy: str = MANUAL_STRATEGY,
    ):
        env = env if env is not None else EnvironmentConfig()
        self.limits, self.env, self.stage, self.strategy = limits, env, stage, strategy
        self.ramp_up = ramp_up_limit(limits.ramp_up_max_capital, stage)
        self.strategy_pct = strategy_pct(limits.max_capital_pct_per_strategy, strategy)
        live = env.mode == TradingMode.LIVE  # live dry-run too: rehearsals see live limits
        cap = limits.max_open_positions_live
        self.live_positions = cap if live and cap is not None else math.inf
        self.active = self.ramp_up != math.inf or self.strategy_pct is not None or self.live_positions != math.inf

    @classmethod
    def for_session(
        cls, limits: LiveRiskConfig, env: EnvironmentConfig, store: StateStore, strategy: str = MANUAL_STRATEGY
    ) -> CapitalLimits:
        """The limits with the stage read from ``store`` (only when a ramp-up is set)."""
        stage = readiness_stage(store) if limits.ramp_up_max_capital else 0
        return cls(limits, env, stage=stage, strategy=strategy)

    def for_strategy(self, strategy: str) -> CapitalLimits:
        return CapitalLimits(self.limits, self.env, stage=self.stage, strategy=strategy)

    def in_force(self) -> dict[str, Any]:
        """What the run log records and ``status`` shows: the limits at this stage."""
        return {
            "stage": self.stage,
            "strategy": self.strategy,
            "ramp_up_max_capital": None if self.ramp_up == math.inf else self.ramp_up,
            "max_capital_pct_per_strategy": self.strategy_pct,
            "max_open_positions_live": None if self.live_positions == math.inf else self.live_positions,
        }

    def capital_limit(self, portfolio: PortfolioState) -> float:
        """The strategy's capital in money: its percent of the day's starting equity (no
        equity: nothing)."""
        if self.strategy_pct is None:
            return math.inf
        base = portfolio.day_start_equity or portfolio.starting_equity
        return max(base, 0.0) * self.strategy_pct / 100.0

    def violations(
        self, orders: Sequence[OrderRequest], portfolio: PortfolioState, skip: Container[int] = ()
    ) -> list[RiskViolation]:
        """The violations of the batch; orders at indices in ``skip`` (blocked already) are
        neither checked nor counted."""
        out: list[RiskViolation] = []
        if not self.active or not orders:
            return out
        ramp_up, live_positions = self.ramp_up, self.live_positions
        capital = self.capital_limit(portfolio)
        checks_exposure = ramp_up != math.inf or capital != math.inf
        positions, last_prices = portfolio.positions, portfolio.last_prices
        # per symbol touched: [quantity, exposure, price] after the orders let through so far
        projected: dict[str, list[Any]] = {}
        total = portfolio.total_exposure() if checks_exposure else 0.0
        open_count = portfolio.open_positions()
        stage = self.stage
        for i, order in enumerate(orders):
            if skip and i in skip:
                continue
            symbol = order.symbol
            state = projected.get(symbol)
            if state is None:
                state = projected[symbol] = [positions.get(symbol, 0.0), portfolio.exposure(symbol), last_prices.get(symbol)]
            q0 = state[0]
            price = order.limit_price if order.limit_price is not None else order.reference_price
            if price is None:
                price = state[2]
            q1 = q0 + order.quantity if order.side is Side.BUY else q0 - order.quantity
            if -POSITION_EPSILON < q1 < POSITION_EPSILON:
                q1 = 0.0
            found: list[RiskViolation] | None = None
            e1 = total1 = 0.0
            if checks_exposure:
                if price is None:
                    code = ViolationCode.RAMP_UP_CAPITAL if ramp_up != math.inf else ViolationCode.STRATEGY_CAPITAL
                    found = _append(found, code, i, symbol, None, None,
                                    f"no price for {symbol}: the capital limit cannot be checked")
                else:
                    e1 = abs(q1) * price
                    total1 = total - state[1] + e1
                    if total1 > total and total1 > ramp_up:
                        found = _append(
                            found, ViolationCode.RAMP_UP_CAPITAL, i, symbol, ramp_up, total1,
                            f"exposure after order {_money(total1)} > ramp-up limit {_money(ramp_up)} "
                            f"at readiness stage {'unknown' if stage is None else stage}",
                        )
                    if total1 > total and total1 > capital:
                        found = _append(
                            found, ViolationCode.STRATEGY_CAPITAL, i, symbol, capital, total1,
                            f"exposure after order {_money(total1)} > {self.strategy_pct:g}% of equity "
                            f"({_money(capital)}) allotted to strategy {self.strategy}",
                        )
            opens = not q0 and q1
            if opens and open_count + 1 > live_positions:
                found = _append(
                    found, ViolationCode.LIVE_OPEN_POSITIONS, i, symbol, live_positions, open_count + 1,
                    f"live open positions after order {open_count + 1} > limit {live_positions:g}",
                )
            if found is not None:
                out += found
                continue  # always blocking: never counts for the orders after it
            state[0] = q1
            if price is not None:
                state[2] = price
                if checks_exposure:
                    state[1] = e1
                    total = total1
            if opens:
                open_count += 1
            elif q0 and not q1:
                open_count -= 1
        return out

    def evaluate_portfolio(self, snapshot: LivePortfolioSnapshot, result: LiveRiskCheckResult) -> LiveRiskCheckResult:
        """``result`` (the standard portfolio check) with the ramp-up and the live open
        positions added: what ``peaktrade portfolio`` shows. A capital violation makes the
        portfolio not allowed, whatever ``block_on_violation`` says."""
        found: list[RiskViolation] = []
        total = snapshot.total_exposure
        if total > self.ramp_up:
            found = _append(found, ViolationCode.RAMP_UP_CAPITAL, None, None, self.ramp_up, total,
                            f"exposure {_money(total)} > ramp-up limit {_money(self.ramp_up)} at readiness stage "
                            f"{'unknown' if self.stage is None else self.stage}")
        if snapshot.open_positions > self.live_positions:
            found = _append(found, ViolationCode.LIVE_OPEN_POSITIONS, None, None, self.live_positions, snapshot.open_positions,
                            f"live open positions {snapshot.open_positions} > limit {self.live_positions:g}")
        if not found:
            return result
        return LiveRiskCheckResult(allowed=False, violations=(*result.violations, *found), limits=result.limits)
