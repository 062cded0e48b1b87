"""The standard drill pack: drills A–G of seed 002 and the exhaustive gate matrix."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from peaktrade_core.plugin_api import (
    LIVE_CONFIRM_TOKEN,
    DrillContext,
    EffectiveMode,
    KillSwitchState,
    LiveDrillResult,
    LiveDrillScenario,
    LiveRiskLimits,
    OrderRequest,
    TokenState,
    TradingMode,
    ViolationCode,
    apply_overrides,
)

PACK = "drills-standard"

#: every environment gate open except what a drill closes on purpose
_LIVE_LIMITS = {"max_live_notional_per_order": 1000.0, "max_live_notional_total": 5000.0}
_ALL_OPEN = {
    "mode": TradingMode.LIVE,
    "enable_live_trading": True,
    "live_mode_armed": True,
    "live_dry_run_mode": False,
    "confirm_token": LIVE_CONFIRM_TOKEN,
    **_LIVE_LIMITS,
}

#: three orders of 750 each: every one within the per-order limit, together over the total
_E_ORDERS = tuple(
    OrderRequest(
        "BTC/USD",
        "buy",
        0.015,
        reference_price=50_000.0,
        strategy="drill-e",
        source_ref=f"drill-e:{i}",
    )
    for i in range(3)
)

SCENARIOS = (
    LiveDrillScenario(
        "A - Fully braked (default safety)",
        "Live mode requested, but gate 1 (enable_live_trading) is closed: nothing can go live.",
        PACK,
        {"mode": TradingMode.LIVE, "enable_live_trading": False},
        expected_is_live_execution_allowed=False,
        expected_reasons=("enable_live_trading=False",),
    ),
    LiveDrillScenario(
        "B - Gate 1 open, gate 2 missing",
        "Live trading enabled (gate 1) but not armed (gate 2): arming is a second decision.",
        PACK,
        {"mode": TradingMode.LIVE, "enable_live_trading": True, "live_mode_armed": False},
        expected_is_live_execution_allowed=False,
        expected_reasons=("live_mode_armed=False",),
    ),
    LiveDrillScenario(
        "C - All armed, but dry-run active",
        "Every gate open except the technical one: live_dry_run_mode keeps orders simulated, "
        "and the report must say so.",
        PACK,
        {**_ALL_OPEN, "live_dry_run_mode": True},
        expected_is_live_execution_allowed=False,
        expected_reasons=("live_dry_run_mode=True",),
    ),
    LiveDrillScenario(
        "D - Confirm token missing",
        "Every gate open, but no confirm token: the deliberate act is missing.",
        PACK,
        {**_ALL_OPEN, "confirm_token": None},
        expected_is_live_execution_allowed=False,
        expected_reasons=("confirm_token",),
    ),
    LiveDrillScenario(
        "E - Risk limits would block (gating allows)",
        "Every gate open, so gating allows live execution; a batch of three orders of 750 "
        "exceeds max_live_notional_total=2000 and the risk limits must block it.",
        PACK,
        {**_ALL_OPEN, "max_live_notional_total": 2000.0},
        expected_is_live_execution_allowed=True,
        simulated_orders=_E_ORDERS,
        expected_outcome="gating allows; the risk limits block the order that takes the batch over max_live_notional_total",
    ),
    LiveDrillScenario(
        "F - Non-live mode (testnet)",
        "Testnet mode: whatever the gates say, the environment is not LIVE.",
        PACK,
        {"mode": TradingMode.TESTNET},
        expected_is_live_execution_allowed=False,
        expected_reasons=("not LIVE",),
    ),
    LiveDrillScenario(
        "G - Paper mode",
        "Paper mode: whatever the gates say, the environment is not LIVE.",
        PACK,
        {"mode": TradingMode.PAPER},
        expected_is_live_execution_allowed=False,
        expected_reasons=("not LIVE",),
    ),
    LiveDrillScenario(
        "M - Gate matrix (every gate combination)",
        "Every combination of mode (4) x enable_live_trading x live_mode_armed x "
        "live_dry_run_mode x require_confirm_token x confirm token (not set/invalid/valid) x "
        "kill switch x live limits (768 cases): live execution is allowed exactly when every "
        "gate is open, and a refusal always names a gate that is actually closed.",
        PACK,
        expected_outcome="768 cases, each as the policy demands",
    ),
)


def drill_scenarios() -> tuple[LiveDrillScenario, ...]:
    return SCENARIOS


def run_drill(scenario: LiveDrillScenario, context: DrillContext) -> LiveDrillResult | None:
    if scenario.pack != PACK:
        return None
    run = _SPECIAL.get(scenario.name, _gate_drill)
    return run(context)


def _gate_drill(context: DrillContext) -> LiveDrillResult:
    return context.result(context.gate_report())


def _risk_drill(context: DrillContext) -> LiveDrillResult:
    """Drill E: gating allows, the standard limits must still stop the batch."""
    env = context.environment()
    report = context.gate_report(env)
    limits = context.config.live_risk
    check = LiveRiskLimits(limits, env).check_orders(
        context.scenario.simulated_orders, context.portfolio()
    )
    codes = sorted({v.code for v in check.violations})
    notes = [
        f"risk check of {len(context.scenario.simulated_orders)} simulated orders: "
        + ("; ".join(v.message for v in check.violations) or "no violation")
    ]
    violations = []
    if ViolationCode.LIVE_TOTAL_NOTIONAL.value not in codes:
        violations.append(
            f"expected the risk limits to report {ViolationCode.LIVE_TOTAL_NOTIONAL.value}, got {codes or 'none'}"
        )
    if check.allowed:
        violations.append(
            "expected the risk limits to block the batch, but it would pass"
            + (" (live_risk.block_on_violation=false)" if check.violations else "")
        )
    details = {"risk_allowed": check.allowed, "risk_violations": ", ".join(codes) or "none"}
    return context.result(report, notes=notes, violations=violations, details=details)


# -- the gate matrix ----------------------------------------------------------------------

#: the words a refusal must contain to name each gate
_GATE_WORDS = {
    "mode": "not LIVE",
    "enable_live_trading": "enable_live_trading=False",
    "live_mode_armed": "live_mode_armed=False",
    "confirm_token": "confirm_token",
    "live_dry_run_mode": "live_dry_run_mode=True",
    "kill_switch": "kill switch",
    "live_limits": "live limits",
}
_TOKENS = {
    TokenState.NOT_SET: None,
    TokenState.INVALID: "not-the-confirm-phrase",
    TokenState.VALID: LIVE_CONFIRM_TOKEN,
}
_EFFECTIVE = {
    TradingMode.PAPER: EffectiveMode.PAPER,
    TradingMode.SHADOW: EffectiveMode.SHADOW,
    TradingMode.TESTNET: EffectiveMode.TESTNET_DRY_RUN,
}
_LISTED_FAILURES = 20


def _matrix_drill(context: DrillContext) -> LiveDrillResult:
    base = context.config.environment
    released = context.kill_switch.state()
    engaged = KillSwitchState(True, "drill", "gate matrix case (in memory)", "", "drill")
    failures: list[str] = []
    cases = allowed_cases = 0
    for mode, enabled, armed, dry_run, token_required, token, kill, limits in itertools.product(
        TradingMode, *([(False, True)] * 4), _TOKENS, (False, True), (False, True)
    ):
        env = apply_overrides(
            base,
            {
                "mode": mode,
                "enable_live_trading": enabled,
                "live_mode_armed": armed,
                "live_dry_run_mode": dry_run,
                "require_confirm_token": token_required,
                "confirm_token": _TOKENS[token],
                **(_LIVE_LIMITS if limits else dict.fromkeys(_LIVE_LIMITS)),
            },
        )
        # the policy, written out independently of the code under test
        closed = {
            gate
            for gate, is_open in (
                ("mode", mode is TradingMode.LIVE),
                ("enable_live_trading", enabled),
                ("live_mode_armed", armed),
                ("confirm_token", not token_required or token is TokenState.VALID),
                ("live_dry_run_mode", not dry_run),
                ("kill_switch", not kill),
                ("live_limits", limits),
            )
            if not is_open
        }
        report = context.evaluate(env, engaged if kill else released)
        cases += 1
        allowed_cases += not closed
        label = (
            f"mode={mode.value} enable_live_trading={enabled} live_mode_armed={armed} "
            f"live_dry_run_mode={dry_run} require_confirm_token={token_required} confirm_token={token.value} "
            f"kill_switch={'engaged' if kill else 'released'} live_limits={'set' if limits else 'unset'}"
        )
        problem = _case_problem(
            report.live_allowed, report.reason, report.effective_mode, mode, closed
        )
        if problem:
            failures.append(f"{label}: {problem}")
    shown = failures[:_LISTED_FAILURES]
    if len(failures) > len(shown):
        shown.append(f"... and {len(failures) - len(shown)} more failing case(s)")
    return LiveDrillResult(
        scenario=context.scenario.name,
        pack=PACK,
        passed=not failures,
        is_live_execution_allowed=None,
        reason=f"{cases - len(failures)}/{cases} cases as the policy demands "
        f"(allowed exactly when every gate is open: {allowed_cases} case(s))",
        effective_mode="all modes",
        notes=(
            f"checked {cases} cases: 4 modes x 2 enable_live_trading x 2 live_mode_armed x 2 live_dry_run_mode "
            "x 2 require_confirm_token x 3 token states x 2 kill switch x 2 live limits",
        ),
        violations=tuple(shown),
        details={"cases": cases, "allowed_cases": allowed_cases, "failing_cases": len(failures)},
    )


def _case_problem(
    allowed: bool, reason: str, effective: EffectiveMode, mode: TradingMode, closed: set[str]
) -> str:
    if allowed and closed:
        return f"expected blocked (closed: {', '.join(sorted(closed))}), got allowed"
    if not allowed and not closed:
        return f"expected allowed (every gate open), got blocked: {reason!r}"
    if closed:
        if not any(_GATE_WORDS[g] in reason for g in closed):
            return f"reason {reason!r} names none of the closed gates ({', '.join(sorted(closed))})"
        blamed_open = [g for g in _GATE_WORDS if g not in closed and _GATE_WORDS[g] in reason]
        if blamed_open:
            return f"reason {reason!r} blames open gate(s) {', '.join(blamed_open)}"
    expected_effective = _EFFECTIVE.get(mode) or (
        EffectiveMode.LIVE if not closed else EffectiveMode.LIVE_DRY_RUN
    )
    if effective is not expected_effective:
        return f"expected effective mode {expected_effective.value}, got {effective.value}"
    return ""


_SPECIAL: dict[str, Callable[[DrillContext], LiveDrillResult]] = {
    SCENARIOS[4].name: _risk_drill,
    SCENARIOS[7].name: _matrix_drill,
}
