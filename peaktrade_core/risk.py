"""Pre-trade risk: the ``[live_risk]`` limits, violations, portfolio state (RISK-1..4)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from attrs import define, field, frozen
from attrs.validators import ge, gt, optional

_amount = optional(ge(0.0))


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
    use_experiments_for_daily_pnl: bool = False
    #: calendar day for daily loss, as an IANA zone name
    timezone: str = "UTC"
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
    PLUGIN = "plugin_failed"


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
    """Positions and PnL as the pipeline tracks them. Mutable: updated on every fill."""

    cash: float = 0.0
    starting_equity: float = 0.0
    positions: dict[str, float] = field(factory=dict)
    average_prices: dict[str, float] = field(factory=dict)
    last_prices: dict[str, float] = field(factory=dict)
    realized_pnl: float = 0.0
    fees_paid: float = 0.0
    #: realized + unrealized PnL at the start of the current calendar day
    day_start_pnl: float = 0.0

    def exposure(self, symbol: str) -> float:
        qty = self.positions.get(symbol, 0.0)
        return abs(qty) * self.last_prices.get(symbol, self.average_prices.get(symbol, 0.0))

    def total_exposure(self) -> float:
        return sum(self.exposure(s) for s in self.positions)

    def open_positions(self) -> int:
        return sum(1 for q in self.positions.values() if q)

    def unrealized_pnl(self) -> float:
        return sum(
            q * (self.last_prices.get(s, self.average_prices.get(s, 0.0)) - self.average_prices.get(s, 0.0))
            for s, q in self.positions.items()
        )

    def equity(self) -> float:
        return self.cash + sum(q * self.last_prices.get(s, self.average_prices.get(s, 0.0)) for s, q in self.positions.items())

    def apply_fill(self, symbol: str, signed_qty: float, price: float, fee: float) -> None:
        """Update position, average price, realized PnL and cash from one fill."""
        pos = self.positions.get(symbol, 0.0)
        avg = self.average_prices.get(symbol, 0.0)
        new = pos + signed_qty
        if pos == 0.0 or pos * signed_qty > 0:  # opening or adding
            avg = (abs(pos) * avg + abs(signed_qty) * price) / abs(new)
        else:  # reducing, closing or flipping
            closed = min(abs(signed_qty), abs(pos))
            self.realized_pnl += closed * (price - avg) * (1 if pos > 0 else -1)
            if abs(signed_qty) > abs(pos):
                avg = price
        if abs(new) < 1e-12:
            self.positions.pop(symbol, None)
            self.average_prices.pop(symbol, None)
        else:
            self.positions[symbol] = new
            self.average_prices[symbol] = avg
        self.last_prices[symbol] = price
        self.cash -= signed_qty * price + fee
        self.fees_paid += fee
        self.realized_pnl -= fee
