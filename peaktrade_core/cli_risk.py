"""``peaktrade risk history`` (RISK-4) and ``peaktrade portfolio`` (PORT-2, PORT-3)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from peaktrade_core.cli import Env, echo_json, fail, pass_env
from peaktrade_core.cli_output import echo, history_options, json_option

if TYPE_CHECKING:
    from peaktrade_core.accounts import StoredAccount
    from peaktrade_core.portfolio import LivePortfolioSnapshot
    from peaktrade_core.runlog import LiveRunMetadata


def _run_id(env: Env, ref: str | None) -> str | None:
    """``--run``: a run id or a unique prefix (one line, exit 2, if it names none)."""
    if ref is None:
        return None
    from peaktrade_core.runlog import RunNotFound, resolve_run_id

    try:
        return resolve_run_id(env.store, ref)
    except RunNotFound as exc:
        fail(f"--run: {exc}")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


# -- risk ---------------------------------------------------------------------------------


@click.group()
def risk() -> None:
    """Recorded risk-limit violations."""


@risk.command("history")
@click.option("--code", metavar="CODE", help="Only this violation code, e.g. max_order_notional.")
@history_options(limit=100, run=True)
@json_option
@pass_env
def risk_history(env: Env, code: str | None, limit: int | None, since: float | None, run_filter: str | None, as_json: bool) -> None:
    """Every recorded violation, newest first: run, order, code, limit and value."""
    from peaktrade_core.riskrecords import RiskRecords

    rows = RiskRecords(env.store).query(since=since, code=code, limit=limit, run_id=_run_id(env, run_filter))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no risk violations recorded" + (f" with code {code}" if code else ""))
        return
    for r in rows:
        verdict = "BLOCKED" if r["blocked"] else "flagged"
        order = r["client_order_id"] or "whole batch"
        echo(f"{r['time']}  {verdict:<7}  run {r['run_id'] or '-'}  batch {r['batch']}  {order}  {r['symbol'] or '-'}")
        plugin = f"  [{r['plugin']}]" if r["plugin"] else ""
        click.echo(f"    {r['message']}{plugin}")


# -- portfolio ----------------------------------------------------------------------------


def _last_finished_run(env: Env) -> tuple[LiveRunMetadata | None, str | None]:
    """The newest run with a final summary (a run still going or aborted has none), and a
    note when a newer run exists without one."""
    from peaktrade_core.runlog import list_runs

    runs = list_runs(env.store)
    meta = next((m for m in reversed(runs) if m.summary), None)
    if runs and runs[-1] is not meta:
        newest = runs[-1]
        return meta, f"the newest run {newest.run_id} ({newest.status}) has no final state; it is not included"
    return meta, None


def _snapshot_from_run(meta: LiveRunMetadata, starting_cash: float, timezone: str) -> LivePortfolioSnapshot:
    """The portfolio as the run left it: sizes, marks, average prices and cash from the
    run's summary. (Runs recorded before summaries carried marks and cash: the mark is
    exposure / |size| and cash follows from equity = starting cash + PnL.) The run's PnL
    counts as today's only if it ended today (in the risk time zone)."""
    from peaktrade_core.portfolio import LivePortfolioSnapshot, LivePositionSnapshot

    summary = meta.summary
    exposures = summary.get("exposure_by_symbol", {})
    marks = summary.get("marks") or {s: e / abs(summary["positions"][s]) for s, e in exposures.items() if summary.get("positions", {}).get(s)}
    averages = summary.get("average_prices", {})
    positions = tuple(
        LivePositionSnapshot(symbol=symbol, size=size, mark_price=marks.get(symbol), average_price=averages.get(symbol))
        for symbol, size in sorted(summary.get("positions", {}).items())
        if size
    )
    pnl = summary.get("realized_pnl", 0.0) + summary.get("unrealized_pnl", 0.0)
    market_value = sum(p.size * p.mark_price for p in positions if p.mark_price is not None)
    cash = summary["cash"] if "cash" in summary and summary.get("starting_cash") == starting_cash else starting_cash + pnl - market_value
    ended = meta.ended_at or meta.started_at
    zone = ZoneInfo(timezone)
    today = datetime.fromisoformat(ended).astimezone(zone).date() == datetime.now(zone).date()
    return LivePortfolioSnapshot(
        as_of=datetime.fromisoformat(ended).timestamp(),
        positions=positions,
        cash=cash,
        realized_pnl=summary.get("realized_pnl"),
        daily_pnl=pnl if today else None,
        day_start_equity=starting_cash if today else None,
        source=f"run:{meta.run_id}",
    )


def _stored_account(env: Env) -> StoredAccount | None:
    """The configured account of the configured mode, when that mode keeps one."""
    from peaktrade_core.accounts import ACCOUNT_MODES, AccountError, AccountStore
    from peaktrade_core.gates import evaluate_gates

    mode = evaluate_gates(env.config.environment, env.kill_switch().state()).effective_mode.value
    if mode not in ACCOUNT_MODES:
        return None
    try:
        return AccountStore(env.store).load(env.config.execution.account, mode)
    except AccountError as exc:
        fail(str(exc))


def _snapshot_from_account(account: StoredAccount, timezone: str) -> LivePortfolioSnapshot:
    """Today's PnL counts from the start of today (in the risk time zone), like the
    session's daily loss limit: an account last written yesterday has none yet today."""
    from attrs import evolve

    from peaktrade_core.portfolio import LivePortfolioMonitor

    state = evolve(account.portfolio)  # roll_day changes it: not the stored object
    state.roll_day(time.time(), timezone)
    snapshot = LivePortfolioMonitor(state).snapshot()
    return evolve(snapshot, source=f"account:{account.account}:{account.mode}")


def _risk_dict(result: Any) -> dict[str, Any]:
    from attrs import asdict

    return {"allowed": result.allowed, "violations": [asdict(v) for v in result.violations]}


@click.group(invoke_without_command=True)
@click.option("--config", "config_path", metavar="PATH", help="Config file (overrides the global --config).")
@click.option("--no-risk", is_flag=True, help="Do not check the portfolio-level risk limits.")
@json_option
@click.option("--starting-cash", type=click.FloatRange(min=0), metavar="X", help="Cash the portfolio started with, when there is no account or run yet or for a venue mode's run (default: [execution] starting_cash).")
@click.option("--record", is_flag=True, help="Append this snapshot to the portfolio history.")
@click.pass_context
def portfolio(ctx: click.Context, config_path: str | None, no_risk: bool, as_json: bool, starting_cash: float | None, record: bool) -> None:
    """The portfolio: positions, exposure, cash, equity, PnL, and the portfolio-level risk
    limits. In paper/shadow mode the account sessions continue ([execution] account);
    otherwise the last run's final state. Without either: an empty portfolio."""
    env: Env = ctx.find_object(Env)
    if config_path:
        env.config_path = config_path  # read lazily: nothing has loaded the config yet
    if ctx.invoked_subcommand is not None:
        if no_risk or as_json or starting_cash is not None or record:
            fail(f"--no-risk, --json, --starting-cash and --record belong to `peaktrade portfolio`; give `{ctx.invoked_subcommand}` its own options after its name")
        return
    from peaktrade_core.portfolio import LivePortfolioSnapshot
    from peaktrade_core.risk import CapitalLimits, LiveRiskLimits

    config = env.config
    cash = config.execution.starting_cash if starting_cash is None else starting_cash
    account = _stored_account(env)
    meta = note = None
    if account is not None:
        snapshot = _snapshot_from_account(account, config.live_risk.timezone)
        run_id = account.run_id
    else:
        meta, note = _last_finished_run(env)
        if meta is None:
            snapshot = LivePortfolioSnapshot(as_of=time.time(), cash=cash, realized_pnl=0.0, source="empty")
        else:
            snapshot = _snapshot_from_run(meta, cash, config.live_risk.timezone)
        run_id = meta.run_id if meta is not None else None
    result = None if no_risk else LiveRiskLimits(config.live_risk, config.environment).evaluate_portfolio(snapshot)
    if result is not None:
        capital = CapitalLimits.for_session(config.live_risk, config.environment, env.store)
        result = capital.evaluate_portfolio(snapshot, result)
    if record:
        from peaktrade_core.riskrecords import RiskRecords

        RiskRecords(env.store).record_portfolio(snapshot, run_id=run_id)
    if as_json:
        echo_json(
            {
                "run_id": run_id,
                "snapshot": snapshot.to_dict(),
                "risk": None if result is None else _risk_dict(result),
                "recorded": record,
                "note": note,
                "account": None if account is None else {"name": account.account, "mode": account.mode, "updated_at": account.updated_iso},
            }
        )
        return
    echo(render_portfolio(snapshot, meta, result, record, account))
    if note:
        click.echo(f"note: {note}")


def render_portfolio(snapshot: LivePortfolioSnapshot, meta: LiveRunMetadata | None, result: Any, recorded: bool, account: StoredAccount | None = None) -> str:
    if account is not None:
        lines = [f"portfolio of account {account.account} ({account.mode}), as run {account.run_id} left it at {account.updated_iso}"]
    elif meta is None:
        lines = ["portfolio: no run recorded yet (empty portfolio)"]
    else:
        lines = [f"portfolio as run {meta.run_id} left it ({meta.status} {meta.ended_at or meta.started_at})"]
    lines.append(
        f"  cash {_number(snapshot.cash)}  equity {_number(snapshot.equity)}  exposure {_number(snapshot.total_exposure)}"
        f"  open positions {snapshot.open_positions}"
    )
    lines.append(f"  realized PnL {_number(snapshot.realized_pnl)}  today's PnL {_number(snapshot.daily_pnl)}")
    if snapshot.positions:
        rows = [("SYMBOL", "SIDE", "SIZE", "MARK", "NOTIONAL")]
        rows += [(p.symbol, p.side, f"{p.size:g}", _number(p.mark_price), _number(p.notional)) for p in snapshot.positions]
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if result is None:
        lines.append("risk: not checked (--no-risk)")
    elif not result.violations:
        lines.append("risk: within every portfolio limit")
    else:
        verdict = "BLOCKING" if not result.allowed else "warning only (block_on_violation = false)"
        lines.append(f"risk: {len(result.violations)} violation(s), {verdict}")
        lines += [f"  {v.message}" for v in result.violations]
    if recorded:
        lines.append("recorded in the portfolio history (peaktrade portfolio history)")
    return "\n".join(lines)


@portfolio.command("history")
@history_options(limit=100, run=True)
@json_option
@pass_env
def portfolio_history(env: Env, limit: int | None, since: float | None, run_filter: str | None, as_json: bool) -> None:
    """Recorded portfolio snapshots (`peaktrade portfolio --record`), newest first."""
    from peaktrade_core.riskrecords import RiskRecords

    rows = RiskRecords(env.store).portfolio_history(since=since, limit=limit, run_id=_run_id(env, run_filter))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no portfolio snapshots recorded (record one with `peaktrade portfolio --record`)")
        return
    table = [("TIME", "SOURCE", "EQUITY", "CASH", "EXPOSURE", "POSITIONS", "REALIZED PNL")]
    for r in rows:
        table.append(
            (r["time"], r["source"], _number(r["equity"]), _number(r["cash"]), _number(r["total_exposure"]),
             str(r["open_positions"]), _number(r["realized_pnl"]))
        )
    widths = [max(len(r[c]) for r in table) for c in range(len(table[0]))]
    for r in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
