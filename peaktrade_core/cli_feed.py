"""``peaktrade feed``: record a venue's market data, show a recording, run orders on live or
recorded prices, and compare two runs (docs/marketdata.md)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from peaktrade_core.cli import Env, echo_json, fail, pass_env


def _symbols(text: str | None) -> list[str] | None:
    if text is None:
        return None
    symbols = [s.strip() for s in text.split(",") if s.strip()]
    if not symbols:
        fail("--symbols: give at least one symbol, e.g. BTC/EUR,ETH/EUR")
    return symbols


def _open(env: Env, source: str | None, symbols: list[str] | None, speed: float = 0.0) -> Any:
    from peaktrade_core.marketdata import FeedError, open_feed, open_recorded_feed
    from peaktrade_core.plugins import PluginError, get_plugin_manager

    try:
        if source is not None and _is_file(source):
            return open_recorded_feed(source, speed=speed)
        return open_feed(env.config, get_plugin_manager(), source=source, symbols=symbols)
    except (FeedError, PluginError) as exc:
        fail(str(exc))


def _is_file(source: str) -> bool:
    from peaktrade_core.marketdata import is_recorded_source

    return is_recorded_source(source)


@click.group()
def feed() -> None:
    """Market data: record a venue's feed, show a recording, run orders on quotes, compare runs."""


@feed.command("record")
@click.option("--source", required=True, metavar="VENUE", help="The venue whose feed to record (its plugin's feed).")
@click.option("--symbols", required=True, metavar="A,B", help="Symbols to record, comma separated (BTC/EUR,ETH/EUR).")
@click.option("--output", required=True, metavar="FILE", help="The recording (.csv or .jsonl); overwritten.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), metavar="S", help="Stop after S seconds.")
@click.option("--count", type=click.IntRange(min=1), metavar="N", help="Stop after N quotes.")
@pass_env
def feed_record(env: Env, source: str, symbols: str, output: str, duration: float | None, count: int | None) -> None:
    """Write a venue's live feed to a recording (replay it with a file source). Stops after
    --duration or --count, or on Ctrl-C; every quote is on disk as soon as it arrives."""
    from peaktrade_core.marketdata import FeedError, QuoteWriter

    wanted = _symbols(symbols)
    if _is_file(source):
        fail(f"--source {source}: record a venue's feed, not a file")
    live = _open(env, source, wanted)
    try:
        writer = QuoteWriter(output)
    except FeedError as exc:
        live.close()
        fail(str(exc))
    deadline = None if duration is None else time.monotonic() + duration
    stopped = "the feed ended"
    try:
        while count is None or writer.count < count:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                stopped = "duration reached"
                break
            quote = live.next_quote(timeout=1.0 if left is None else min(1.0, left))
            if quote is None:
                if live.ended:
                    break
                continue
            writer.write(quote)
        else:
            stopped = "count reached"
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        live.close()
        writer.close()
    if live.error:
        click.echo(f"warning: {live.error}", err=True)
    click.echo(f"recorded {writer.count} quote(s) of {', '.join(wanted)} from {source} to {output} ({stopped})")


@feed.command("show")
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def feed_show(file: str, as_json: bool) -> None:
    """Summarise a recording: quotes, time span, and per symbol the count, first and last
    time, low, high and last price, and the longest gap between its quotes."""
    from peaktrade_core.marketdata import FeedError, read_recorded_quotes

    per: dict[str, dict[str, Any]] = {}
    total, first, last = 0, None, None
    try:
        for q in read_recorded_quotes(file):
            total += 1
            first = q.at if first is None else first
            last = q.at
            s = per.get(q.symbol)
            if s is None:
                per[q.symbol] = {"quotes": 1, "first": q.at, "last": q.at, "low": q.price, "high": q.price,
                                 "last_price": q.price, "longest_gap_seconds": 0.0}
                continue
            s["quotes"] += 1
            s["longest_gap_seconds"] = max(s["longest_gap_seconds"], q.at - s["last"])
            s["last"], s["last_price"] = q.at, q.price
            s["low"], s["high"] = min(s["low"], q.price), max(s["high"], q.price)
    except FeedError as exc:
        fail(str(exc))
    data = {"file": file, "quotes": total, "first": first, "last": last,
            "seconds": (last - first) if total else 0.0, "symbols": dict(sorted(per.items()))}
    if as_json:
        echo_json(data)
        return
    click.echo(f"{file}: {total} quote(s), {data['seconds']:.1f}s" + (f" from {_iso(first)} to {_iso(last)}" if total else ""))
    for symbol, s in data["symbols"].items():
        click.echo(
            f"  {symbol}: {s['quotes']} quote(s), low {s['low']:g}, high {s['high']:g}, last {s['last_price']:g}, "
            f"longest gap {s['longest_gap_seconds']:.1f}s"
        )


def _iso(epoch: float | None) -> str:
    from datetime import UTC, datetime

    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


@feed.command("session")
@click.option("--source", required=True, metavar="VENUE|FILE", help="A venue's live feed, or a recording (.csv, .jsonl).")
@click.option("--orders", "orders_file", required=True, metavar="FILE", help="Orders file (.csv or .jsonl).")
@click.option("--symbols", metavar="A,B", help="Symbols to quote (a venue source; default: the orders' symbols).")
@click.option("--record-feed", metavar="FILE", help="Also write every quote seen to FILE (replay it in paper later).")
@click.option("--wait", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="S",
              help="Longest an order waits for a fresh quote of its symbol; then the stale-data check decides.")
@click.option("--speed", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Replay speed of a recording (0: as fast as possible, 1: real time).")
@click.option("--fresh-account", is_flag=True, help="Start the paper/shadow account over (flat, starting cash).")
@click.option("--json", "as_json", is_flag=True, help="Summary as JSON.")
@pass_env
def feed_session(env: Env, source: str, orders_file: str, symbols: str | None, record_feed: str | None, wait: float,
                 speed: float, fresh_account: bool, as_json: bool) -> None:
    """Run an orders file on quotes, in paper or shadow mode only: each order goes when a
    fresh quote of its symbol arrived, priced at it (an empty reference price), and fills
    are simulated at it. Nothing is sent."""
    from attrs import evolve

    from peaktrade_core.cli_session import render_session_summary, run_pipeline, session_exit_code
    from peaktrade_core.environment import TradingMode
    from peaktrade_core.executors import NoExecutorError
    from peaktrade_core.marketdata import FeedClock, FeedError, QuoteWriter, orders_at_quotes
    from peaktrade_core.orderfile import OrderFileError, load_orders
    from peaktrade_core.pipeline import ExecutionPipeline
    from peaktrade_core.plugins import PluginError
    from peaktrade_core.venues import VenueError

    config = env.config
    if config.environment.mode not in (TradingMode.PAPER, TradingMode.SHADOW):
        fail(f"{config.source or 'config'}: [environment] mode = {config.environment.mode.value!r}: "
             "feed session runs in paper or shadow mode only (nothing is sent)")
    try:
        orders = load_orders(orders_file)
    except OrderFileError as exc:
        fail(str(exc))
    if orders.bad:
        fail(orders.skipped_rows() + ["nothing was executed"])
    wanted = _symbols(symbols) or sorted({o.symbol for o in orders})
    if not wanted:
        fail(f"{orders_file}: no orders")
    replay = _is_file(source)
    live = _open(env, source, wanted, speed)
    recorder = None
    try:
        if record_feed is not None:
            try:
                recorder = QuoteWriter(record_feed)
            except FeedError as exc:
                fail(str(exc))
        clock = FeedClock() if replay else None
        # one order per decision: each is judged at the quote it waited for
        config = evolve(config, execution=evolve(config.execution, batch_size=1))
        try:
            pipeline = ExecutionPipeline(config, store=env.store, clock=clock or time.time)
        except (NoExecutorError, VenueError, PluginError) as exc:
            fail(str(exc))
        params = {"feed": source, "feed_name": live.name, "orders": orders_file, "sha256": orders.sha256,
                  "rows": len(orders), "wait_seconds": wait}
        if record_feed is not None:
            params["recorded_to"] = record_feed
        summary = run_pipeline(
            pipeline, orders_at_quotes(pipeline, live, orders, wait=wait, clock=clock, recorder=recorder),
            strategy=f"feed:{'replay' if replay else 'live'}", strategy_params=params, fresh_account=fresh_account,
        )
    finally:
        live.close()
        if recorder is not None:
            recorder.close()
    data = summary.to_dict()
    data["feed"] = {"source": source, "name": live.name, "recorded_to": record_feed, "error": getattr(live, "error", None)}
    if as_json:
        echo_json(data)
    else:
        click.echo(render_session_summary(data))
        if record_feed is not None:
            click.echo(f"quotes recorded to {record_feed}: replay them with --source {record_feed}")
    code = session_exit_code(data)
    if code:
        sys.exit(code)


@feed.command("diverge")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--limit", type=click.IntRange(min=0), default=10, show_default=True, help="Differing orders listed.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report (--limit applies to the pairs listed).")
@pass_env
def feed_diverge(env: Env, run_a: str, run_b: str, limit: int, as_json: bool) -> None:
    """How far RUN_B diverges from RUN_A (ids, unique prefixes or `last`): typically a shadow
    session on a live feed against a paper replay of its recording. Orders are paired by
    their place in each run; statuses and fill prices are compared."""
    from peaktrade_core.divergence import compare_runs, render
    from peaktrade_core.runlog import RunNotFound, resolve_run_id

    try:
        a, b = resolve_run_id(env.store, run_a), resolve_run_id(env.store, run_b)
    except RunNotFound as exc:
        fail(f"RUN: {exc}")
    report = compare_runs(env.store, a, b)
    if as_json:
        echo_json(report.to_dict(limit))
    else:
        click.echo(render(report, limit))
