"""``[live_risk]``: the configuration of the pre-trade limits, and the risk profiles."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, tzinfo
from typing import Any

from attrs import field, frozen
from attrs.validators import ge, gt, optional

_amount = optional(ge(0.0))


def risk_zone(name: str) -> tzinfo:
    """The time zone of ``[live_risk] timezone``. ``UTC`` (the default) needs no zone
    database: it is the fixed zone, so checking the setting imports ``zoneinfo`` only for
    another zone (~1.5 % of ``peaktrade status``)."""
    if name == "UTC":
        return UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _known_zone(_instance: Any, _attribute: Any, value: str) -> None:
    try:
        risk_zone(value)
    except (LookupError, ValueError):  # zoneinfo's ZoneInfoNotFoundError is a KeyError
        raise ValueError(
            f'timezone: unknown time zone "{value}"; give an IANA name such as "Europe/Berlin"'
        ) from None


#: the readiness stages a ramp-up schedule may name (0 research … 4 live)
READINESS_STAGES = ("0", "1", "2", "3", "4")


def _ramp_up_schedule(_instance: Any, attribute: Any, value: Mapping[str, float]) -> None:
    for stage, limit in value.items():
        if stage not in READINESS_STAGES:
            raise ValueError(f"'{attribute.name}' must be keyed by readiness stage 0-4, got {stage!r}")
        if not 0.0 <= limit < float("inf"):
            raise ValueError(f"'{attribute.name}' must be finite numbers >= 0, got {limit!r} for stage {stage}")


def _percentages(_instance: Any, attribute: Any, value: Mapping[str, float]) -> None:
    for strategy, pct in value.items():
        if not 0.0 <= pct <= 100.0:
            raise ValueError(f"'{attribute.name}' must be percentages from 0 to 100, got {pct!r} for {strategy!r}")


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
    #: capital limits (seed 001): in force whatever ``enabled`` and ``block_on_violation``
    #: say. Percent of the account's equity at the start of the day that one strategy may
    #: hold as exposure, by strategy name ("*": every other strategy)
    max_capital_pct_per_strategy: Mapping[str, float] = field(factory=dict, validator=_percentages)
    #: readiness stage ("0"-"4") -> most total exposure at that stage; the entry of the
    #: highest listed stage at or below the current stage applies, none listed: 0
    ramp_up_max_capital: Mapping[str, float] = field(factory=dict, validator=_ramp_up_schedule)
    #: live mode (live dry-run too): at most this many symbols with an open position
    max_open_positions_live: int | None = field(default=None, validator=optional(ge(0)))
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

