"""``peaktrade runs``: list, monitor, verify and report recorded runs (RUN-1 … RUN-4)."""

from __future__ import annotations

import sys
import time

import click

from peaktrade_core.cli import Env, echo_json, fail, pass_env
from peaktrade_core.cli_output import echo, history_options, json_option, newest_first

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
@history_options()
@json_option
@pass_env
def runs_list(env: Env, limit: int | None, since: float | None, as_json: bool) -> None:
    """Every recorded run, newest first."""
    from peaktrade_core.runlog import list_runs, load_run_snapshot

    # choose the runs first: only the shown ones have their snapshot (order count) loaded
    chosen = newest_first(({"started_at": m.started_at, "meta": m} for m in list_runs(env.store)),
                          key="started_at", since=since, limit=limit)
    metas = [row["meta"] for row in chosen]
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
@json_option
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
@click.argument("run", required=False)
@click.option("--all", "all_runs", is_flag=True, help="Verify every recorded run.")
@json_option
@pass_env
def runs_verify(env: Env, run: str | None, all_runs: bool, as_json: bool) -> None:
    """Check RUN's hash chain (default: the last run; --all: every run): exit 0 if intact,
    1 naming the first bad record of each run that fails. With an audit key, also the
    signed heads and the signed run sequence (--all: deleted runs too)."""
    from peaktrade_core.runlog import (
        AUDIT_SIGNED,
        AUDIT_UNKEYED,
        AuditKeyError,
        RunNotFound,
        VerifyResult,
        audit_keys_from,
        list_runs,
        resolve_run_id,
        verify_run,
        verify_sequence,
    )

    if all_runs and run:
        fail("give RUN or --all, not both")
    try:
        audit = audit_keys_from(env.config)
    except AuditKeyError as exc:
        fail(str(exc))
    sequence = verify_sequence(env.store, audit) if audit is not None else None
    #: with a key, RUN may name a run the store lost but the signed sequence remembers
    deleted: list[str] = []
    if all_runs:
        run_ids = [m.run_id for m in list_runs(env.store)]
    else:
        try:
            run_ids = [resolve_run_id(env.store, run or "last")]
        except RunNotFound as exc:
            deleted = [r for r in (sequence.deleted if sequence else []) if run and r.startswith(run)]
            if len(deleted) != 1:
                fail(f"RUN: {exc}")
            run_ids = []
    results = [verify_run(env.store, run_id, audit=audit, sequence=sequence) for run_id in run_ids]
    if sequence is not None:  # runs the signed sequence names but the store lost
        results += [VerifyResult(r, False, 0, sequence.run_problems[r], AUDIT_SIGNED) for r in (sequence.deleted if all_runs else deleted)]
    broken = sequence.problems if sequence is not None and all_runs else []
    if as_json:
        rows = [{"run_id": v.run_id, "ok": v.ok, "records": v.records, "problems": list(v.problems), "audit": v.audit} for v in results]
        if broken:
            rows.append({"run_id": None, "ok": False, "records": 0, "problems": broken, "audit": "sequence"})
        echo_json(rows)
    else:
        for v in results:
            if v.ok:
                note = {AUDIT_SIGNED: ", head signed", AUDIT_UNKEYED: ""}.get(v.audit, ", not signed (started before the audit key was configured)")
                echo(f"{v.run_id}: OK, {v.records} records verified{note}")
                continue
            echo(f"{v.run_id}: FAILED: {v.problems[0]}")
            for problem in v.problems[1:]:
                echo(f"  also: {problem}")
        for problem in broken:
            echo(f"FAILED: {problem}")
        if all_runs:
            bad = sum(not v.ok for v in results)
            echo(f"{len(results)} runs: {len(results) - bad} OK, {bad} FAILED" if results else "no runs recorded yet")
        if sequence is None:
            echo("unkeyed: no [state] audit_key is configured, so an edit that recomputes the hash chain is not detected")
        elif all_runs and sequence.head is not None:
            seq, head = sequence.head
            echo(f"signed run sequence: {sequence.entries} entries, head {seq}:{head[:16]} (note it elsewhere to anchor the newest runs)")
    if broken or any(not v.ok for v in results):
        sys.exit(1)


#: the columns of `runs orders` and `runs export`
ORDER_FIELDS = ("seq", "time", "client_order_id", "symbol", "side", "quantity", "price", "status", "reasons",
                "executor", "filled_quantity", "fill_price", "fees")


def _order_rows(env: Env, run_id: str) -> list[dict]:
    """Every order of the run as recorded, oldest first; one flat row each."""
    from datetime import UTC, datetime

    from peaktrade_core.runlog import iter_run_events

    rows = []
    for e in iter_run_events(env.store, run_id):
        if e.kind != "order":
            continue
        filled = sum(float(f.get("quantity", 0.0)) for f in e.fills)
        value = sum(float(f.get("quantity", 0.0)) * float(f.get("price", 0.0)) for f in e.fills)
        rows.append({
            "seq": e.seq,
            "time": datetime.fromtimestamp(e.timestamp, UTC).isoformat(timespec="microseconds"),
            "client_order_id": e.client_order_id, "symbol": e.symbol, "side": e.side, "quantity": e.quantity,
            "price": e.price, "status": e.status, "reasons": list(e.reasons), "executor": e.executor,
            "filled_quantity": filled, "fill_price": (value / filled) if filled else None,
            "fees": sum(float(f.get("fee", 0.0)) for f in e.fills),
        })
    return rows


def _filtered(rows: list[dict], status: tuple[str, ...], symbol: tuple[str, ...], side: str | None) -> list[dict]:
    return [r for r in rows if (not status or r["status"] in status) and (not symbol or r["symbol"] in symbol)
            and (side is None or r["side"] == side)]


_filters = [
    click.option("--status", multiple=True, metavar="STATUS", help="Only orders with this status (filled, risk_blocked, ...); repeatable."),
    click.option("--symbol", multiple=True, metavar="SYMBOL", help="Only this symbol; repeatable."),
    click.option("--side", type=click.Choice(["buy", "sell"]), help="Only buys or sells."),
]


def _with_filters(function):
    for option in reversed(_filters):
        function = option(function)
    return function


@runs.command("orders")
@click.argument("run", default="last")
@_with_filters
@history_options()
@json_option
@pass_env
def runs_orders(env: Env, run: str, status: tuple[str, ...], symbol: tuple[str, ...], side: str | None,
                limit: int | None, since: float | None, as_json: bool) -> None:
    """Every order of RUN as recorded (newest first): status, reasons, fills."""
    rows = newest_first(_filtered(_order_rows(env, _resolve(env, run)), status, symbol, side), key="time", since=since, limit=limit)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no orders match")
        return
    for r in rows:
        fill = f"filled {r['filled_quantity']:g} @ {r['fill_price']:,.2f}" if r["filled_quantity"] else ""
        price = f"{r['price']:,.2f}" if r["price"] is not None else "-"
        click.echo(f"{r['time'][:23]}  {r['client_order_id']}  {r['side']:<4} {r['quantity']:>12g} {r['symbol']:<10} "
                   f"@ {price:>12}  {r['status']:<13} {fill}".rstrip())
        for reason in r["reasons"]:
            click.echo(f"    {reason}")


@runs.command("export")
@click.argument("run", default="last")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), required=True, help="csv: one row per order; jsonl: one JSON object per order.")
@_with_filters
@click.option("--output", "-o", metavar="FILE", help="Write to FILE (default: standard output).")
@pass_env
def runs_export(env: Env, run: str, fmt: str, status: tuple[str, ...], symbol: tuple[str, ...], side: str | None,
                output: str | None) -> None:
    """Every order of RUN, oldest first, as CSV or JSON lines (reasons joined by "; " in CSV)."""
    import csv
    import io
    import json

    rows = _filtered(_order_rows(env, _resolve(env, run)), status, symbol, side)
    buffer = io.StringIO()
    if fmt == "csv":
        writer = csv.DictWriter(buffer, fieldnames=ORDER_FIELDS, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, "reasons": "; ".join(r["reasons"])})
    else:
        for r in rows:
            buffer.write(json.dumps(r, allow_nan=False) + "\n")
    if output is None:
        click.echo(buffer.getvalue(), nl=False)
        return
    from pathlib import Path

    target = Path(output)
    try:
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        fail(f"--output {target}: {exc.strerror or exc}")
    click.echo(f"wrote {len(rows)} orders to {target}", err=True)


def _register_report() -> None:
    from peaktrade_core.cli_ops import runs_report

    runs.add_command(runs_report)


_register_report()
