"""``peaktrade runs``: list, monitor, verify and report recorded runs (RUN-1 … RUN-4)."""

from __future__ import annotations

import sys
import time

import click

from peaktrade_core.cli import Env, echo_json, fail, pass_env

#: seconds between re-renders of ``runs show --follow``
FOLLOW_INTERVAL = 1.0


def _resolve(env: Env, ref: str) -> str:
    from peaktrade_core.runlog import RunNotFound, resolve_run_id

    try:
        return resolve_run_id(env.store, ref)
    except RunNotFound as exc:
        fail(f"RUN: {exc}")


@click.group()
def runs() -> None:
    """Recorded runs: list, show (monitor), verify the tamper-evident log, report as HTML."""


@runs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_env
def runs_list(env: Env, as_json: bool) -> None:
    """Every recorded run, oldest first."""
    from peaktrade_core.runlog import list_runs, load_run_snapshot

    metas = list_runs(env.store)
    orders = {m.run_id: load_run_snapshot(env.store, m.run_id).orders for m in metas}
    if as_json:
        echo_json([{**m.to_dict(), "orders": orders[m.run_id]} for m in metas])
        return
    if not metas:
        click.echo("no runs recorded yet")
        return
    rows = [("RUN", "STATUS", "MODE", "EFFECTIVE", "STRATEGY", "STARTED", "ENDED", "ORDERS")]
    for m in metas:
        rows.append(
            (m.run_id, m.status, m.mode, m.effective_mode, m.strategy or "-", m.started_at, m.ended_at or "-", str(orders[m.run_id]))
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


@runs.command("show")
@click.argument("run", default="last")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable snapshot.")
@click.option("--follow", is_flag=True, help="Re-render every second until the run is no longer running.")
@pass_env
def runs_show(env: Env, run: str, as_json: bool, follow: bool) -> None:
    """Counts, rates, blocks by reason and heartbeat of RUN (an id, a unique prefix of
    one, or `last`)."""
    from peaktrade_core.runlog import load_run_snapshot, render_summary

    run_id = _resolve(env, run)
    clear = follow and not as_json and sys.stdout.isatty()
    try:
        while True:
            snapshot = load_run_snapshot(env.store, run_id)
            if clear:
                click.clear()
            if as_json:
                echo_json(snapshot.to_dict())
            else:
                click.echo(render_summary(snapshot))
            # a run whose process is gone will not change any more
            if not follow or snapshot.status != "running" or snapshot.process_alive is False:
                return
            time.sleep(FOLLOW_INTERVAL)
            if not clear:
                click.echo("")
    except KeyboardInterrupt:
        return


@runs.command("verify")
@click.argument("run", default="last")
@pass_env
def runs_verify(env: Env, run: str) -> None:
    """Check RUN's hash chain: exit 0 if intact, 1 naming the first bad record."""
    from peaktrade_core.runlog import verify_run

    run_id = _resolve(env, run)
    result = verify_run(env.store, run_id)
    if result.ok:
        click.echo(f"{run_id}: ok, {result.records} records verified")
        return
    click.echo(f"{run_id}: FAILED: {result.problems[0]}")
    for problem in result.problems[1:]:
        click.echo(f"  also: {problem}")
    sys.exit(1)


def _register_report() -> None:
    from peaktrade_core.cli_ops import runs_report

    runs.add_command(runs_report)


_register_report()
