"""The per-order gates over a batch (symbol and exchange allow-lists, manual confirmation,
the kill switch's reduce-only exception) and what a gate plugin decides: the essential
built-in ``check_gate`` plugin runs :func:`builtin_gate_decisions`. Apart from
:mod:`peaktrade_core.gates` (the environment-level report) so that a command that only shows
the report (``status``) does not build these classes; ``peaktrade_core.gates`` still
exports every name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from attrs import field, frozen

from peaktrade_core.environment import EffectiveMode

if TYPE_CHECKING:
    from peaktrade_core.environment import EnvironmentConfig
    from peaktrade_core.gates import GateReport
    from peaktrade_core.orders import OrderRequest


@frozen
class GateDecision:
    """One gate's verdict on (part of) a batch. A closed decision blocks the orders it names
    (``orders`` = indices into the batch; ``None`` = the whole batch). Open decisions are for
    the report only: nothing a plugin returns can unblock an order another gate blocked."""

    gate: str
    open: bool
    reason: str
    orders: tuple[int, ...] | None = None
    plugin: str = ""

    def blocks(self, index: int) -> bool:
        return not self.open and (self.orders is None or index in self.orders)


@frozen
class GateContext:
    """What gates may consult besides the environment and the orders. Read-only: plugins
    get their own copy (positions as a read-only mapping), never the core's."""

    report: GateReport
    #: signed position per symbol, for the reduce-only exception of the kill switch
    positions: Mapping[str, float] = field(factory=dict)
    #: asks a person to confirm one live order; ``None`` = no terminal, so never confirmed
    confirm: Callable[[OrderRequest], bool] | None = None


def _reduces_position(order: OrderRequest, positions: Mapping[str, float]) -> bool:
    position = positions.get(order.symbol, 0.0)
    signed = order.signed_quantity
    return position != 0.0 and position * signed < 0 and abs(signed) <= abs(position)


def builtin_gate_decisions(
    env: EnvironmentConfig,
    orders: Sequence[OrderRequest],
    report: GateReport,
    positions: Mapping[str, float] | None = None,
    confirm: Callable[[OrderRequest], bool] | None = None,
) -> list[GateDecision]:
    """The essential gates over a batch. Only closed decisions and per-gate summaries."""
    decisions: list[GateDecision] = []
    positions = positions or {}
    if report.kill_switch.engaged:
        reason = f"kill switch {report.kill_switch.describe()}"
        if env.kill_switch_allow_reduce_only:
            blocked = tuple(
                i
                for i, o in enumerate(orders)
                if not (o.reduce_only and _reduces_position(o, positions))
            )
            if blocked:
                decisions.append(GateDecision("kill_switch", False, reason, blocked))
        else:
            decisions.append(GateDecision("kill_switch", False, reason))
    if report.effective_mode is EffectiveMode.TESTNET:
        allowed = set(env.testnet_allowed_symbols)
        outside = tuple(i for i, o in enumerate(orders) if o.symbol not in allowed)
        if outside:
            listed = ", ".join(sorted(allowed)) or "none"
            decisions.append(
                GateDecision("testnet_allowed_symbols", False, f"symbol not in testnet_allowed_symbols ({listed})", outside)
            )
        return decisions
    if report.effective_mode is not EffectiveMode.LIVE:
        return decisions
    allowed_symbols = set(env.live_allowed_symbols)
    not_allowed = tuple(i for i, o in enumerate(orders) if o.symbol not in allowed_symbols)
    if not_allowed:
        listed = ", ".join(sorted(allowed_symbols)) or "none"
        decisions.append(
            GateDecision(
                "live_allowed_symbols",
                False,
                f"symbol not in live_allowed_symbols ({listed})",
                not_allowed,
            )
        )
    if env.exchange not in env.live_allowed_exchanges:
        decisions.append(
            GateDecision(
                "live_allowed_exchanges",
                False,
                f"exchange {env.exchange!r} not in live_allowed_exchanges",
            )
        )
    if env.require_manual_confirm_for_live:
        if confirm is None:
            decisions.append(
                GateDecision(
                    "manual_confirm",
                    False,
                    "manual confirmation required (require_manual_confirm_for_live) but no terminal to ask",
                )
            )
        else:
            refused = tuple(
                i for i, o in enumerate(orders) if i not in not_allowed and not confirm(o)
            )
            if refused:
                decisions.append(
                    GateDecision("manual_confirm", False, "not confirmed by the operator", refused)
                )
    return decisions
