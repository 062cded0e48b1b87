"""Essential built-in plugin: the live gates and the kill switch over each batch.

Built-ins import their work on the first call, like every plugin, so that loading them
(each CLI start) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from peaktrade_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from peaktrade_core.environment import EnvironmentConfig
    from peaktrade_core.gate_decisions import GateContext, GateDecision
    from peaktrade_core.orders import OrderRequest


#: the gates' function, imported on the first call and kept (an import per batch cost
#: about as much as the gates themselves)
_decisions: Callable[..., list[GateDecision]] | None = None


@hookimpl(tryfirst=True)
def check_gate(env: EnvironmentConfig, orders: Sequence[OrderRequest], context: GateContext) -> list[GateDecision]:
    global _decisions
    decisions = _decisions
    if decisions is None:
        from peaktrade_core.gate_decisions import builtin_gate_decisions

        decisions = _decisions = builtin_gate_decisions
    return decisions(env, orders, context.report, context.positions, context.confirm)
