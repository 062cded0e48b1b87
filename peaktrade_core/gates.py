"""The gates: one place that decides whether an order may reach a venue (GATE-1..7).

Environment-level facts (mode, gate 1, gate 2, confirm token, dry-run, kill switch, live
limits) are evaluated once per batch into a :class:`GateReport`; per-order gates (symbol and
exchange allow-lists, manual confirmation, kill switch reduce-only exception) run over the
batch in :func:`~peaktrade_core.gate_decisions.builtin_gate_decisions`, the essential
built-in ``check_gate`` plugin (exported here too, with ``GateDecision`` and ``GateContext``).

Testnet mode has gates of its own (``testnet_gates``: mode, ``enable_testnet_trading``, a
configured exchange, the kill switch; per order ``testnet_allowed_symbols``). They never open
anything live, and the live gates never open testnet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from attrs import frozen

from peaktrade_core.environment import EffectiveMode, EnvironmentConfig, TokenState, TradingMode
from peaktrade_core.log import SAFETY, logger

if TYPE_CHECKING:  # annotations only: status evaluates the gates without the order model
    from peaktrade_core.orders import OrderRequest


@frozen
class KillSwitchState:
    engaged: bool = False
    operator: str = ""
    reason: str = ""
    at: str = ""
    source: str = ""

    def describe(self) -> str:
        if not self.engaged:
            return "released"
        return f"engaged by {self.operator or '?'} at {self.at or '?'}: {self.reason or '(no reason)'}"


RELEASED = KillSwitchState()


@frozen
class GateStatus:
    gate: str
    open: bool
    value: str
    reason: str


@frozen
class GateReport:
    """Every environment-level gate, open or closed, and the verdict."""

    mode: TradingMode
    effective_mode: EffectiveMode
    gates: tuple[GateStatus, ...]
    kill_switch: KillSwitchState
    #: the testnet gates; evaluated in testnet mode only
    testnet_gates: tuple[GateStatus, ...] = ()

    @property
    def live_allowed(self) -> bool:
        return all(g.open for g in self.gates)

    @property
    def mode_gates(self) -> tuple[GateStatus, ...]:
        """The gates of this mode: the testnet gates in testnet mode, else the live gates."""
        return self.testnet_gates if self.mode is TradingMode.TESTNET else self.gates

    @property
    def sending_allowed(self) -> bool:
        """May orders be sent to the venue in this mode (testnet: its testnet)?"""
        return self.mode in (TradingMode.TESTNET, TradingMode.LIVE) and all(g.open for g in self.mode_gates)

    @property
    def sending_reason(self) -> str:
        if self.mode is not TradingMode.TESTNET:
            return self.reason
        for g in self.testnet_gates:
            if not g.open:
                return g.reason
        return "all testnet gates open: orders go to the venue's testnet (sandbox or validate-only)"

    @property
    def reason(self) -> str:
        """The first closed gate in the seed's order, or why everything is open."""
        for g in self.gates:
            if not g.open:
                return g.reason
        return "all live gates open: live execution allowed"

    @property
    def closed(self) -> list[GateStatus]:
        return [g for g in self.gates if not g.open]


class LiveExecutionBlocked(Exception):
    """Raised by :class:`SafetyGuard` when an order may not be placed live."""

    def __init__(self, reasons: Sequence[str]):
        self.reasons = list(reasons)
        super().__init__("; ".join(self.reasons))


def evaluate_gates(env: EnvironmentConfig, kill_switch: KillSwitchState = RELEASED) -> GateReport:
    """Evaluate every environment-level gate, in the order ``SafetyGuard`` checks them."""
    token = env.token_state()
    missing = env.live_limits_missing()
    gates = (
        GateStatus(
            "mode",
            env.mode is TradingMode.LIVE,
            env.mode.value,
            f"environment mode is {env.mode.value!r}, not LIVE: orders are never sent to a real venue",
        ),
        GateStatus(
            "enable_live_trading",
            env.enable_live_trading,
            str(env.enable_live_trading),
            "enable_live_trading=False (gate 1 blocked)",
        ),
        GateStatus(
            "live_mode_armed",
            env.live_mode_armed,
            str(env.live_mode_armed),
            "live_mode_armed=False (gate 2 blocked)",
        ),
        GateStatus(
            "confirm_token",
            not env.require_confirm_token or token is TokenState.VALID,
            token.value,
            f"confirm_token {token.value} (require_confirm_token=True, gate blocked)",
        ),
        GateStatus(
            "live_dry_run_mode",
            not env.live_dry_run_mode,
            str(env.live_dry_run_mode),
            "live_dry_run_mode=True (technical gate blocks real orders)",
        ),
        GateStatus(
            "kill_switch",
            not kill_switch.engaged,
            "ENGAGED" if kill_switch.engaged else "released",
            f"kill switch {kill_switch.describe()}",
        ),
        GateStatus(
            "live_limits",
            not missing,
            "set" if not missing else "NOT SET",
            f"live limits not set: {', '.join(missing)} (live needs both)",
        ),
    )
    allowed = all(g.open for g in gates)
    testnet: tuple[GateStatus, ...] = ()
    if env.mode is TradingMode.TESTNET:
        testnet = _testnet_gates(env, kill_switch)
        effective = EffectiveMode.TESTNET if all(g.open for g in testnet) else EffectiveMode.TESTNET_DRY_RUN
    else:
        effective = {
            TradingMode.PAPER: EffectiveMode.PAPER,
            TradingMode.SHADOW: EffectiveMode.SHADOW,
            TradingMode.LIVE: EffectiveMode.LIVE if allowed else EffectiveMode.LIVE_DRY_RUN,
        }[env.mode]
    return GateReport(env.mode, effective, gates, kill_switch, testnet)


def _testnet_gates(env: EnvironmentConfig, kill_switch: KillSwitchState) -> tuple[GateStatus, ...]:
    return (
        GateStatus("mode", True, env.mode.value, ""),
        GateStatus(
            "enable_testnet_trading",
            env.enable_testnet_trading,
            str(env.enable_testnet_trading),
            "enable_testnet_trading=False (testnet gate blocked: orders are dry-run)",
        ),
        GateStatus(
            "exchange",
            bool(env.exchange),
            env.exchange or "NOT SET",
            "no [environment] exchange: testnet orders have no venue (dry-run)",
        ),
        GateStatus(
            "kill_switch",
            not kill_switch.engaged,
            "ENGAGED" if kill_switch.engaged else "released",
            f"kill switch {kill_switch.describe()}",
        ),
    )


def effective_mode_of(report: GateReport, sends: bool, validate_only: bool = False) -> EffectiveMode:
    """What really happens, given whether the session's executor sends to a venue: a mode
    whose gates are open but whose executor sends nothing is a dry run, never ``live``."""
    effective = report.effective_mode
    if effective is EffectiveMode.LIVE and not sends:
        return EffectiveMode.LIVE_DRY_RUN
    if effective is EffectiveMode.TESTNET:
        if not sends:
            return EffectiveMode.TESTNET_DRY_RUN
        return EffectiveMode.TESTNET_VALIDATE_ONLY if validate_only else EffectiveMode.TESTNET
    return effective


def is_live_execution_allowed(
    env: EnvironmentConfig, kill_switch: KillSwitchState = RELEASED
) -> tuple[bool, str]:
    """``(allowed, reason)``: may real orders be sent? The reason names the first closed gate."""
    report = evaluate_gates(env, kill_switch)
    return report.live_allowed, report.reason


class SafetyGuard:
    """The last check before anything is sent to a venue (seed 000's ``SafetyGuard``)."""

    def __init__(
        self,
        env: EnvironmentConfig,
        kill_switch: Callable[[], KillSwitchState] = lambda: RELEASED,
        client: Any = None,
    ):
        self.env = env
        self._kill_switch = kill_switch
        #: the venue client behind the guard: it must fit the mode (testnet/production)
        self.client = client

    def ensure_may_place_order(self, order: OrderRequest | None = None) -> None:
        """Raise :class:`LiveExecutionBlocked` unless every gate of the mode is open for
        ``order`` (testnet mode: the testnet gates; otherwise the live gates)."""
        report = evaluate_gates(self.env, self._kill_switch())
        reasons = [g.reason for g in report.mode_gates if not g.open]
        if self.client is not None and not reasons:
            from peaktrade_core.venues import VenueError, check_client_for_mode

            try:
                check_client_for_mode(self.client, self.env.mode)
            except VenueError as exc:
                reasons = [str(exc)]
        if order is not None and not reasons:
            from peaktrade_core.gate_decisions import builtin_gate_decisions

            reasons = [d.reason for d in builtin_gate_decisions(self.env, [order], report) if not d.open]
        if reasons:
            logger.bind(tag=SAFETY).warning("order blocked: {}", "; ".join(reasons))
            raise LiveExecutionBlocked(reasons)


#: defined in :mod:`peaktrade_core.gate_decisions`, imported from here on first use
_DECISIONS = ("GateDecision", "GateContext", "builtin_gate_decisions")


def __getattr__(name: str) -> Any:
    if name in _DECISIONS:
        from peaktrade_core import gate_decisions

        value = globals()[name] = getattr(gate_decisions, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
