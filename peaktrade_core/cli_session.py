"""``peaktrade session run`` (the main job) and ``peaktrade orders preview``."""

from __future__ import annotations

import importlib.util
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import click

from peaktrade_core.cli import Env, echo_json, fail, pass_env
from peaktrade_core.cli_output import echo, json_option

EXAMPLE_DIR = Path("examples") / "ma_crossover"

#: `session run` exit codes beyond 0 (finished), 1 (crash) and 2 (refused: bad input)
EXIT_KILL_SWITCH = 3  # the kill switch engaged during the run
EXIT_ORDER_ERROR = 4  # an order ended in error (executor, venue, or refused by the accounts)
EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}  # stopped early, after the batch in hand
EXIT_STATE_STORE = 6  # the state store could not be read or written: trading stopped

#: garbage-collection thresholds while a session runs (generation 0, 1, 2; Python: 700, 10, 10)
SESSION_GC_THRESHOLDS = (10_000, 10, 100)


def _find_example() -> Path:
    import site

    # a checkout (cwd, or beside the package), else where the wheel put it (<prefix>/share/peaktrade)
    installed = [Path(prefix) / "share" / "peaktrade" for prefix in (sys.prefix, site.USER_BASE or "") if prefix]
    for base in (Path.cwd(), Path(__file__).resolve().parents[1], *installed):
        candidate = base / EXAMPLE_DIR / "strategy.py"
        if candidate.is_file():
            return candidate
    fail(f"the bundled example ({EXAMPLE_DIR}/strategy.py) is not here: run from a peaktrade source checkout")


def _example_orders() -> tuple[Iterator[Any], str, dict[str, Any]]:
    path = _find_example()
    spec = importlib.util.spec_from_file_location("peaktrade_example_strategy", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.generate_orders(module.load_prices()), module.STRATEGY, dict(module.PARAMS)


def _checked_file_orders(source: str, skip_invalid: bool, fmt: str | None = None) -> Any:
    """Read and validate the whole source once (``-``: standard input); with a bad row and
    no ``skip_invalid`` nothing is executed. What is returned is what runs: the source is
    never read again."""
    from peaktrade_core.orderfile import OrderFileError, load_orders

    try:
        parsed = load_orders(source, fmt=fmt, skip_invalid=skip_invalid)
    except OrderFileError as exc:
        fail(str(exc))
    if parsed.bad and not skip_invalid:
        fail(parsed.skipped_rows() + ["nothing was executed (use --skip-invalid to run the valid rows)"])
    return parsed


def _terminal_confirm():
    if not sys.stdin.isatty():
        return None

    def confirm(order: Any) -> bool:
        notional = order.notional
        shown = f"{notional:,.2f}" if notional is not None else "unknown"
        return click.confirm(
            f"LIVE ORDER: {order.side.value} {order.quantity:g} {order.symbol} (notional {shown}) — send?",
            default=False,
        )

    return confirm


def _make_pipeline(env: Env, record: bool = True, executor: Any = None):
    from peaktrade_core.executors import NoExecutorError
    from peaktrade_core.pipeline import ExecutionPipeline
    from peaktrade_core.runlog import AuditKeyError
    from peaktrade_core.venues import VenueError

    try:
        return ExecutionPipeline(
            env.config, store=env.store, alerts=_dispatcher(env), confirm=_terminal_confirm(), record=record, executor=executor
        )
    except (NoExecutorError, VenueError, AuditKeyError) as exc:
        fail(f"{env.config.source or 'config'}: {exc}" if isinstance(exc, VenueError) else str(exc))


def _dispatcher(env: Env) -> Any:
    from peaktrade_core.alerts import AlertDispatcher
    from peaktrade_core.plugins import get_plugin_manager

    get_plugin_manager().configure(env.config)  # sink plugins need their settings before resends
    dispatcher = AlertDispatcher(env.config.live_alerts, env.store)
    dispatcher.start()
    # closed (flushed, the rest kept for the next start) however the command ends: a refusal
    # before the run, `orders preview`; a session's run closes it earlier, before its summary
    click.get_current_context().call_on_close(dispatcher.close)
    return dispatcher


@click.group()
def session() -> None:
    """Run orders through risk, gates and the configured executor."""


@session.command("run")
@click.option("--orders", "orders_file", metavar="FILE", help="Orders file (.csv or .jsonl); - reads standard input.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="Orders format (default: by suffix; stdin: sniffed).")
@click.option("--example", is_flag=True, help="The bundled moving-average crossover example.")
@click.option("--skip-invalid", is_flag=True, help="Run the valid rows of a file; record the skipped ones.")
@click.option("--feed", metavar="PATH|VENUE", help="The feed --strategy runs on: a recorded quotes file or a venue's feed (default: [marketdata] source).")
@click.option("--strategy", default=None, metavar="module:Class", help="The strategy to run on the feed; with --orders/--example: the name recorded in the run log.")
@click.option("--params", "param_pairs", multiple=True, metavar="k=v", help="A strategy parameter (repeatable; values are TOML: 12, 0.5, true, \"x\").")
@click.option("--params-file", metavar="FILE", help="Strategy parameters from a TOML or JSON file (--params override it).")
@json_option
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option("--fresh-account", is_flag=True, help="Start the paper/shadow account over (flat, starting cash); recorded in the run log.")
@pass_env
def session_run(env: Env, orders_file: str | None, fmt: str | None, example: bool, skip_invalid: bool, feed: str | None, strategy: str | None,
                param_pairs: tuple[str, ...], params_file: str | None, as_json: bool, progress: bool | None, fresh_account: bool) -> None:
    """Run a session: the main job. Prints a summary and the run id.

    Orders come from a file (--orders), the bundled example (--example), or a strategy
    on a market-data feed (--strategy module:Class [--feed PATH|VENUE]; without --feed:
    the configured [marketdata] source).

    Exit codes: 0 finished; 1 an unexpected error, or the strategy raised (run `failed`);
    2 refused (bad input, nothing ran); 3 the kill switch engaged during the run; 4 an order ended in error;
    6 the state store could not be read or written (trading stopped); 74 the output could
    not be written; 130 / 143 stopped by Ctrl-C / SIGTERM after the batch in hand (run
    `interrupted`).

    Orders file (docs/orders.md): CSV with a header, or JSON Lines (one object per line).
    Required: symbol, side (buy/sell), quantity (> 0). Optional: order_type (market/limit),
    limit_price (with limit), time_in_force (gtc/ioc/fok), reduce_only (true/false),
    strategy, reference_price, client_order_id. A bad row refuses the whole file
    (--skip-invalid: runs the valid rows).

    \b
      symbol,side,quantity,order_type,limit_price,reference_price
      BTC/EUR,buy,0.01,,,40000
      ETH/EUR,sell,0.5,limit,2100,2000
    """

    # --strategy alone runs a strategy (on [marketdata] source); beside --orders/--example it names the run
    strategy_session = bool(feed) or bool(strategy and not orders_file and not example)
    if sum(map(bool, (orders_file, example, strategy_session))) != 1:
        fail("give exactly one of --orders FILE, --example or --strategy module:Class [--feed PATH|VENUE]")
    if (param_pairs or params_file) and not strategy_session:
        fail("--params and --params-file go with --strategy module:Class [--feed PATH|VENUE]")
    if strategy_session and (fmt or skip_invalid):
        fail("--format and --skip-invalid go with --orders FILE, not with a strategy")
    import gc

    # a batch's objects are freed by reference counting (they form no cycles): collecting
    # every 700 new objects, and everything every 10th time, mostly rescans the live
    # duplicate-order window (~15 % of a file session's CPU) and, while the file is read,
    # the blocks of rows in hand (~9 % of reading it). Rarer, still bounded:
    gc.set_threshold(*SESSION_GC_THRESHOLDS)
    if strategy_session:
        _run_strategy_session(env, feed, strategy, param_pairs, params_file, as_json, fresh_account)
        return
    total = None
    skipped: list[str] = []
    skipped_total = 0
    read_seconds = None
    if example:
        orders, strategy_name, params = _example_orders()
    else:
        read_started = time.perf_counter()
        orders = _checked_file_orders(orders_file, skip_invalid, fmt)
        read_seconds = time.perf_counter() - read_started
        total, skipped, skipped_total = len(orders), orders.skipped_rows(), orders.bad
        strategy_name = "orders-file"
        params = {"file": str(orders_file), "format": orders.format, "sha256": orders.sha256, "rows": total}
    pipeline = _make_pipeline(env)
    _started()
    show_progress = sys.stderr.isatty() if progress is None else progress
    summary = run_pipeline(
        pipeline, orders, total=total if show_progress else None,
        strategy=strategy or strategy_name, strategy_params=params, skipped=skipped, fresh_account=fresh_account,
    )
    data = summary.to_dict()
    if read_seconds is not None:  # reading + validating the source, before the session's own time
        data["read_seconds"] = round(read_seconds, 3)
    if skipped:
        data["skipped_rows"] = skipped
        data["skipped_rows_total"] = skipped_total
    _print_summary(data, as_json)


def _print_summary(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(data)
    else:
        echo(render_session_summary(data))
    code = session_exit_code(data)
    if code:
        sys.exit(code)


def _run_strategy_session(env: Env, feed_source: str | None, spec: str | None, param_pairs: tuple[str, ...], params_file: str | None,
                          as_json: bool, fresh_account: bool) -> None:
    """``--strategy module:Class --feed PATH|VENUE``: everything the user gave is checked
    (class, parameters, feed) before the session starts; then the driver runs it."""
    from peaktrade_core.strategy import (
        StrategyDriver,
        StrategyError,
        StrategyLoadError,
        build_strategy,
        load_strategy_class,
        parse_params,
    )

    if not spec:
        fail("--feed needs --strategy module:Class (the strategy to run on it)")
    try:
        cls = load_strategy_class(spec)
        params = parse_params(param_pairs, params_file)
        instance = build_strategy(cls, params, spec)
    except StrategyLoadError as exc:
        fail(str(exc))
    name = str(getattr(instance, "name", "") or cls.__name__)
    symbols = getattr(instance, "symbols", None)
    feed = _open_feed(env, feed_source, list(symbols) if symbols else None)
    feed_source = feed_source or env.config.marketdata.source
    try:
        pipeline = _make_pipeline(env)
    except SystemExit:  # refused (one line already said): the feed stops too
        feed.close()
        raise
    driver = StrategyDriver(pipeline, instance, name=name, params=params, describe={"class": spec, "feed": feed_source})
    _started()
    try:
        summary = run_pipeline(pipeline, (), on_stop=getattr(feed, "close", None), batches=driver.batches(feed), strategy=name, strategy_params=params, fresh_account=fresh_account)
    except StrategyError as exc:
        fail(f"{exc}; session stopped, nothing more sent (peaktrade runs show {pipeline.run_id})", 1)
    data = summary.to_dict()
    data["strategy"] = {"name": name, "class": spec, "params": params, "feed": feed_source, "quotes": driver.quotes, "orders": driver.intents}
    _print_summary(data, as_json)


def _started() -> None:
    """What start-up built (modules, plugins, config, the parsed orders' index, the strategy
    and its feed) is never garbage: keep full collections from scanning it again (p99 batch
    time / 3-4)."""
    import gc

    gc.freeze()


def _open_feed(env: Env, source: str | None, symbols: Any = None) -> Any:
    """The feed ``--feed`` names (``None``: ``[marketdata] source``): a recorded file, or a
    venue's feed quoting ``symbols`` (the strategy's ``symbols``, else ``[marketdata]
    symbols``); or one line (exit 2)."""
    from peaktrade_core import marketdata
    from peaktrade_core.plugins import get_plugin_manager

    errors = (marketdata.FeedError, OSError, ValueError, LookupError)
    try:
        return marketdata.open_feed(env.config, get_plugin_manager(), source=source, symbols=symbols)
    except errors as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        fail(message if source is None or message.startswith(source) else f"--feed {source}: {message}")


def run_pipeline(pipeline: Any, orders: Any, *, total: int | None = None, on_stop: Any = None, **run_args: Any) -> Any:
    """Run ``orders`` as every session command does: SIGTERM / Ctrl-C stop it after the batch
    in hand, a damaged account or an unusable venue is one line (exit 2), the alert
    dispatcher is closed at the end. ``total``: show a progress bar of that length;
    ``on_stop``: called on the first signal too (closes a feed that waits for its next quote)."""
    from peaktrade_core.accounts import AccountError
    from peaktrade_core.store import StateError
    from peaktrade_core.venues import VenueError

    try:
        with _stop_on_signals(pipeline, on_stop):
            if total:
                with click.progressbar(length=total, label="orders", file=sys.stderr) as bar:
                    return pipeline.run(orders, progress=bar.update, **run_args)
            return pipeline.run(orders, **run_args)
    except (AccountError, VenueError) as exc:  # e.g. the venue's dead man's switch could not be armed
        fail(str(exc))
    except StateError as exc:  # fail closed: the kill switch and the run log cannot be checked
        fail(f"session stopped, nothing more is sent: {exc}", code=EXIT_STATE_STORE)
    except KeyboardInterrupt:  # a second signal: stopped at once; the run is on record
        if pipeline.summary is None or pipeline.summary.status != "interrupted":
            raise
        return pipeline.summary
    finally:
        if pipeline.alerts is not None:
            pipeline.alerts.close()


def _load_account_or_fail(pipeline: Any) -> None:
    from peaktrade_core.accounts import AccountError

    try:
        pipeline.load_account()
    except AccountError as exc:
        fail(str(exc))


def session_exit_code(summary: dict[str, Any]) -> int:
    """The documented exit code of a session that ran (see :func:`session_run`)."""
    if summary["status"] == "interrupted":
        return EXIT_SIGNAL.get(summary.get("interrupted_by") or "", EXIT_SIGNAL["SIGINT"])
    if summary.get("kill_switch_engaged_during_run"):
        return EXIT_KILL_SWITCH
    if summary["by_status"].get("error"):
        return EXIT_ORDER_ERROR
    return 0


@contextmanager
def _stop_on_signals(pipeline: Any, on_stop: Any = None) -> Iterator[None]:
    """SIGTERM and SIGINT (Ctrl-C) ask the session to stop after the batch in hand instead
    of killing it mid-batch; a second one stops it at once (KeyboardInterrupt)."""

    def request_stop(signum: int, _frame: Any) -> None:
        if pipeline.stop_requested is not None:
            raise KeyboardInterrupt
        pipeline.stop_requested = signal.Signals(signum).name  # no logging here: not signal-safe
        if on_stop is not None:
            with suppress(Exception):  # the stop request stands either way
                on_stop()

    import threading

    if threading.current_thread() is not threading.main_thread():  # only there can Python set handlers
        yield
        return
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def render_session_summary(data: dict[str, Any]) -> str:
    status = data["status"] + (f" by {data['interrupted_by']}, after the batch in hand" if data.get("interrupted_by") else "")
    lines = [
        f"run {data['run_id']}  ({status})",
        f"  mode: {data['mode']}  effective: {data['effective_mode']}  executor: {data['executor']}",
        *(
            [f"  venue: {v['venue']}  {v['endpoint']}  " + ("validate-only" if v["validate_only"] else "testnet (sandbox)" if v["testnet"] else "PRODUCTION")]
            if (v := data.get("venue"))
            else []
        ),
        f"  orders: {data['orders']}  fills: {data['fills']}  in {data['seconds']}s"
        + (f"  ({data['orders_per_second']:,} orders/s)" if data["orders_per_second"] else "")
        + (f"  + {data['read_seconds']}s reading the orders" if "read_seconds" in data else ""),
        "  by status: " + (", ".join(f"{k}={v}" for k, v in sorted(data["by_status"].items())) or "-"),
    ]
    if data["blocks_by_reason"]:
        lines.append("  blocks by reason:")
        lines += [f"    {count:>7}  {reason}" for reason, count in data["blocks_by_reason"].items()]
    lines.append(f"  exposure: {data['total_exposure']:,.2f}  " + ", ".join(f"{s} {v:,.2f}" for s, v in data["exposure_by_symbol"].items()))
    lines.append(f"  PnL: realized {data['realized_pnl']:,.2f}  unrealized {data['unrealized_pnl']:,.2f}  fees {data['fees']:,.2f}")
    if data.get("account"):
        lines.append(f"  account: {data['account']}" + (" (started over: --fresh-account)" if data.get("fresh_account") else "") + f"  cash {data['cash']:,.2f}")
    if data.get("kill_switch_engaged_during_run"):
        lines.append("  KILL SWITCH ENGAGED during this run (peaktrade status)")
    for row in data.get("skipped_rows", []):
        lines.append(f"  skipped {row}")
    lines.append(f"  details: peaktrade runs show {data['run_id']}")
    return "\n".join(lines)


@click.group()
def orders() -> None:
    """Orders files: preview with risk and gate results."""


@orders.command("preview")
@click.argument("file")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="Orders format (default: by suffix; stdin: sniffed).")
@json_option
@pass_env
def orders_preview(env: Env, file: str, fmt: str | None, as_json: bool) -> None:
    """Risk and gate results per order; nothing is executed."""
    from peaktrade_core.gates import evaluate_gates
    from peaktrade_core.pipeline import NullExecutor, batched

    parsed = _checked_file_orders(file, skip_invalid=False, fmt=fmt)
    pipeline = _make_pipeline(env, record=False, executor=NullExecutor())
    _load_account_or_fail(pipeline)  # reduce-only verdicts need the account's positions
    rows = [row for batch in batched(parsed, env.config.execution.batch_size) for row in pipeline.preview(batch)]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        verdict = "would pass" if row["would_pass"] else "BLOCKED"
        notional = f"{row['notional']:,.2f}" if row["notional"] is not None else "?"
        echo(f"{row['source']:<20} {row['side']:<4} {row['quantity']:>12g} {row['symbol']:<10} notional {notional:>12}  {verdict}")
        for v in row["risk_violations"]:
            echo(f"    risk  {v}")
        for g in row["gate_blocks"]:
            echo(f"    gate  {g}")
    blocked = sum(1 for r in rows if not r["would_pass"])
    mode = evaluate_gates(pipeline.env, pipeline.kill_switch.state()).effective_mode.value
    echo(f"{len(rows)} orders: {len(rows) - blocked} would pass, {blocked} blocked (effective mode {mode})")
