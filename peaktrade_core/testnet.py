"""Testnet orchestration: profiles of orders run against budgets.

A profile (``[testnet_profiles.<name>]``) bundles symbols, a quantity and an order count;
its limits (``[testnet_limits.<name>]``) cap orders and notional per session (one
``peaktrade testnet run``) and per UTC day. Usage lives in the state store
(``testnet_usage``, one row per session), so budgets hold across restarts.

An order counts against the budget when it is handed to the pipeline, before it is sent:
a crash can over-count, never under-count. The first order past a budget ends the
session's supply of orders; it and the rest are refused and named in the run log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from attrs import define, field

from peaktrade_core.config import PeakTradeConfig, TestnetLimitsConfig, TestnetProfileConfig
from peaktrade_core.state import StateStore, current_operator, now_iso


class TestnetError(Exception):
    """A profile or limits set that cannot be used: one line naming the key."""


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def _where(config: PeakTradeConfig) -> str:
    return config.source or "<defaults>"


def resolve_profile(config: PeakTradeConfig, name: str | None) -> tuple[str, TestnetProfileConfig, str, TestnetLimitsConfig]:
    """``(profile name, profile, limits name, limits)``; a missing name is a TestnetError."""
    where = _where(config)
    name = name or config.testnet_orchestration.default_profile
    if not name:
        raise TestnetError(f"{where}: testnet_orchestration.default_profile: not set; give --profile NAME")
    profile = config.testnet_profiles.get(name)
    if profile is None:
        known = ", ".join(sorted(config.testnet_profiles)) or "none configured"
        raise TestnetError(f"{where}: testnet_profiles.{name}: no such profile (profiles: {known})")
    limits_name = profile.limits or config.testnet_orchestration.default_limits
    limits = config.testnet_limits.get(limits_name)
    if limits is None:
        key = f"testnet_profiles.{name}.limits" if profile.limits else "testnet_orchestration.default_limits"
        known = ", ".join(sorted(config.testnet_limits)) or "none configured"
        raise TestnetError(f'{where}: {key}: no [testnet_limits.{limits_name}] (limits: {known}); a profile without limits never runs')
    return name, profile, limits_name, limits


def profile_orders(name: str, profile: TestnetProfileConfig) -> list[Any]:
    """The profile's orders: round-robin over its symbols; "alternate" buys then sells
    each symbol in turn, so a profile with an even count per symbol ends flat."""
    from peaktrade_core.orders import OrderRequest

    orders = []
    for i in range(profile.order_count):
        symbol = profile.symbols[i % len(profile.symbols)]
        side = profile.sides if profile.sides != "alternate" else ("buy" if (i // len(profile.symbols)) % 2 == 0 else "sell")
        orders.append(
            OrderRequest(
                symbol=symbol,
                side=side,
                quantity=profile.quantity,
                reference_price=profile.reference_prices[symbol],
                strategy=f"testnet:{name}",
                source_ref=f"testnet profile {name} #{i + 1}",
            )
        )
    return orders


@define
class Usage:
    orders: int = 0
    notional: float = 0.0
    sessions: int = 0
    refused: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"orders": self.orders, "notional": round(self.notional, 8), "sessions": self.sessions, "refused": self.refused}


def _usage(store: StateStore) -> Any:
    from peaktrade_core.store.testnet import TestnetUsageRepository

    return TestnetUsageRepository(store)


def day_usage(store: StateStore, limits: str, day: str | None = None) -> Usage:
    return Usage(*_usage(store).day_totals(day or today(), limits))


def sessions(store: StateStore, limit: int = 20) -> list[dict[str, Any]]:
    return _usage(store).sessions(limit)


def refusal(limits_name: str, limits: TestnetLimitsConfig, session: Usage, day: Usage, notional: float) -> str | None:
    """Why one more order of ``notional`` would exceed the budget, or ``None``."""
    checks = (
        ("session", "max_orders_per_session", session.orders + 1, limits.max_orders_per_session, "orders"),
        ("session", "max_notional_per_session", session.notional + notional, limits.max_notional_per_session, "notional"),
        ("day", "max_orders_per_day", day.orders + 1, limits.max_orders_per_day, "orders"),
        ("day", "max_notional_per_day", day.notional + notional, limits.max_notional_per_day, "notional"),
    )
    for scope, key, wanted, cap, what in checks:
        if wanted > cap + 1e-9:
            used = (session if scope == "session" else day)
            now = used.orders if what == "orders" else f"{used.notional:,.2f}"
            return (f"testnet budget: testnet_limits.{limits_name}.{key} = {cap:g} reached "
                    f"({now} {what} used this {scope}); not sent")
    return None


@define
class BudgetedOrders:
    """The orders of a session, handed out while the budget allows (see module doc).
    ``refused`` fills as the pipeline pulls; the pipeline records it when the run ends."""

    store: StateStore
    orders: list[Any]
    profile: str
    limits_name: str
    limits: TestnetLimitsConfig
    duration_seconds: float = 0.0
    session_id: Any = None  # () -> run id, read when the first order is pulled
    refused: list[str] = field(factory=list)
    sent: int = 0
    stopped_by: str | None = None
    _repository: Any = field(default=None, init=False, repr=False)

    def __iter__(self) -> Iterator[Any]:
        self._repository = _usage(self.store)
        started = time.monotonic()
        for index, order in enumerate(self.orders):
            if self.duration_seconds and time.monotonic() - started >= self.duration_seconds:
                self.stopped_by = "duration"
                self._refuse(index, f"testnet profile {self.profile}: duration_seconds = {self.duration_seconds:g} over; not sent")
                return
            reason = self._reserve(order)
            if reason is not None:
                self.stopped_by = "budget"
                self._refuse(index, reason)
                return
            self.sent += 1
            yield order

    def _refuse(self, index: int, reason: str) -> None:
        self.refused.extend(f"{o.source_ref}: {o.side.value} {o.quantity:g} {o.symbol}: {reason}" for o in self.orders[index:])  # in place: the pipeline holds this list
        self._repository.add_refused(self._session(), len(self.refused))

    def _session(self) -> str:
        return str(self.session_id() if callable(self.session_id) else self.session_id)

    def _reserve(self, order: Any) -> str | None:
        """Check and count one order in one write transaction: two sessions at once share
        the day's budget without both taking its last order."""
        notional = float(order.notional or 0.0)
        return self._repository.reserve(
            self._session(), today(), self.limits_name, self.profile, now_iso(), current_operator(), notional,
            lambda mine, day: refusal(self.limits_name, self.limits, Usage(*mine), Usage(*day), notional),
        )


def plan(store: StateStore, name: str, profile: TestnetProfileConfig, limits_name: str, limits: TestnetLimitsConfig) -> list[dict[str, Any]]:
    """What ``run`` would do now, nothing written: each order and its budget verdict."""
    day = day_usage(store, limits_name)
    session = Usage()
    rows, stopped = [], None
    for order in profile_orders(name, profile):
        notional = float(order.notional or 0.0)
        reason = stopped or refusal(limits_name, limits, session, day, notional)
        if reason is None:
            session.orders += 1
            session.notional += notional
            day.orders += 1
            day.notional += notional
        else:
            stopped = reason
        rows.append({"source": order.source_ref, "symbol": order.symbol, "side": order.side.value, "quantity": order.quantity,
                     "notional": notional, "would_send": reason is None, "reason": reason})
    return rows
