"""``peaktrade health``: the operator's pre-open and end-of-day check (see health.py)."""

from __future__ import annotations

import sys
from typing import Any

import click

from peaktrade_core.cli import Env, echo_json, pass_env


@click.command()
@click.option("--preset", type=click.Choice(["pre-open", "end-of-day"]), default="pre-open", show_default=True,
              help="pre-open: fit to trade now; end-of-day: today's runs, orders left open.")
@click.option("--alert-test", is_flag=True, help="Also deliver a test alert to every configured sink.")
@click.option("--max-clock-skew", type=click.FloatRange(min=0.0), default=2.0, show_default=True, metavar="SECONDS",
              help="Largest accepted difference between the venue clock and this host's.")
@click.option("--venue-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True, metavar="SECONDS",
              help="A venue call taking longer counts as a hung venue.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
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
        click.echo(render(checks, preset))
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
