"""``peaktrade risk history`` (RISK-4), ``peaktrade risk budget`` and ``peaktrade portfolio`` (PORT-2, PORT-3)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from peaktrade_core.cli import Env, echo_json, fail, pass_env
from peaktrade_core.cli_output import echo, history_options, json_option
from peaktrade_core.risk.config import risk_zone

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
    """Recorded risk-limit violations and the shared risk budget."""


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
    zone = risk_zone(timezone)
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


# -- the shared risk budget -----------------------------------------------------------------

_BUDGET_OFF = "the shared risk budget is off ([state] shared_risk_budget = false): each process holds its limits alone"


def _finite(value: float) -> float | None:
    return None if value == float("inf") else value


def _budget_view(env: Env, now: float) -> dict[str, Any]:
    """Leases, live reservations and settled exposure of every book in the store, per symbol
    and in total, against this config's limits."""
    from peaktrade_core.budget import BudgetLimits, book_of
    from peaktrade_core.risk import LiveRiskLimits
    from peaktrade_core.store.budget import RiskBudgetRepository

    config = env.config
    limits = BudgetLimits.of(LiveRiskLimits(config.live_risk, config.environment))
    total_limit = min(limits.total, limits.live_total)
    repo = RiskBudgetRepository(env.store)
    leases, reservations = repo.leases(), repo.reservations()
    configured = book_of(config.environment.mode.value, True)
    names = sorted({configured, *(r["book"] for r in leases), *(r["book"] for r in reservations)})
    books = []
    for book in names:
        settled = repo.exposure(book)
        reserved: dict[str, dict[str, float]] = {}
        for r in reservations:
            if r["book"] == book:
                row = reserved.setdefault(r["symbol"], {"amount": 0.0, "buy": 0.0, "sell": 0.0})
                row["amount"] += float(r["amount"])
                row["buy" if r["side"] > 0 else "sell"] += float(r["quantity"])
        symbols = []
        for symbol in sorted({*settled, *reserved}):
            quantity, mark = settled.get(symbol, (0.0, None))
            notional = abs(quantity) * mark if mark is not None else 0.0
            held = reserved.get(symbol, {"amount": 0.0, "buy": 0.0, "sell": 0.0})
            symbols.append({
                "symbol": symbol, "settled_quantity": quantity, "mark_price": mark, "settled_notional": notional,
                "reserved_notional": held["amount"], "reserved_buy_quantity": held["buy"], "reserved_sell_quantity": held["sell"],
                "total": notional + held["amount"], "limit": _finite(limits.symbol),
            })
        settled_total = sum(s["settled_notional"] for s in symbols)
        reserved_total = sum(s["reserved_notional"] for s in symbols)
        books.append({
            "book": book,
            "configured": book == configured,
            "leases": [{**lease, "expired": lease["expires_at"] < now, "reserved_notional": sum(
                float(r["amount"]) for r in reservations if r["owner"] == lease["owner"] and r["book"] == book)}
                # the latest expiry first: the living leases above the expired ones
                for lease in sorted(leases, key=lambda lease: -lease["expires_at"]) if lease["book"] == book],
            "symbols": symbols,
            "settled_total": settled_total, "reserved_total": reserved_total, "total": settled_total + reserved_total,
            "total_limit": _finite(total_limit),
        })
    return {"enabled": True, "lease_seconds": config.state.budget_lease_seconds, "configured_book": configured,
            "limits": {"max_symbol_exposure_notional": _finite(limits.symbol), "max_total_exposure_notional": _finite(limits.total),
                       "max_live_notional_total": _finite(limits.live_total)},
            "books": books}


def _of_limit(value: float, limit: float | None) -> str:
    if limit is None:
        return _number(value) + " (no limit)"
    return f"{_number(value)} of {_number(limit)}" + ("  OVER THE LIMIT" if value > limit + 1e-9 else "")


def render_budget(view: dict[str, Any], now: float) -> str:
    lines = [f"shared risk budget: on (lease {view['lease_seconds']:g}s); limits from this config, book {view['configured_book']}"]
    for book in view["books"]:
        lines.append(f"book {book['book']}" + ("  (this config's mode)" if book["configured"] else ""))
        for lease in book["leases"]:
            left = lease["expires_at"] - now
            when = f"expires in {left:.0f}s" if left >= 0 else f"EXPIRED {-left:.0f}s ago (the next reservation releases it)"
            lines.append(f"  lease {lease['owner']}  host {lease['host']}  pid {lease['pid']}  run {lease['run_id'] or '-'}  "
                         f"{when}  reserved {_number(lease['reserved_notional'])}")
        if not book["leases"]:
            lines.append("  no process holds a lease")
        if book["symbols"]:
            table = [("SYMBOL", "SETTLED QTY", "MARK", "SETTLED", "RESERVED", "SETTLED + RESERVED")]
            table += [(s["symbol"], f"{s['settled_quantity']:g}", _number(s["mark_price"]), _number(s["settled_notional"]),
                       _number(s["reserved_notional"]), _of_limit(s["total"], s["limit"])) for s in book["symbols"]]
            widths = [max(len(r[c]) for r in table) for c in range(len(table[0]))]
            lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table]
        lines.append(f"  total: settled {_number(book['settled_total'])} + reserved {_number(book['reserved_total'])} = "
                     + _of_limit(book["total"], book["total_limit"]))
    return "\n".join(lines)


@risk.group("budget", invoke_without_command=True)
@json_option
@click.pass_context
def risk_budget(ctx: click.Context, as_json: bool) -> None:
    """The shared risk budget: leases (owner, host, pid, expiry), live reservations and the
    settled exposure per symbol and in total, against the limits of this config."""
    if ctx.invoked_subcommand is not None:
        if as_json:
            fail(f"--json belongs to `peaktrade risk budget`; give `{ctx.invoked_subcommand}` its own options after its name")
        return
    env: Env = ctx.find_object(Env)
    if not env.config.state.shared_risk_budget:
        if as_json:
            echo_json({"enabled": False})
        else:
            echo(_BUDGET_OFF)
        return
    now = time.time()
    view = _budget_view(env, now)
    if as_json:
        echo_json(view)
        return
    echo(render_budget(view, now))


@risk_budget.command("reset-settled")
@click.option("--symbol", required=True, metavar="SYMBOL", help="The symbol whose settled shared position is set.")
@click.option("--quantity", required=True, type=float, metavar="Q", help="The position as reconciled with the venue (signed: negative for a short; 0: flat).")
@click.option("--price", type=float, metavar="P", help="Its mark price (default: the mark it has now).")
@click.option("--reason", metavar="TEXT", help="Why (recorded in the budget log with your name); required.")
@click.option("--operator", help="Who resets it (default: the OS user).")
@click.option("--book", metavar="BOOK", help="The budget's book: paper, shadow, testnet, live, live_dry_run … (default: this config's mode).")
@json_option
@pass_env
def risk_budget_reset_settled(env: Env, symbol: str, quantity: float, price: float | None, reason: str | None, operator: str | None,
                              book: str | None, as_json: bool) -> None:
    """Set the settled shared position of SYMBOL after reconciling it with the venue (a
    host died, positions closed outside peaktrade); recorded in the budget log."""
    from peaktrade_core.budget import book_of, reset_settled
    from peaktrade_core.state import current_operator
    from peaktrade_core.store.budget import RiskBudgetRepository

    if not env.config.state.shared_risk_budget:
        fail(_BUDGET_OFF + "; nothing to reset")
    if not (reason and reason.strip()):
        fail("--reason: say why the settled position is reset (recorded in the budget log with your name)")
    from peaktrade_core.secrets import redact_reason

    reason = redact_reason(reason, env.config)
    operator = redact_reason(operator, env.config) if operator else current_operator()
    book = book or book_of(env.config.environment.mode.value, True)
    before = RiskBudgetRepository(env.store).exposure(book).get(symbol)
    if price is None:
        if before is None:
            fail(f"--price: {symbol} has no settled position in book {book}, so no mark to keep; give --price")
        price = before[1]
    try:
        reset_settled(env.store, book, symbol, quantity, price, operator=operator, reason=reason)
    except ValueError as exc:
        fail(f"--quantity/--price: {exc}")
    done = {"book": book, "symbol": symbol, "before": list(before) if before else None, "after": [quantity, price],
            "operator": operator, "reason": reason}
    if as_json:
        echo_json(done)
        return
    was = f"{before[0]:g} @ {_number(before[1])}" if before else "none"
    echo(f"{symbol} in book {book}: settled {was} -> {quantity:g} @ {_number(price)}, by {operator}: {reason} "
         "(recorded in the budget log)")
