"""The operator console (OPS-2): everything that decides whether an order may go live."""

from __future__ import annotations

from typing import Any

from peaktrade_core.config import PeakTradeConfig
from peaktrade_core.gates import KillSwitchState, evaluate_gates
from peaktrade_core.state import GUARDED_MODES, StateCheck

_LIMIT_KEYS = (
    "max_live_notional_per_order",
    "max_live_notional_total",
    "live_trade_min_size",
)


def _venue(config: PeakTradeConfig, report: Any) -> tuple[dict[str, Any] | None, str]:
    """The venue status shows (testnet/live only; building a client touches no network)
    and the effective mode with it."""
    from peaktrade_core.gates import effective_mode_of
    from peaktrade_core.plugins import builds_exchange_client, get_plugin_manager

    if not builds_exchange_client(config.environment):  # paper, shadow, no exchange: no venue layer
        return None, effective_mode_of(report, False).value
    from peaktrade_core.venues import VenueError, check_client_for_mode, venue_info

    try:
        client = get_plugin_manager().create_exchange_client(config)
        if client is not None:
            check_client_for_mode(client, config.environment.mode)
    except VenueError as exc:
        return {"venue": config.environment.exchange, "error": str(exc)}, effective_mode_of(report, False).value
    sends = client is not None and report.sending_allowed
    return venue_info(client), effective_mode_of(report, sends, bool(getattr(client, "validate_only", False))).value


def capital_status(risk: Any, stage: int | None) -> dict[str, Any]:
    """The capital limits as configured, and the ramp-up limit in force at ``stage`` (the
    readiness stage; ``None``: not known here)."""
    schedule = dict(sorted(risk.ramp_up_max_capital.items()))
    in_force = None
    if schedule and stage is not None:
        from peaktrade_core.risk.capital import ramp_up_limit

        in_force = ramp_up_limit(schedule, stage)
    return {
        "max_capital_pct_per_strategy": dict(risk.max_capital_pct_per_strategy),
        "ramp_up_max_capital": schedule,
        "stage": stage,
        "ramp_up_in_force": in_force,
        "max_open_positions_live": risk.max_open_positions_live,
    }


def status_dict(config: PeakTradeConfig, kill_switch: KillSwitchState, state: StateCheck | None = None) -> dict[str, Any]:
    env = config.environment
    report = evaluate_gates(env, kill_switch)
    risk = config.live_risk
    gates = [
        {"gate": g.gate, "open": g.open, "value": g.value, "reason": None if g.open else g.reason}
        for g in report.gates
    ]
    venue, effective = _venue(config, report)
    allowed, reason = report.live_allowed, report.reason
    problem = None
    if state is not None:
        # testnet/live sessions refuse a store that is lost, replaced or altered
        problem = state.problem_for(env.mode.value)
        gates.append({"gate": "state_store", "open": problem is None, "value": state.kind, "reason": problem})
        if problem and env.mode.value in GUARDED_MODES:  # named first: nothing else matters then
            allowed, reason = False, f"state store: {problem}"
    return {
        "config": config.source or "built-in defaults",
        "config_sha256": config.sha256 or None,
        "mode": env.mode.value,
        "effective_mode": effective,
        "venue": venue,
        "testnet_gates": [
            {"gate": g.gate, "open": g.open, "value": g.value, "reason": None if g.open else g.reason}
            for g in report.testnet_gates
        ],
        # testnet mode: whether orders go to the venue's testnet, and why (not)
        "testnet_sending": (
            {"allowed": report.sending_allowed and problem is None, "reason": f"state store: {problem}" if problem else report.sending_reason}
            if env.mode.value == "testnet"
            else None
        ),
        "environment_profile": env.profile,
        "risk_profile": risk.profile,
        "is_live_execution_allowed": allowed,
        "reason": reason,
        "gates": gates,
        "state": {**state.to_dict(), "problem": problem} if state is not None else None,
        "kill_switch": {
            "engaged": kill_switch.engaged,
            "operator": kill_switch.operator or None,
            "at": kill_switch.at or None,
            "reason": kill_switch.reason or None,
            "source": kill_switch.source or None,
        },
        "live_allowed_symbols": list(env.live_allowed_symbols),
        "testnet_allowed_symbols": list(env.testnet_allowed_symbols),
        "exchange": env.exchange,
        "live_allowed_exchanges": list(env.live_allowed_exchanges),
        "require_manual_confirm_for_live": env.require_manual_confirm_for_live,
        "limits": {
            **{f"environment.{k}": getattr(env, k) for k in _LIMIT_KEYS},
            "live_risk.enabled": risk.enabled,
            "live_risk.block_on_violation": risk.block_on_violation,
            **{
                f"live_risk.{k}": getattr(risk, k)
                for k in (
                    "max_order_notional",
                    "max_symbol_exposure_notional",
                    "max_total_exposure_notional",
                    "max_open_positions",
                    "max_daily_loss_abs",
                    "max_daily_loss_pct",
                )
            },
        },
        "capital": capital_status(risk, None),
    }


def render_status(data: dict[str, Any]) -> str:
    verdict = "ALLOWED" if data["is_live_execution_allowed"] else "NOT ALLOWED"
    lines = [
        "peaktrade status",
        f"  config:          {data['config']}",
        f"  mode:            {data['mode']}  (effective: {data['effective_mode']})",
        f"  env profile:     {data['environment_profile'] or '-'}   risk profile: {data['risk_profile'] or '-'}",
        f"  live execution:  {verdict}",
        f"  is_live_execution_allowed: {data['is_live_execution_allowed']}",
        f"  reason:          {data['reason']}",
    ]
    if data.get("testnet_sending"):
        ts = data["testnet_sending"]
        lines.append(f"  testnet sending: {'ALLOWED' if ts['allowed'] else 'NOT ALLOWED'} ({ts['reason']})")
    lines += ["", "Gates"]
    width = max(len(g["gate"]) for g in [*data["gates"], *data.get("testnet_gates", [])])
    for g in data["gates"]:
        state = "open  " if g["open"] else "CLOSED"
        lines.append(f"  [{state}] {g['gate'].ljust(width)}  {g['value']:<12} {g['reason'] or ''}".rstrip())
    if data.get("testnet_gates"):
        lines += ["", "Testnet gates (testnet mode: these, not the live gates, decide)"]
        for g in data["testnet_gates"]:
            state = "open  " if g["open"] else "CLOSED"
            lines.append(f"  [{state}] {g['gate'].ljust(width)}  {g['value']:<12} {g['reason'] or ''}".rstrip())
    venue = data.get("venue")
    if venue:
        lines += ["", "Venue"]
        if venue.get("error"):
            lines.append(f"  {venue['venue']}: {venue['error']}")
        else:
            kind = "validate-only" if venue["validate_only"] else "testnet (sandbox)" if venue["testnet"] else "PRODUCTION"
            lines.append(f"  {venue['venue']}  {venue['endpoint']}  {kind}")
    st = data.get("state")
    if st:
        ident = st["identity"] or {}
        lines += ["", "State store", f"  {st['store']}  ({st['status']})"]
        if ident:
            lines.append(f"  store {ident['store_id']}, initialised by {ident['operator']} at {ident['at']}")
        if st["problem"]:
            lines.append(f"  PROBLEM: {st['problem']}")
    stage = data.get("readiness")
    if stage:
        signed = f", signed by {stage['signed_by']} at {stage['at']}" if stage["signed_by"] else ""
        lines += ["", "Readiness", f"  stage {stage['stage']} ({stage['name']}){signed}  (peaktrade readiness)"]
    ks = data["kill_switch"]
    lines += ["", "Kill switch"]
    if ks["engaged"]:
        lines.append(f"  ENGAGED by {ks['operator']} at {ks['at']} ({ks['source']}): {ks['reason']}")
    else:
        lines.append("  released")
    symbols = ", ".join(data["live_allowed_symbols"]) or "none"
    exchanges = ", ".join(data["live_allowed_exchanges"]) or "none"
    lines += [
        "",
        "Allow-lists",
        f"  live_allowed_symbols:   {symbols}",
        f"  testnet_allowed_symbols: {', '.join(data['testnet_allowed_symbols']) or 'none'}",
        f"  exchange:               {data['exchange'] or '-'} (live allowed: {exchanges})",
        f"  manual confirm (live):  {data['require_manual_confirm_for_live']}",
        "",
        "Limits in force",
    ]
    width = max(len(k) for k in data["limits"])
    for key, value in data["limits"].items():
        lines.append(f"  {key.ljust(width)}  {'not set' if value is None else value}")
    if data.get("capital"):
        lines += _capital_lines(data["capital"], (data.get("readiness") or {}).get("stage"))
    return "\n".join(lines)


def _capital_lines(capital: dict[str, Any], stage: int | None) -> list[str]:
    pct = capital["max_capital_pct_per_strategy"]
    schedule = capital["ramp_up_max_capital"]
    stage = capital["stage"] if capital["stage"] is not None else stage
    ramp_up = "not set"
    if schedule:
        from peaktrade_core.risk.capital import ramp_up_limit

        steps = ", ".join(f"stage {s}: {limit:g}" for s, limit in schedule.items())
        now = "unknown stage" if stage is None else f"at stage {stage}: {ramp_up_limit(schedule, stage):g}"
        ramp_up = f"{steps}; in force {now}"
    live = capital["max_open_positions_live"]
    return [
        "",
        "Capital limits (always block)",
        f"  capital per strategy:     {', '.join(f'{k}: {v:g}% of equity' for k, v in pct.items()) or 'not set'}",
        f"  ramp-up (max exposure):   {ramp_up}",
        f"  max_open_positions_live:  {'not set' if live is None else live}",
    ]
