"""``peaktrade health``: the operator's pre-open and end-of-day check (see health.py)."""

from __future__ import annotations

import sys
from typing import Any

import click

from peaktrade_core.cli import Env, echo_json, pass_env
from peaktrade_core.cli_output import echo, json_option


@click.command()
@click.option("--preset", type=click.Choice(["pre-open", "end-of-day"]), default="pre-open", show_default=True,
              help="pre-open: fit to trade now; end-of-day: today's runs, orders left open.")
@click.option("--alert-test", is_flag=True, help="Also deliver a test alert to every configured sink.")
@click.option("--max-clock-skew", type=click.FloatRange(min=0.0), default=2.0, show_default=True, metavar="SECONDS",
              help="Largest accepted difference between the venue clock and this host's.")
@click.option("--venue-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True, metavar="SECONDS",
              help="A venue call taking longer counts as a hung venue.")
@json_option
@pass_env
def health(env: Env, preset: str, alert_test: bool, max_clock_skew: float, venue_timeout: float, as_json: bool) -> None:
    """Check config, plugins, state store, run log, kill switch, limits, venue and alerts.

    One line per check, with what to do when it is not ok. Exit 0 when nothing failed
    (warnings allowed), 1 otherwise: fit for cron or a systemd timer.
    """
    from peaktrade_core.health import HealthOptions, passed, record_result, render, run_health

    options = HealthOptions(preset, alert_test, max_clock_skew, venue_timeout)
    checks, store = run_health(env.config_path, options)
    if store is not None:
        record_result(store, preset, checks)
    ok = passed(checks)
    if as_json:
        echo_json({"preset": preset, "ok": ok, "checks": [c.to_dict() for c in checks]})
    else:
        echo(render(checks, preset))
    if not ok:
        sys.exit(1)


@click.command("report")
@click.argument("run", default="last")
@click.option("--output", "-o", metavar="FILE", help="Where to write the HTML (default: run-<RUN>.html here; - for stdout).")
@pass_env
def runs_report(env: Env, run: str, output: str | None) -> None:
    """Write one self-contained HTML report of RUN (an id, a unique prefix, or `last`):
    summary, equity and exposure curves, fills, blocks by reason, alerts, gate and risk
    evidence and the hash-chain verification. No script, no external resource."""
    from pathlib import Path

    from peaktrade_core.cli import fail
    from peaktrade_core.report import collect, render_html
    from peaktrade_core.runlog import RunNotFound, resolve_run_id

    try:
        run_id = resolve_run_id(env.store, run)
    except RunNotFound as exc:
        fail(f"RUN: {exc}")
    data = collect(env.store, run_id)
    page = render_html(data)
    if output == "-":
        click.echo(page)
    else:
        _write(Path(output or f"run-{run_id}.html"), page)
    if not data["verify"]["ok"]:  # the report is written either way: it is the evidence
        fail(f"{run_id}: hash chain does not verify ({data['verify']['problems'][0]}); the report says so", 1)


def _write(target: Any, page: str) -> None:
    from peaktrade_core.cli import fail

    try:
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        fail(f"--output {target}: {exc.strerror or exc}")
    click.echo(f"wrote {target}")


# -- readiness ----------------------------------------------------------------------------


def _criteria_options(function: Any) -> Any:
    function = click.option("--min-hours", type=click.FloatRange(min=0.0), default=1.0, show_default=True,
                            help="Total duration the counted sessions of a stage must reach.")(function)
    function = click.option("--min-sessions", type=click.IntRange(min=0), default=3, show_default=True,
                            help="Clean sessions (finished, verified, no CRITICAL alert) a stage needs.")(function)
    function = click.option("--days", type=click.FloatRange(min=0.0, min_open=True), default=7.0, show_default=True,
                            help="Drills, health checks and alert deliveries count when at most this old.")(function)
    return function


_stage_option = click.option("--stage", type=click.IntRange(1, 4), metavar="N", help="The stage to enter (1-4; default: the next one).")


@click.group(invoke_without_command=True)
@_stage_option
@json_option
@_criteria_options
@click.pass_context
def readiness(ctx: click.Context, stage: int | None, as_json: bool, days: float, min_sessions: int, min_hours: float) -> None:
    """Stages 0-4 (research, testnet shadow, testnet, shadow live, live): which items of
    the next stage (or --stage N) the records show met, which are open, and the manual
    items for the people signing. Exit 1 while a measurable item is open."""
    if ctx.invoked_subcommand is not None:
        return
    from peaktrade_core.readiness import STAGES, Criteria, current_stage, evaluate, render, signoffs

    env: Env = ctx.obj
    config, store = env.config, env.store
    current = current_stage(store)
    target = stage or min(current + 1, 4)
    items = evaluate(config, store, target, Criteria(days, min_sessions, min_hours))
    ok = all(i.met for i in items if i.measurable)
    if as_json:
        echo_json({"current_stage": current, "current_stage_name": STAGES[current], "stage": target, "stage_name": STAGES[target],
                   "measurable_met": ok, "items": [i.to_dict() for i in items], "signoffs": signoffs(store)})
    else:
        echo(render(target, items, current))
    if not ok:
        sys.exit(1)


@readiness.command("sign-off")
@click.option("--stage", type=click.IntRange(1, 4), metavar="N", required=True, help="The stage entered (1-4).")
@click.option("--reason", help="What was reviewed and decided (required).")
@click.option("--operator", help="Who signs (default: the OS user).")
@json_option
@_criteria_options
@pass_env
def readiness_sign_off(env: Env, stage: int, reason: str | None, operator: str | None, as_json: bool,
                       days: float, min_sessions: int, min_hours: float) -> None:
    """Record that you signed stage N (who, when, why, and the evidence). Refused while a
    measurable item is open or the stage below is not reached; stage 4 needs two people."""
    from peaktrade_core.cli import fail
    from peaktrade_core.readiness import STAGES, Criteria, ReadinessError, sign_off
    from peaktrade_core.secrets import redact_reason
    from peaktrade_core.state import current_operator

    if not reason or not reason.strip():
        fail("--reason is required: say what was reviewed and decided")
    reason = redact_reason(reason, env.config)
    operator = redact_reason(operator, env.config) if operator else current_operator()
    try:
        entry = sign_off(env.config, env.store, stage, reason, operator, Criteria(days, min_sessions, min_hours))
    except ReadinessError as exc:
        fail(str(exc))
    if as_json:
        echo_json(entry)
        return
    click.echo(f"stage {stage} ({STAGES[stage]}) signed by {entry['operator']} at {entry['at']} "
               f"({entry['signatures']} of {entry['needed']} signature(s)); current stage {entry['current_stage']}")


# -- evidence -----------------------------------------------------------------------------


@click.command()
@json_option
@click.option("--output", "-o", metavar="FILE", help="Write the report to FILE (text, or JSON with --json) instead of printing it.")
@pass_env
def evidence(env: Env, as_json: bool, output: str | None) -> None:
    """Every audited control with its config, drills, tests and latest recorded result.

    The controls are those of docs/controls.md (MiFID II RTS 6, SEC Rule 15c3-5): for each,
    the config keys in force, the drills and tests that exercise it, and the latest result
    the records show with its date. Exit 1 when a control's latest result failed."""
    import json
    from pathlib import Path

    from peaktrade_core.evidence import FAILED, collect, render

    entries = collect(env.config, env.store)
    source = env.config.source or "built-in defaults"
    if as_json:
        text = json.dumps({"config": source, "config_sha256": env.config.sha256, "controls": entries}, indent=2, default=str)
    else:
        text = render(entries, source)
    if output:
        _write(Path(output), text + "\n")
    else:
        (click.echo if as_json else echo)(text)
    if any(e["result"] == FAILED for e in entries):
        sys.exit(1)
