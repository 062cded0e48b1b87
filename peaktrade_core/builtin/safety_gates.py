"""Essential built-in plugin: the live gates and the kill switch over each batch."""

from __future__ import annotations

from collections.abc import Sequence

from peaktrade_core.environment import EnvironmentConfig
from peaktrade_core.gates import GateContext, GateDecision, builtin_gate_decisions
from peaktrade_core.hookspecs import hookimpl
from peaktrade_core.orders import OrderRequest


@hookimpl(tryfirst=True)
def check_gate(
    env: EnvironmentConfig, orders: Sequence[OrderRequest], context: GateContext
) -> list[GateDecision]:
    return builtin_gate_decisions(env, orders, context.report, context.positions, context.confirm)
