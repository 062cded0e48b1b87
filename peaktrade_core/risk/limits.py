"""The standard limits: violation codes, :class:`LiveRiskLimits` over a batch and a
portfolio, and the ``check_risk`` hook call that runs them with every plugin's checks."""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from attrs import frozen

from peaktrade_core.environment import EnvironmentConfig, TradingMode
from peaktrade_core.orders import OrderRequest, OrderType, Side
from peaktrade_core.risk.config import LiveRiskConfig, risk_zone
from peaktrade_core.risk.portfolio_state import POSITION_EPSILON, PortfolioState

if TYPE_CHECKING:
    from peaktrade_core.plugins import PluginManager
    from peaktrade_core.portfolio import LivePortfolioSnapshot


class ViolationCode(enum.StrEnum):
    ORDER_NOTIONAL = "max_order_notional"
    MIN_ORDER_NOTIONAL = "min_order_notional"
    SYMBOL_EXPOSURE = "max_symbol_exposure_notional"
    TOTAL_EXPOSURE = "max_total_exposure_notional"
    OPEN_POSITIONS = "max_open_positions"
    DAILY_LOSS_ABS = "max_daily_loss_abs"
    DAILY_LOSS_PCT = "max_daily_loss_pct"
    LIVE_ORDER_NOTIONAL = "max_live_notional_per_order"
    LIVE_TOTAL_NOTIONAL = "max_live_notional_total"
    LIVE_MIN_SIZE = "live_trade_min_size"
    NO_PRICE = "no_reference_price"
    PRICE_COLLAR = "price_collar"
    MAX_QUANTITY = "max_order_quantity"
    RATE_PER_SECOND = "max_orders_per_second"
    RATE_PER_MINUTE = "max_orders_per_minute"
    DUPLICATE = "duplicate_order"
    STALE_REFERENCE = "stale_reference_price"
    RUNAWAY = "runaway_throttle"
    NON_FINITE = "non_finite_number"
    PLUGIN = "plugin_failed"
    # capital limits (risk.capital)
    RAMP_UP_CAPITAL = "ramp_up_max_capital"
    STRATEGY_CAPITAL = "max_capital_pct_per_strategy"
    LIVE_OPEN_POSITIONS = "max_open_positions_live"


#: violations that block whatever ``block_on_violation`` says: a failed plugin (fail
#: closed), the runaway throttle (a kill-switch control), numbers accounting cannot hold,
#: and the capital limits (a rollout decision, not a warning)
ALWAYS_BLOCKING = frozenset(
    {
        ViolationCode.PLUGIN.value,
        ViolationCode.RUNAWAY.value,
        ViolationCode.NON_FINITE.value,
        ViolationCode.RAMP_UP_CAPITAL.value,
        ViolationCode.STRATEGY_CAPITAL.value,
        ViolationCode.LIVE_OPEN_POSITIONS.value,
    }
)

@frozen
class RiskViolation:
    """One broken limit. ``order_index`` is the order's index in its batch (``None``: the
    whole batch, e.g. a daily loss limit or a failed plugin)."""

    code: str
    message: str
    order_index: int | None = None
    symbol: str | None = None
    limit: float | None = None
    value: float | None = None
    plugin: str = ""


@frozen
class LiveRiskCheckResult:
    allowed: bool
    violations: tuple[RiskViolation, ...] = ()
    limits: LiveRiskConfig | None = None

    def for_order(self, index: int) -> list[RiskViolation]:
        return [v for v in self.violations if v.order_index is None or v.order_index == index]


# -- standard limits ------------------------------------------------------------------------


def _tightest(*values: float | None) -> float:
    """The smallest configured ceiling; ``inf`` when none is configured."""
    configured = [v for v in values if v is not None]
    return min(configured) if configured else math.inf


def _money(x: float) -> str:
    return f"{x:.2f}"


class LiveRiskLimits:
    """The standard pre-trade limits (RISK-2) over a batch of orders.

    Batch-aware: an order that passes counts at once against exposure, open positions and
    the live total for the orders after it, as if filled at its price; a blocked order does
    not (with ``block_on_violation = false`` nothing is blocked, so every order counts).
    Exposure limits block only orders that raise the exposure they measure, so an order that
    reduces a position over its limit still passes.

    ``limits.enabled = false`` switches off every ``[live_risk]`` limit; the live limits of
    ``[environment]`` stay in force in live mode (the live gates demand them).
    """

    __slots__ = (
        "limits",
        "env",
        "zone",
        "block",
        "max_order",
        "min_order",
        "max_symbol",
        "max_total",
        "max_positions",
        "daily_abs",
        "daily_pct",
        "collar",
        "max_quantity",
        "default_max_quantity",
        "live_order",
        "live_total",
        "live_min",
        "needs_price",
        "tracks_exposure",
    )

    def __init__(self, limits: LiveRiskConfig, env: EnvironmentConfig | None = None):
        env = env if env is not None else EnvironmentConfig()
        self.limits = limits
        self.env = env
        self.zone = risk_zone(limits.timezone)
        self.block = limits.block_on_violation
        on = limits.enabled
        own = limits if on else LiveRiskConfig(enabled=False)
        # unset ceilings become inf and unset floors 0, so the loop compares without branching
        self.max_order = _tightest(own.max_order_notional)
        self.min_order = own.min_order_notional or 0.0
        self.max_symbol = _tightest(own.max_symbol_exposure_notional)
        self.max_total = _tightest(own.max_total_exposure_notional)
        self.max_positions = _tightest(own.max_open_positions)
        self.daily_abs = _tightest(own.max_daily_loss_abs)
        self.daily_pct = _tightest(own.max_daily_loss_pct)
        self.collar = own.price_collar_pct / 100.0 if on else 0.0
        self.max_quantity = {k: v for k, v in own.max_order_quantity.items() if k != "*" and v > 0}
        star = own.max_order_quantity.get("*")
        self.default_max_quantity = star if star else math.inf
        live = env.mode == TradingMode.LIVE  # live dry-run too: rehearsals see live limits
        self.live_order = (
            _tightest(env.max_live_notional_per_order, own.max_live_notional_per_order)
            if live
            else math.inf
        )
        self.live_total = (
            _tightest(env.max_live_notional_total, own.max_live_notional_total)
            if live
            else math.inf
        )
        self.live_min = (
            max(env.live_trade_min_size or 0.0, own.live_trade_min_size or 0.0) if live else 0.0
        )
        self.tracks_exposure = any(
            v != math.inf for v in (self.max_symbol, self.max_total, self.live_total)
        )
        self.needs_price = (
            self.tracks_exposure
            or any(v != math.inf for v in (self.max_order, self.live_order))
            or self.min_order > 0
            or self.live_min > 0
        )

    # -- per batch --------------------------------------------------------------------------

    def violations(
        self, orders: Sequence[OrderRequest], portfolio: PortfolioState
    ) -> list[RiskViolation]:
        """Every standard-limit violation of the batch, in order (the fast path)."""
        out: list[RiskViolation] = []
        if not orders:
            return out
        max_order, min_order = self.max_order, self.min_order
        live_order, live_min = self.live_order, self.live_min
        max_symbol, max_total, live_total = self.max_symbol, self.max_total, self.live_total
        max_positions, collar = self.max_positions, self.collar
        max_quantity, default_max_quantity = self.max_quantity, self.default_max_quantity
        needs_price, tracks_exposure = self.needs_price, self.tracks_exposure
        commit_blocked = not self.block
        positions, last_prices = portfolio.positions, portfolio.last_prices
        exposure_of = portfolio.exposure
        # per symbol touched: [quantity, exposure, price] after the accepted orders so far
        projected: dict[str, list[Any]] = {}
        total = portfolio.total_exposure() if tracks_exposure else 0.0
        open_count = portfolio.open_positions()
        daily_breaches = self._daily_loss_breaches(portfolio)
        buy, limit_type, eps = Side.BUY, OrderType.LIMIT, POSITION_EPSILON

        for i, order in enumerate(orders):
            symbol = order.symbol
            quantity = order.quantity
            found: list[RiskViolation] | None = None
            limit_price = order.limit_price
            reference = order.reference_price
            state = projected.get(symbol)
            if state is None:
                state = projected[symbol] = [
                    positions.get(symbol, 0.0),
                    exposure_of(symbol),
                    last_prices.get(symbol),
                ]
            q0 = state[0]
            price = limit_price if limit_price is not None else reference
            if price is None:
                price = state[2]
            q1 = q0 + quantity if order.side is buy else q0 - quantity
            if -eps < q1 < eps:
                q1 = 0.0

            if quantity > max_quantity.get(symbol, default_max_quantity):
                found = _append(
                    found,
                    ViolationCode.MAX_QUANTITY,
                    i,
                    symbol,
                    max_quantity.get(symbol, default_max_quantity),
                    quantity,
                    f"quantity {quantity:g} > limit {max_quantity.get(symbol, default_max_quantity):g} for {symbol}",
                )
            if (
                collar
                and limit_price is not None
                and reference is not None
                and order.order_type is limit_type
            ):
                deviation = abs(limit_price - reference) / reference
                if deviation > collar:
                    found = _append(
                        found,
                        ViolationCode.PRICE_COLLAR,
                        i,
                        symbol,
                        collar * 100,
                        deviation * 100,
                        f"limit price {limit_price:g} is {deviation * 100:.2f}% from reference "
                        f"{reference:g} > collar {collar * 100:.2f}%",
                    )
            if daily_breaches and not (q0 and q0 * q1 >= 0 and abs(q1) <= abs(q0)):
                for code, limit, value, text in daily_breaches:
                    found = _append(found, code, i, symbol, limit, value, text)

            e0 = e1 = total1 = 0.0
            if price is None:
                if needs_price:
                    found = _append(
                        found,
                        ViolationCode.NO_PRICE,
                        i,
                        symbol,
                        None,
                        None,
                        f"no price for {symbol} (no limit price, reference price or last "
                        "price): notional limits cannot be checked",
                    )
            else:
                notional = quantity * price
                if notional > max_order:
                    found = _append(
                        found,
                        ViolationCode.ORDER_NOTIONAL,
                        i,
                        symbol,
                        max_order,
                        notional,
                        f"order notional {_money(notional)} > limit {_money(max_order)}",
                    )
                if notional < min_order:
                    found = _append(
                        found,
                        ViolationCode.MIN_ORDER_NOTIONAL,
                        i,
                        symbol,
                        min_order,
                        notional,
                        f"order notional {_money(notional)} < limit {_money(min_order)}",
                    )
                if notional > live_order:
                    found = _append(
                        found,
                        ViolationCode.LIVE_ORDER_NOTIONAL,
                        i,
                        symbol,
                        live_order,
                        notional,
                        f"live order notional {_money(notional)} > limit {_money(live_order)}",
                    )
                if notional < live_min:
                    found = _append(
                        found,
                        ViolationCode.LIVE_MIN_SIZE,
                        i,
                        symbol,
                        live_min,
                        notional,
                        f"live order notional {_money(notional)} < minimum size {_money(live_min)}",
                    )
                if tracks_exposure:
                    e0 = state[1]
                    e1 = abs(q1) * price
                    total1 = total - e0 + e1
                    if e1 > max_symbol and e1 > e0:
                        found = _append(
                            found,
                            ViolationCode.SYMBOL_EXPOSURE,
                            i,
                            symbol,
                            max_symbol,
                            e1,
                            f"{symbol} exposure after order {_money(e1)} > limit {_money(max_symbol)}",
                        )
                    if total1 > total:
                        if total1 > max_total:
                            found = _append(
                                found,
                                ViolationCode.TOTAL_EXPOSURE,
                                i,
                                symbol,
                                max_total,
                                total1,
                                f"total exposure after order {_money(total1)} > limit {_money(max_total)}",
                            )
                        if total1 > live_total:
                            found = _append(
                                found,
                                ViolationCode.LIVE_TOTAL_NOTIONAL,
                                i,
                                symbol,
                                live_total,
                                total1,
                                f"live total notional after order {_money(total1)} > limit "
                                f"{_money(live_total)}",
                            )
            opens = not q0 and q1
            if opens and open_count + 1 > max_positions:
                found = _append(
                    found,
                    ViolationCode.OPEN_POSITIONS,
                    i,
                    symbol,
                    max_positions,
                    open_count + 1,
                    f"open positions after order {open_count + 1} > limit {max_positions:g}",
                )

            if found is not None:
                out += found
                if not commit_blocked:
                    continue
            state[0] = q1
            if price is not None:
                state[2] = price
                if tracks_exposure:
                    state[1] = e1
                    total = total1
            if opens:
                open_count += 1
            elif q0 and not q1:
                open_count -= 1
        return out

    def _daily_loss_breaches(
        self, portfolio: PortfolioState
    ) -> list[tuple[ViolationCode, float, float, str]]:
        """The daily loss limits broken before this batch: ``(code, limit, value, text)``."""
        if self.daily_abs == math.inf and self.daily_pct == math.inf:
            return []
        base = portfolio.day_start_equity or portfolio.starting_equity
        return self._loss_breaches(-portfolio.daily_pnl(), base)

    def _loss_breaches(
        self, loss: float, base: float
    ) -> list[tuple[ViolationCode, float, float, str]]:
        """``base`` is the day's starting equity; without one (<= 0) the percentage is not
        checked and the absolute limit must carry the day."""
        breaches = []
        if loss > self.daily_abs:
            breaches.append(
                (
                    ViolationCode.DAILY_LOSS_ABS,
                    self.daily_abs,
                    loss,
                    f"daily loss {_money(loss)} > limit {_money(self.daily_abs)}",
                )
            )
        if base > 0 and loss / base * 100 > self.daily_pct:
            pct = loss / base * 100
            breaches.append(
                (
                    ViolationCode.DAILY_LOSS_PCT,
                    self.daily_pct,
                    pct,
                    f"daily loss {pct:.2f}% of {_money(base)} > limit {self.daily_pct:.2f}%",
                )
            )
        return breaches

    def check_orders(
        self, orders: Sequence[OrderRequest], portfolio: PortfolioState
    ) -> LiveRiskCheckResult:
        """The seed's API: violations plus the verdict (``block_on_violation`` decides)."""
        found = self.violations(orders, portfolio)
        return LiveRiskCheckResult(
            allowed=not (found and self.block), violations=tuple(found), limits=self.limits
        )

    def roll_day(self, portfolio: PortfolioState, now: float | None = None) -> bool:
        """Start a new calendar day in ``limits.timezone`` if one began (see
        :meth:`PortfolioState.roll_day`)."""
        return portfolio.roll_day(time.time() if now is None else now, self.zone)

    # -- portfolio level ---------------------------------------------------------------------

    def evaluate_portfolio(self, snapshot: LivePortfolioSnapshot) -> LiveRiskCheckResult:
        """Check a portfolio against the portfolio-level limits: exposure per symbol and in
        total (and the live total in live mode), open positions, daily loss. A number that is
        not finite (NaN, infinity) is a violation of its own: such a portfolio is never
        "within the limits"."""
        found: list[RiskViolation] = []
        add = _append
        bad = [f"{name} = {value}" for name, value in _snapshot_numbers(snapshot) if not math.isfinite(value)]
        if bad:
            found = add(
                found,
                ViolationCode.NON_FINITE,
                None,
                None,
                None,
                None,
                f"not finite: {', '.join(bad)}; such numbers cannot be checked against any limit",
            )
        for position in snapshot.positions:
            if position.notional is None:
                if self.tracks_exposure:
                    found = add(
                        found,
                        ViolationCode.NO_PRICE,
                        None,
                        position.symbol,
                        None,
                        None,
                        f"no price for {position.symbol}: its exposure cannot be checked",
                    )
                continue
            if position.notional > self.max_symbol:
                found = add(
                    found,
                    ViolationCode.SYMBOL_EXPOSURE,
                    None,
                    position.symbol,
                    self.max_symbol,
                    position.notional,
                    f"{position.symbol} exposure {_money(position.notional)} > limit {_money(self.max_symbol)}",
                )
        total = snapshot.total_exposure
        if total > self.max_total:
            found = add(
                found,
                ViolationCode.TOTAL_EXPOSURE,
                None,
                None,
                self.max_total,
                total,
                f"total exposure {_money(total)} > limit {_money(self.max_total)}",
            )
        if total > self.live_total:
            found = add(
                found,
                ViolationCode.LIVE_TOTAL_NOTIONAL,
                None,
                None,
                self.live_total,
                total,
                f"live total notional {_money(total)} > limit {_money(self.live_total)}",
            )
        if snapshot.open_positions > self.max_positions:
            found = add(
                found,
                ViolationCode.OPEN_POSITIONS,
                None,
                None,
                self.max_positions,
                snapshot.open_positions,
                f"open positions {snapshot.open_positions} > limit {self.max_positions:g}",
            )
        if snapshot.daily_pnl is not None:
            base = snapshot.day_start_equity or snapshot.equity - snapshot.daily_pnl
            for code, limit, value, text in self._loss_breaches(-snapshot.daily_pnl, base):
                found = add(found, code, None, None, limit, value, text)
        return LiveRiskCheckResult(
            allowed=not (found and self.block), violations=tuple(found), limits=self.limits
        )


def _snapshot_numbers(snapshot: LivePortfolioSnapshot) -> list[tuple[str, float]]:
    numbers = [("cash", snapshot.cash)]
    for name in ("realized_pnl", "daily_pnl", "day_start_equity"):
        value = getattr(snapshot, name)
        if value is not None:
            numbers.append((name, value))
    for p in snapshot.positions:
        numbers.append((f"{p.symbol} size", p.size))
        if p.mark_price is not None:
            numbers.append((f"{p.symbol} mark price", p.mark_price))
        if p.average_price is not None:
            numbers.append((f"{p.symbol} average price", p.average_price))
    numbers.append(("equity", snapshot.equity))
    numbers.append(("total exposure", snapshot.total_exposure))
    return numbers


def blocked_orders(
    violations: Sequence[RiskViolation], block_on_violation: bool
) -> tuple[bool, set[int]]:
    """``(whole batch blocked, indices of blocked orders)``. A failed plugin, the runaway
    throttle and non-finite numbers always block (:data:`ALWAYS_BLOCKING`); other
    violations block only with ``block_on_violation``."""
    whole = False
    indices: set[int] = set()
    for v in violations:
        if not block_on_violation and v.code not in ALWAYS_BLOCKING:
            continue
        if v.order_index is None:
            whole = True
        else:
            indices.add(v.order_index)
    return whole, indices


def run_risk_checks(
    orders: Sequence[OrderRequest],
    portfolio: PortfolioState,
    limits: LiveRiskConfig,
    env: EnvironmentConfig,
    timeout: float | None = 2.0,
    plugin_manager: PluginManager | None = None,
) -> list[RiskViolation]:
    """Call every ``check_risk`` implementation (the built-in limits and each plugin) on
    the batch; each violation carries the plugin that found it. An implementation that
    raises, times out or returns something other than violations for this batch adds a
    ``plugin_failed`` violation for the whole batch, naming it."""
    if plugin_manager is None:  # imported only then: a session passes its own, every batch
        from peaktrade_core.plugins import get_plugin_manager

        plugin_manager = get_plugin_manager()
    return plugin_manager.check_risk(orders, portfolio, limits, env, timeout)


def _violation(
    code: ViolationCode,
    index: int | None,
    symbol: str | None,
    limit: float | None,
    value: float | None,
    text: str,
) -> RiskViolation:
    message = text if text.startswith(code.value) else f"{code.value}: {text}"
    return RiskViolation(
        code=code.value,
        message=message,
        order_index=index,
        symbol=symbol,
        limit=None if limit is None else float(limit),
        value=None if value is None else float(value),
    )


def _append(
    found: list[RiskViolation] | None,
    code: ViolationCode,
    index: int | None,
    symbol: str | None,
    limit: float | None,
    value: float | None,
    text: str,
) -> list[RiskViolation]:
    """Add one violation (the slow path: only here are objects built)."""
    violation = _violation(code, index, symbol, limit, value, text)
    if found is None:
        return [violation]
    found.append(violation)
    return found
