"""Pre-trade risk: the ``[live_risk]`` limits, violations, portfolio state (RISK-1, RISK-2).

Three parts, each called by the pipeline once per batch:

* :class:`LiveRiskLimits` — the standard, stateless limits over a batch and a
  :class:`PortfolioState` (the essential built-in ``check_risk`` plugin);
  :func:`run_risk_checks` calls it and every plugin's ``check_risk``, failing closed;
* :class:`PreTradeControls` — the stateful market-access controls of a session (order-rate
  throttle, duplicate orders, stale reference data, runaway throttle → kill switch);
* :meth:`PortfolioState.roll_day` — starts a new calendar day for the daily loss limits.
"""

from __future__ import annotations

import enum
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Container, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import define, field, frozen
from attrs.validators import ge, gt, optional

from peaktrade_core.environment import EnvironmentConfig, TradingMode
from peaktrade_core.log import SAFETY, logger
from peaktrade_core.orders import OrderRequest, OrderType, Side

if TYPE_CHECKING:
    from peaktrade_core.killswitch import KillSwitch
    from peaktrade_core.plugins import PluginManager
    from peaktrade_core.portfolio import LivePortfolioSnapshot

_amount = optional(ge(0.0))

#: client order ids remembered per session for the duplicate check (the most recent ones)
SEEN_IDS_KEPT = 200_000

#: a position smaller than this is closed (float residue of partial fills)
POSITION_EPSILON = 1e-12


def _known_zone(_instance: Any, _attribute: Any, value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'timezone: unknown time zone "{value}"; give an IANA name such as "Europe/Berlin"'
        ) from None


@frozen
class LiveRiskConfig:
    """``[live_risk]``. A limit left unset (absent) is not checked; ``enabled=false`` turns
    every standard limit off. The further controls have safe defaults and are off only when
    set to 0 / false explicitly."""

    enabled: bool = True
    max_daily_loss_abs: float | None = field(default=None, validator=_amount)
    max_daily_loss_pct: float | None = field(default=None, validator=optional([ge(0.0)]))
    max_total_exposure_notional: float | None = field(default=None, validator=_amount)
    max_symbol_exposure_notional: float | None = field(default=None, validator=_amount)
    max_open_positions: int | None = field(default=None, validator=optional(ge(0)))
    max_order_notional: float | None = field(default=None, validator=_amount)
    min_order_notional: float | None = field(default=None, validator=_amount)
    block_on_violation: bool = True
    #: accepted for seed compatibility; daily PnL always comes from the pipeline's portfolio
    use_experiments_for_daily_pnl: bool = False
    #: calendar day for daily loss, as an IANA zone name
    timezone: str = field(default="UTC", validator=_known_zone)
    #: live limits (seed 000 names them here as well as in [environment]); in live mode the
    #: tighter of the two applies
    max_live_notional_per_order: float | None = field(default=None, validator=_amount)
    max_live_notional_total: float | None = field(default=None, validator=_amount)
    live_trade_min_size: float | None = field(default=None, validator=_amount)
    #: further controls (issue: market-access pre-trade checks)
    price_collar_pct: float = field(default=10.0, validator=ge(0.0))
    max_order_quantity: Mapping[str, float] = field(factory=dict)
    max_orders_per_second: int = field(default=50, validator=ge(0))
    max_orders_per_minute: int = field(default=1000, validator=ge(0))
    duplicate_window_seconds: float = field(default=2.0, validator=ge(0.0))
    runaway_max_executions: int = field(default=500, validator=ge(0))
    runaway_window_seconds: float = field(default=10.0, validator=gt(0.0))
    max_reference_age_seconds: float = field(default=0.0, validator=ge(0.0))
    #: the risk profile this section started from
    profile: str | None = None


#: Risk presets (ENV-4): a config selects one with ``profile = "conservative"`` and may
#: override any key beside it.
RISK_PROFILES: dict[str, dict[str, Any]] = {
    "conservative": {
        "max_daily_loss_pct": 1.0,
        "max_order_notional": 500.0,
        "max_symbol_exposure_notional": 2_000.0,
        "max_total_exposure_notional": 5_000.0,
        "max_open_positions": 3,
    },
    "moderate": {
        "max_daily_loss_pct": 3.0,
        "max_order_notional": 2_000.0,
        "max_symbol_exposure_notional": 10_000.0,
        "max_total_exposure_notional": 25_000.0,
        "max_open_positions": 8,
    },
    "aggressive": {
        "max_daily_loss_pct": 6.0,
        "max_order_notional": 10_000.0,
        "max_symbol_exposure_notional": 50_000.0,
        "max_total_exposure_notional": 150_000.0,
        "max_open_positions": 20,
    },
}


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


#: violations that block whatever ``block_on_violation`` says: a failed plugin (fail
#: closed), the runaway throttle (a kill-switch control) and numbers accounting cannot hold
ALWAYS_BLOCKING = frozenset({ViolationCode.PLUGIN.value, ViolationCode.RUNAWAY.value, ViolationCode.NON_FINITE.value})


class NonFiniteAccountingError(ValueError):
    """A fill whose cash or position arithmetic would leave the finite numbers (NaN, inf)."""


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


@define(slots=True)
class PortfolioState:
    """Positions and PnL as the pipeline tracks them. Mutable: updated on every fill.

    Exposure and equity are marked at ``last_prices`` (the last fill or price update of a
    symbol), else at the average entry price. Fees count as realized loss.
    """

    cash: float = 0.0
    starting_equity: float = 0.0
    positions: dict[str, float] = field(factory=dict)
    average_prices: dict[str, float] = field(factory=dict)
    last_prices: dict[str, float] = field(factory=dict)
    realized_pnl: float = 0.0
    fees_paid: float = 0.0
    #: realized + unrealized PnL at the start of the current calendar day
    day_start_pnl: float = 0.0
    #: equity at the start of the current calendar day (base of ``max_daily_loss_pct``)
    day_start_equity: float = 0.0
    #: the current calendar day (ISO date) and when it ends (epoch seconds); 0: no day yet
    day: str = ""
    day_ends_at: float = 0.0

    def mark(self, symbol: str) -> float:
        return self.last_prices.get(symbol, self.average_prices.get(symbol, 0.0))

    def exposure(self, symbol: str) -> float:
        return abs(self.positions.get(symbol, 0.0)) * self.mark(symbol)

    def total_exposure(self) -> float:
        return sum(self.exposure(s) for s in self.positions)

    def open_positions(self) -> int:
        return sum(1 for q in self.positions.values() if q)

    def unrealized_pnl(self) -> float:
        avg = self.average_prices
        return sum(q * (self.mark(s) - avg.get(s, 0.0)) for s, q in self.positions.items())

    def equity(self) -> float:
        return self.cash + sum(q * self.mark(s) for s, q in self.positions.items())

    def daily_pnl(self) -> float:
        """Realized + unrealized PnL since the start of the current calendar day."""
        return self.realized_pnl + self.unrealized_pnl() - self.day_start_pnl

    def update_prices(self, prices: Mapping[str, float]) -> None:
        """Mark positions to market (unrealized PnL, exposure). A price that is not a
        finite number > 0 raises ``ValueError`` and no price is changed."""
        bad = {s: p for s, p in prices.items() if not (isinstance(p, int | float) and 0.0 < p < math.inf)}
        if bad:
            raise ValueError(f"prices must be finite numbers > 0, got {bad!r}")
        self.last_prices.update(prices)

    def roll_day(self, now: float, timezone: str | ZoneInfo = "UTC") -> bool:
        """Start a new calendar day if ``now`` (epoch seconds) is past the current one.

        The first call, and the first call after midnight in ``timezone``, records the PnL
        and equity at that moment as the day's baseline for the daily loss limits. Cheap
        when nothing changes (one comparison): call it once per batch with the current time.
        Returns whether a new day started.
        """
        if now < self.day_ends_at:
            return False
        zone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        today = datetime.fromtimestamp(now, zone).date()
        tomorrow = today + timedelta(days=1)
        self.day = today.isoformat()
        # local midnight, converted with that night's UTC offset (DST-safe)
        self.day_ends_at = datetime(
            tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone
        ).timestamp()
        self.day_start_pnl = self.realized_pnl + self.unrealized_pnl()
        self.day_start_equity = self.equity()
        return True

    def apply_fill(self, symbol: str, signed_qty: float, price: float, fee: float = 0.0) -> None:
        """Update position, average price, realized PnL and cash from one fill.

        Raises :class:`NonFiniteAccountingError` and changes nothing when the fill or any
        number it produces is not finite: NaN or infinity never enters the accounts."""
        pos = self.positions.get(symbol, 0.0)
        avg = self.average_prices.get(symbol, 0.0)
        new = pos + signed_qty
        realized = self.realized_pnl
        if pos == 0.0 or pos * signed_qty > 0:  # opening or adding
            avg = (abs(pos) * avg + abs(signed_qty) * price) / abs(new)
        else:  # reducing, closing or flipping
            closed = min(abs(signed_qty), abs(pos))
            realized += closed * (price - avg) * (1 if pos > 0 else -1)
            if abs(signed_qty) > abs(pos):
                avg = price  # the remainder opens a new position at this price
        cash = self.cash - (signed_qty * price + fee)
        fees = self.fees_paid + fee
        realized -= fee
        # one test for all: a sum is finite only if every term is (inf - inf is NaN), and a
        # sum that overflows marks numbers too large to account for anyway
        if not math.isfinite(new + avg + cash + fees + realized + price + new * price):
            raise NonFiniteAccountingError(
                f"fill of {signed_qty:g} {symbol} at {price:g} (fee {fee:g}) would make the "
                "position or cash non-finite; not accounted"
            )
        if abs(new) < POSITION_EPSILON:
            self.positions.pop(symbol, None)
            self.average_prices.pop(symbol, None)
        else:
            self.positions[symbol] = new
            self.average_prices[symbol] = avg
        self.last_prices[symbol] = price
        self.cash = cash
        self.fees_paid = fees
        self.realized_pnl = realized


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
        self.zone = ZoneInfo(limits.timezone)
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
    from peaktrade_core.plugins import get_plugin_manager

    return (plugin_manager or get_plugin_manager()).check_risk(orders, portfolio, limits, env, timeout)


# -- stateful pre-trade controls --------------------------------------------------------------


class _SlidingCount:
    """Events in a sliding time window, stored as ``(time, count)`` per call so a whole
    batch costs one append, not one per order."""

    __slots__ = ("window", "events", "total")

    def __init__(self, window: float):
        self.window = window
        self.events: deque[tuple[float, int]] = deque()
        self.total = 0

    def current(self, now: float) -> int:
        events, cutoff = self.events, now - self.window
        while events and events[0][0] <= cutoff:
            self.total -= events.popleft()[1]
        return self.total

    def add(self, now: float, count: int) -> None:
        if count:
            self.events.append((now, count))
            self.total += count

    def clear(self) -> None:
        self.events.clear()
        self.total = 0


class PreTradeControls:
    """The stateful market-access controls of one session (SEC 15c3-5, RTS 6 Art. 15).

    The pipeline owns one instance per session and calls :meth:`check` once per batch
    (after the ``check_risk`` hook, before the gates) and :meth:`record_executions` after
    each batch was executed. Every control is off when its setting is 0:

    * order-rate throttle: at most ``max_orders_per_second`` / ``max_orders_per_minute``
      orders let through in any sliding second / minute;
    * duplicates: a client order id let through before in this session (the last
      ``SEEN_IDS_KEPT`` ids, so memory stays flat), or an identical
      order (symbol, side, quantity, type, limit and reference price) let through within
      ``duplicate_window_seconds``;
    * stale reference data: the symbol's last price, given in ``reference_times``
      (symbol → epoch seconds of the last price), older than ``max_reference_age_seconds``
      — or unknown — blocks the order;
    * runaway throttle: at most ``runaway_max_executions`` executions within
      ``runaway_window_seconds``, counted inside the batch: an order that would be one
      more is blocked, and after the batch (the orders within the limit execute) the kill
      switch is engaged; it stays engaged until a person releases it. Without a kill switch
      the controls themselves block every later order;
    * numbers: a quantity, price or notional (quantity x price) that is not finite (or
      overflows) is refused (``non_finite_number``): it could never be accounted for.

    Only orders :meth:`check` lets through count for the throttles and duplicates.
    """

    def __init__(
        self,
        limits: LiveRiskConfig,
        kill_switch: KillSwitch | None = None,
        clock: Callable[[], float] = time.time,
        *,
        message_limits: bool = True,
    ):
        self.limits = limits
        #: the order-rate throttle protects a venue's message limits; a session whose
        #: orders reach no venue (paper, shadow) passes False
        self.message_limits = message_limits
        self.kill_switch = kill_switch
        self.clock = clock
        self._per_second = _SlidingCount(1.0)
        self._per_minute = _SlidingCount(60.0)
        self._executions = _SlidingCount(limits.runaway_window_seconds)
        #: client order ids let through, oldest first, capped so that memory stays flat
        self._seen_ids: dict[str, None] = {}
        self._recent: dict[tuple[Any, ...], float] = {}
        self._recent_pruned_at = 0.0
        #: set when the runaway throttle tripped and no kill switch could hold it
        self.runaway_reason: str | None = None
        #: set when :meth:`check` blocked an order over the runaway limit; the kill switch
        #: is engaged by the next :meth:`record_executions` (after the batch executed)
        self._runaway_pending: str | None = None

    def check(
        self,
        orders: Sequence[OrderRequest],
        now: float | None = None,
        reference_times: Mapping[str, float] | None = None,
        skip: Container[int] = (),
    ) -> list[RiskViolation]:
        """Violations of the batch; orders at indices in ``skip`` (already blocked by an
        earlier check) are neither checked nor counted."""
        now = self.clock() if now is None else now
        limits = self.limits
        out: list[RiskViolation] = []
        if self.runaway_reason is not None:
            return [
                _violation(ViolationCode.RUNAWAY, i, o.symbol, None, None, self.runaway_reason)
                for i, o in enumerate(orders)
                if i not in skip
            ]
        per_second, per_minute = (
            (limits.max_orders_per_second, limits.max_orders_per_minute) if self.message_limits else (0, 0)
        )
        room_second = per_second - self._per_second.current(now) if per_second else math.inf
        room_minute = per_minute - self._per_minute.current(now) if per_minute else math.inf
        runaway = limits.runaway_max_executions
        room_runaway = runaway - self._executions.current(now) if runaway else math.inf
        window = limits.duplicate_window_seconds
        max_age = limits.max_reference_age_seconds
        times = reference_times if reference_times is not None else {}
        seen, recent = self._seen_ids, self._recent
        if window and now - self._recent_pruned_at > window and len(recent) > 1024:
            self._prune_recent(now)
        passed = 0
        for i, order in enumerate(orders):
            if skip and i in skip:
                continue
            found: list[RiskViolation] | None = None
            symbol = order.symbol
            quantity, price = order.quantity, order.price
            # one test for all three: NaN/inf in any of them, or a product that overflows
            if not math.isfinite(quantity * (1.0 if price is None else price) + quantity):
                found = _append(
                    found,
                    ViolationCode.NON_FINITE,
                    i,
                    symbol,
                    None,
                    None,
                    f"quantity {quantity:g}, price {'none' if price is None else format(price, 'g')}: "
                    "not a finite number, or too large to account for",
                )
            if order.client_order_id in seen:
                found = _append(
                    found,
                    ViolationCode.DUPLICATE,
                    i,
                    symbol,
                    None,
                    None,
                    f"client order id {order.client_order_id} was already sent in this session",
                )
            key = (
                (symbol, order.side, order.quantity, order.order_type, order.limit_price, order.reference_price)
                if window
                else None
            )
            if key is not None:
                last = recent.get(key)
                if last is not None and now - last < window:
                    found = _append(
                        found,
                        ViolationCode.DUPLICATE,
                        i,
                        symbol,
                        window,
                        now - last,
                        f"identical order {now - last:.3f}s after the last one "
                        f"(window {window:g}s)",
                    )
            if max_age:
                at = times.get(symbol)
                if at is None:
                    found = _append(
                        found,
                        ViolationCode.STALE_REFERENCE,
                        i,
                        symbol,
                        max_age,
                        None,
                        f"no time known for the reference price of {symbol}",
                    )
                elif now - at > max_age:
                    found = _append(
                        found,
                        ViolationCode.STALE_REFERENCE,
                        i,
                        symbol,
                        max_age,
                        now - at,
                        f"reference price of {symbol} is {now - at:.1f}s old > limit {max_age:g}s",
                    )
            if passed >= room_second:
                count = per_second - room_second + passed + 1
                found = _append(
                    found,
                    ViolationCode.RATE_PER_SECOND,
                    i,
                    symbol,
                    per_second,
                    count,
                    f"order {count:g} within one second > limit {per_second}",
                )
            elif passed >= room_minute:
                count = per_minute - room_minute + passed + 1
                found = _append(
                    found,
                    ViolationCode.RATE_PER_MINUTE,
                    i,
                    symbol,
                    per_minute,
                    count,
                    f"order {count:g} within one minute > limit {per_minute}",
                )
            if found is None and passed >= room_runaway:
                count = runaway - room_runaway + passed + 1
                reason = f"runaway throttle: order {count:g} within {limits.runaway_window_seconds:g}s > limit {runaway}"
                found = _append(found, ViolationCode.RUNAWAY, i, symbol, runaway, count, reason)
                if self._runaway_pending is None:
                    self._runaway_pending = reason
            if found is not None:
                out += found
                continue
            passed += 1
            seen[order.client_order_id] = None
            if key is not None:
                recent[key] = now
        self._per_second.add(now, passed)
        self._per_minute.add(now, passed)
        excess = len(seen) - SEEN_IDS_KEPT
        if excess > 0:  # forget the oldest ids: the venue still rejects a reused client id
            for key in list(itertools.islice(seen, excess)):
                del seen[key]
        return out

    def _prune_recent(self, now: float) -> None:
        cutoff = now - self.limits.duplicate_window_seconds
        self._recent = {k: t for k, t in self._recent.items() if t > cutoff}
        self._recent_pruned_at = now

    def record_executions(self, count: int, now: float | None = None) -> bool:
        """Count executed orders (call it after every batch, also with 0); engage the kill
        switch when :meth:`check` blocked an order over the runaway limit or more than
        ``runaway_max_executions`` fall within ``runaway_window_seconds``. Returns whether
        it tripped."""
        limit = self.limits.runaway_max_executions
        if not limit:
            return False
        now = self.clock() if now is None else now
        executions = self._executions
        executions.add(now, max(count, 0))
        pending, self._runaway_pending = self._runaway_pending, None
        if pending is not None:
            reason = pending
        elif executions.current(now) > limit:
            window = self.limits.runaway_window_seconds
            reason = f"runaway throttle: {executions.total} executions within {window:g}s > limit {limit}"
        else:
            return False
        executions.clear()  # after a person releases the switch, counting starts afresh
        logger.bind(tag=SAFETY).critical("{}: engaging the kill switch", reason)
        if self.kill_switch is None:
            self.runaway_reason = (
                f"{ViolationCode.RUNAWAY.value}: {reason}; no kill switch, session stopped"
            )
            return True
        try:
            if not self.kill_switch.state().engaged:
                self.kill_switch.engage(reason=reason, operator="runaway-throttle", source="risk")
        except Exception as exc:  # noqa: BLE001 - cannot latch the switch: stop this session instead
            logger.bind(tag=SAFETY).critical("could not engage the kill switch: {}", exc)
            self.runaway_reason = (
                f"{ViolationCode.RUNAWAY.value}: {reason}; kill switch failed: {exc}"
            )
        return True


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
