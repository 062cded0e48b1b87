"""``peaktrade testnet list | budget | run``: testnet profiles run against budgets (testnet.py)."""

from __future__ import annotations

import sys
from typing import Any

import click

from peaktrade_core.cli import Env, echo_json, fail, pass_env
from peaktrade_core.cli_output import echo, history_options, json_option, newest_first

#: `testnet run` stopped at its budget (or the profile's duration); the rest was refused
EXIT_BUDGET = 5


@click.group()
def testnet() -> None:
    """Testnet profiles with per-session and per-day budgets (orders, notional)."""


@testnet.command("list")
@json_option
@pass_env
def testnet_list(env: Env, as_json: bool) -> None:
    """The configured profiles and limits."""
    config = env.config
    orch = config.testnet_orchestration
    profiles = []
    for name, p in sorted(config.testnet_profiles.items()):
        per_order = {s: p.quantity * p.reference_prices[s] for s in p.symbols}
        total = sum(per_order[p.symbols[i % len(p.symbols)]] for i in range(p.order_count))
        profiles.append({"name": name, "description": p.description, "symbols": list(p.symbols), "quantity": p.quantity,
                         "order_count": p.order_count, "sides": p.sides, "duration_seconds": p.duration_seconds,
                         "limits": p.limits or orch.default_limits, "notional_total": total,
                         "default": name == orch.default_profile})
    limits = {name: {k: getattr(lim, k) for k in ("max_orders_per_session", "max_notional_per_session", "max_orders_per_day", "max_notional_per_day")}
              for name, lim in sorted(config.testnet_limits.items())}
    if as_json:
        echo_json({"profiles": profiles, "limits": limits})
        return
    click.echo("profiles:" if profiles else "no testnet profiles configured ([testnet_profiles.<name>])")
    for p in profiles:
        mark = " (default)" if p["default"] else ""
        click.echo(f"  {p['name']}{mark}: {p['order_count']} orders of {p['quantity']:g} {', '.join(p['symbols'])} "
                   f"({p['sides']}), notional {p['notional_total']:,.2f}, limits {p['limits']}"
                   + (f", at most {p['duration_seconds']:g}s" if p["duration_seconds"] else ""))
        if p["description"]:
            click.echo(f"      {p['description']}")
    click.echo("limits:" if limits else "no testnet limits configured ([testnet_limits.<name>])")
    for name, lim in limits.items():
        click.echo(f"  {name}: per session {lim['max_orders_per_session']} orders / {lim['max_notional_per_session']:,.2f} notional; "
                   f"per day {lim['max_orders_per_day']} orders / {lim['max_notional_per_day']:,.2f} notional")


@testnet.command("budget")
@history_options(limit=10)
@json_option
@pass_env
def testnet_budget(env: Env, limit: int, since: float | None, as_json: bool) -> None:
    """Today's usage (UTC) of every limits set, and the latest testnet sessions (newest first)."""
    from peaktrade_core.testnet import day_usage, sessions, today

    config, store = env.config, env.store
    day = today()
    rows = []
    for name, lim in sorted(config.testnet_limits.items()):
        used = day_usage(store, name, day)
        rows.append({"limits": name, "day": day, **used.to_dict(),
                     "max_orders_per_day": lim.max_orders_per_day, "max_notional_per_day": lim.max_notional_per_day,
                     "orders_left": max(lim.max_orders_per_day - used.orders, 0),
                     "notional_left": max(lim.max_notional_per_day - used.notional, 0.0)})
    # --since filters the sessions listed; the day's budget is the day's, whatever --since says
    recent = newest_first(sessions(store, limit if since is None else 1_000_000), key="started_at", since=since, limit=limit)
    if as_json:
        echo_json({"day": day, "budgets": rows, "sessions": recent})
        return
    click.echo(f"testnet budgets for {day} (UTC):")
    for r in rows:
        click.echo(f"  {r['limits']}: orders {r['orders']}/{r['max_orders_per_day']} ({r['orders_left']} left), "
                   f"notional {r['notional']:,.2f}/{r['max_notional_per_day']:,.2f}, sessions {r['sessions']}, refused {r['refused']}")
    if recent:
        click.echo("sessions (newest first):")
    for s in recent:
        click.echo(f"  {s['started_at'][:19]}  {s['session']}  profile {s['profile']}  orders {s['orders']}  "
                   f"notional {s['notional']:,.2f}  refused {s['refused']}")


@testnet.command("run")
@click.option("--profile", "profile_name", metavar="NAME", help="The profile (default: [testnet_orchestration] default_profile).")
@click.option("--dry-run", is_flag=True, help="Show the orders and their budget verdicts; send and record nothing.")
@json_option
@pass_env
def testnet_run(env: Env, profile_name: str | None, dry_run: bool, as_json: bool) -> None:
    """Run a profile's orders through the normal pipeline in testnet mode, stopping at its
    budget: the orders past it are refused, named in the run log, never sent.

    Exit codes: as `session run`, and 5 when the budget (or the profile's duration) stopped
    the session before its last order."""
    from peaktrade_core.testnet import (
        TestnetError,
        plan,
        profile_orders,
        resolve_profile,
    )

    config = env.config
    try:
        name, profile, limits_name, limits = resolve_profile(config, profile_name)
    except TestnetError as exc:
        fail(str(exc))
    if dry_run:
        rows = plan(env.store, name, profile, limits_name, limits)
        if as_json:
            echo_json({"profile": name, "limits": limits_name, "dry_run": True, "orders": rows})
            return
        for r in rows:
            verdict = "would send" if r["would_send"] else f"REFUSED  {r['reason']}"
            echo(f"{r['source']:<28} {r['side']:<4} {r['quantity']:>10g} {r['symbol']:<10} notional {r['notional']:>12,.2f}  {verdict}")
        sent = sum(r["would_send"] for r in rows)
        click.echo(f"{len(rows)} orders: {sent} within budget {limits_name}, {len(rows) - sent} refused; dry run, nothing sent")
        return
    if config.environment.mode.value != "testnet":
        fail(f'{config.source or "<defaults>"}: environment.mode: is "{config.environment.mode.value}"; '
             'testnet run needs mode = "testnet" (nothing sent)')
    summary, budgeted = _run(env, name, profile, limits_name, limits, profile_orders(name, profile))
    data = summary.to_dict()
    data["testnet"] = {"profile": name, "limits": limits_name, "sent": budgeted.sent, "refused": budgeted.refused,
                       "stopped_by": budgeted.stopped_by}
    if as_json:
        echo_json(data)
    else:
        from peaktrade_core.cli_session import render_session_summary

        click.echo(render_session_summary(data))
        click.echo(f"  testnet profile {name}: {budgeted.sent} of {profile.order_count} orders handed to the pipeline (limits {limits_name})")
        if budgeted.refused:
            echo(f"  STOPPED: {len(budgeted.refused)} orders refused, first: {budgeted.refused[0]}")
    from peaktrade_core.cli_session import session_exit_code

    code = session_exit_code(data) or (EXIT_BUDGET if budgeted.refused else 0)
    if code:
        sys.exit(code)


def _run(env: Env, name: str, profile: Any, limits_name: str, limits: Any, orders: list[Any]) -> tuple[Any, Any]:
    from peaktrade_core.cli_session import _make_pipeline, run_pipeline
    from peaktrade_core.gates import EffectiveMode, effective_mode_of, evaluate_gates
    from peaktrade_core.testnet import BudgetedOrders

    pipeline = _make_pipeline(env)
    report = evaluate_gates(pipeline.env, pipeline.kill_switch.state())
    effective = effective_mode_of(report, pipeline.sends, bool(getattr(pipeline.venue, "validate_only", False)))
    if effective not in (EffectiveMode.TESTNET, EffectiveMode.TESTNET_VALIDATE_ONLY):
        if pipeline.alerts is not None:
            pipeline.alerts.close()
        fail(f"testnet run: effective mode is {effective.value}, not testnet (peaktrade status says which gate is closed); nothing sent")
    budgeted = BudgetedOrders(env.store, orders, name, limits_name, limits, profile.duration_seconds, session_id=lambda: pipeline.run_id)
    params = {"profile": name, "limits": limits_name, "order_count": profile.order_count, "symbols": list(profile.symbols),
              "quantity": profile.quantity}
    summary = run_pipeline(pipeline, budgeted, strategy=f"testnet:{name}", strategy_params=params, skipped=budgeted.refused)
    return summary, budgeted
