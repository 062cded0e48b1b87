"""``peaktrade alerts``: send a test alert, read the alert history."""

from __future__ import annotations

import sys

import click

from peaktrade_core.cli import Env, echo_json, fail, pass_env
from peaktrade_core.cli_output import echo, history_options, json_option, parse_since  # noqa: F401 - parse_since: imported from here too


@click.group()
def alerts() -> None:
    """Alert sinks and the alert history."""


@alerts.command("test")
@click.option("--sink", "only", metavar="NAME", help="Only this sink (default: every configured sink).")
@json_option
@pass_env
def alerts_test(env: Env, only: str | None, as_json: bool) -> None:
    """Send a test alert and report delivery per sink. Exit 1 if a sink failed."""
    from peaktrade_core.alerts import AlertEvent, AlertHistory, AlertLevel, deliver_alert
    from peaktrade_core.plugins import get_plugin_manager
    from peaktrade_core.secrets import register_secrets_in

    config = env.config
    register_secrets_in(config)  # delivery errors quote URLs; every printed line is redacted
    settings = config.live_alerts
    sinks = (only,) if only else tuple(settings.sinks)
    if not sinks:
        fail("no sinks configured: set [live_alerts] sinks, or pass --sink NAME")
    pm = get_plugin_manager()
    pm.configure(config)
    event = AlertEvent(AlertLevel.INFO, "cli", "alert_test", "peaktrade alert delivery test", dedup_key="")
    history = AlertHistory(env.store)
    history.record([event], sinks)
    results = deliver_alert(pm, event, sinks, settings.sink_timeout_seconds)
    for delivery in results.values():
        history.mark(event.id, delivery)
    rows = [{"sink": s, "ok": results[s].ok, "error": results[s].error} for s in sinks]
    if as_json:
        echo_json({"alert_id": event.id, "enabled": settings.enabled, "deliveries": rows})
    else:
        for row in rows:
            echo(f"{row['sink']}: " + ("delivered" if row["ok"] else f"FAILED: {row['error']}"))
        if not settings.enabled:
            click.echo("note: [live_alerts] enabled = false: sessions deliver no alerts")
    if not all(row["ok"] for row in rows):
        sys.exit(1)


@alerts.command("history")
@click.option("--level", type=click.Choice(["info", "warning", "critical"], case_sensitive=False), help="At least this level.")
@history_options(limit=100, run=True)
@json_option
@pass_env
def alerts_history(env: Env, level: str | None, limit: int, since: float | None, run_filter: str | None, as_json: bool) -> None:
    """Recorded alerts, newest first, with each sink's delivery status."""
    from peaktrade_core.alerts import AlertHistory, AlertLevel
    from peaktrade_core.secrets import register_secrets_in

    register_secrets_in(env.config)  # rows are redacted with every secret the config names
    history = AlertHistory(env.store)
    min_level = AlertLevel.parse(level) if level else None
    if run_filter is None:
        rows = history.query(min_level, since, limit)
    else:  # alerts name their run in their context
        run_id = _resolve_run(env, run_filter)
        rows = [r for r in history.query(min_level, since) if (r.get("context") or {}).get("run_id") == run_id][:limit]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no alerts recorded")
    for row in rows:
        repeat = f" (x{row['repeat']})" if row["repeat"] > 1 else ""
        echo(f"{row['time']}  {row['level']:<8}  {row['source']}/{row['code']}: {row['message']}{repeat}")
        if not row["delivery_enabled"]:
            click.echo("    not delivered: [live_alerts] enabled = false")
        for d in row["deliveries"]:
            error = f" ({d['error']})" if d["error"] and d["status"] != "delivered" else ""
            click.echo(f"    {d['sink']}: {d['status']}, {d['attempts']} attempt(s){error}")


def _resolve_run(env: Env, ref: str) -> str:
    from peaktrade_core.runlog import RunNotFound, resolve_run_id

    try:
        return resolve_run_id(env.store, ref)
    except RunNotFound as exc:
        fail(f"--run: {exc}")
