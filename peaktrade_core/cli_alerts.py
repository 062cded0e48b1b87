"""``peaktrade alerts``: send a test alert, read the alert history."""

from __future__ import annotations

import re
import sys
import time

import click

from peaktrade_core.cli import Env, echo_json, fail, pass_env

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(value: str, now: float | None = None) -> float:
    """``1h``, ``30m``, ``2d``, ``90s`` (that long ago) or an ISO date/time (UTC if no zone)."""
    from datetime import UTC, datetime

    match = _RELATIVE.match(value.strip())
    if match:
        return (time.time() if now is None else now) - float(match[1]) * _UNIT_SECONDS[match[2]]
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"expected an ISO date/time or a duration such as 30m, 1h, 2d; got {value!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@click.group()
def alerts() -> None:
    """Alert sinks and the alert history."""


@alerts.command("test")
@click.option("--sink", "only", metavar="NAME", help="Only this sink (default: every configured sink).")
@click.option("--json", "as_json", is_flag=True)
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
            click.echo(f"{row['sink']}: " + ("delivered" if row["ok"] else f"FAILED: {row['error']}"))
        if not settings.enabled:
            click.echo("note: [live_alerts] enabled = false: sessions deliver no alerts")
    if not all(row["ok"] for row in rows):
        sys.exit(1)


@alerts.command("history")
@click.option("--level", type=click.Choice(["info", "warning", "critical"], case_sensitive=False), help="At least this level.")
@click.option("--since", metavar="WHEN", help="ISO date/time, or a duration: 30m, 1h, 2d.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_env
def alerts_history(env: Env, level: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """Recorded alerts, newest first, with each sink's delivery status."""
    from peaktrade_core.alerts import AlertHistory, AlertLevel
    from peaktrade_core.secrets import register_secrets_in

    register_secrets_in(env.config)  # rows are redacted with every secret the config names
    try:
        since_ts = parse_since(since) if since else None
    except ValueError as exc:
        fail(f"--since: {exc}")
    rows = AlertHistory(env.store).query(AlertLevel.parse(level) if level else None, since_ts, limit)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no alerts recorded")
    for row in rows:
        repeat = f" (x{row['repeat']})" if row["repeat"] > 1 else ""
        click.echo(f"{row['time']}  {row['level']:<8}  {row['source']}/{row['code']}: {row['message']}{repeat}")
        if not row["delivery_enabled"]:
            click.echo("    not delivered: [live_alerts] enabled = false")
        for d in row["deliveries"]:
            error = f" ({d['error']})" if d["error"] and d["status"] != "delivered" else ""
            click.echo(f"    {d['sink']}: {d['status']}, {d['attempts']} attempt(s){error}")
