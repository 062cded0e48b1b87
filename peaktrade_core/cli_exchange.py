"""``peaktrade exchange``: talk to the configured venue through its adapter, for any venue.

Read-only commands (ping, time, balances, open-orders, rules) need only a venue client: the
core builds one for ``[environment] exchange`` in testnet and live mode. Commands that send
something pass the same gates as a session first: ``smoke-order`` every gate including the
kill switch (and only with a validate-only client: it never places anything);
``cancel-all`` every gate but the kill switch (it only reduces risk) and is recorded in the
run history with operator and reason.

Failures end in one line on stderr: exit 2 when peaktrade refuses (config, gates, no
adapter), exit 1 when the venue fails or refuses (down, bad key). No secret is printed.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

import click

from peaktrade_core.cli import Env, echo_json, fail, pass_env
from peaktrade_core.cli_output import json_option as _json_option

EXIT_VENUE_FAILED = 1


def _safe(text: str) -> str:
    """Registered secrets never reach the terminal, whatever a venue's error says."""
    from peaktrade_core.secrets import redact

    return redact(" ".join(str(text).split()))


def _refuse(message: str) -> NoReturn:
    fail(_safe(message))


# -- the client ---------------------------------------------------------------------------


def _client(env: Env) -> Any:
    from peaktrade_core.plugins import get_plugin_manager
    from peaktrade_core.venues import VenueError

    config = env.config
    try:
        client = get_plugin_manager().create_exchange_client(config)
    except VenueError as exc:
        _refuse(f"{config.source or 'built-in defaults'}: {exc}")
    if client is None:
        where = config.source or "built-in defaults"
        if config.environment.exchange:
            _refuse(f"{where}: environment.mode: {config.environment.mode.value!r}: a venue client is built only in testnet or live mode")
        _refuse(f"{where}: environment.exchange: no exchange configured; set [environment] exchange and mode (testnet or live)")
    return client


def _venue_call(client: Any, what: str, function: Any, *args: Any) -> Any:
    """Call the venue; any failure is one line (exit 1)."""
    from peaktrade_core.orders import ExchangeError

    try:
        return function(*args)
    except ExchangeError as exc:
        message = f"{client.name} ({client.endpoint}): {what} failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - an adapter bug is still one line, never a traceback
        message = f"{client.name} ({client.endpoint}): {what} failed: {type(exc).__name__}: {exc}"
    fail(_safe(message), EXIT_VENUE_FAILED)


def _venue(client: Any) -> dict[str, Any]:
    return {
        "venue": client.name,
        "endpoint": client.endpoint,
        "testnet": bool(client.testnet),
        "validate_only": bool(client.validate_only),
    }


def _describe(client: Any) -> str:
    kind = "validate-only" if client.validate_only else "testnet" if client.testnet else "production"
    return f"{client.name} {client.endpoint} ({kind})"


# -- gates --------------------------------------------------------------------------------


def _ensure_gates_open(env: Env, order: Any = None, *, kill_switch: bool = True) -> Any:
    """The session's gates (the guard re-checked before each submit); ``kill_switch=False``
    leaves the kill switch out (for actions that only reduce risk). Returns the kill-switch
    state the gates were checked with."""
    from peaktrade_core.gates import RELEASED, LiveExecutionBlocked, SafetyGuard
    from peaktrade_core.log import muted

    state = env.kill_switch().state() if kill_switch else RELEASED
    try:
        with muted():  # the refusal is this command's one line, not a second log line
            SafetyGuard(env.config.environment, lambda: state).ensure_may_place_order(order)
    except LiveExecutionBlocked as exc:
        _refuse("refused: " + "; ".join(exc.reasons))
    return state


def _record(env: Env, client: Any, action: str, operator: str | None, gated: Any, data: dict[str, Any]) -> tuple[Any, str]:
    """Start a run-log entry for an action that sends something, before it is sent; the
    effective mode is the one the action passed the gates in (``gated``: that kill-switch
    state), as it really reaches the venue."""
    from peaktrade_core.gates import evaluate_gates
    from peaktrade_core.runlog import AuditKeyError, LiveRunLogger, audit_keys_from

    config = env.config
    report = evaluate_gates(config.environment, gated)
    try:
        audit = audit_keys_from(config)
    except AuditKeyError as exc:  # nothing sent: the action is refused before its record
        fail(str(exc))
    runlog = LiveRunLogger(env.store, durability="order", audit=audit)
    run_id = runlog.start_run(
        mode=config.environment.mode.value,
        effective_mode=report.effective_mode.value,
        config_sha256=config.sha256,
        operator=operator,
        strategy=f"exchange {action}",
        strategy_params={**_venue(client), **data},
    )
    return runlog, run_id


# -- commands -----------------------------------------------------------------------------


@click.group()
def exchange() -> None:
    """The configured venue ([environment] exchange): status, balances, orders, cancel-all."""


@exchange.command()
@_json_option
@pass_env
def ping(env: Env, as_json: bool) -> None:
    """Is the venue up? (read-only)"""
    client = _client(env)
    started = time.monotonic()
    answer = _venue_call(client, "ping", client.ping)
    latency_ms = round((time.monotonic() - started) * 1000, 1)
    if as_json:
        echo_json({**_venue(client), "ping": answer, "latency_ms": latency_ms})
    else:
        status = answer.get("status", "?") if isinstance(answer, dict) else answer
        click.echo(f"{_describe(client)}: {status} ({latency_ms:g} ms)")


@exchange.command("time")
@_json_option
@pass_env
def time_(env: Env, as_json: bool) -> None:
    """The venue's clock and how far it is from this machine's. (read-only)"""
    client = _client(env)
    before = time.time()
    venue_time = _venue_call(client, "server_time", lambda: float(client.server_time()))
    local = (before + time.time()) / 2
    skew = round(venue_time - local, 3)
    if as_json:
        echo_json({**_venue(client), "server_time": venue_time, "local_time": local, "skew_seconds": skew})
    else:
        from datetime import UTC, datetime

        stamp = datetime.fromtimestamp(venue_time, UTC).isoformat(timespec="milliseconds")
        click.echo(f"{_describe(client)}: {stamp} (venue clock {skew:+.3f}s from this machine)")


@exchange.command()
@_json_option
@pass_env
def balances(env: Env, as_json: bool) -> None:
    """Balances per asset. (read-only, signed)"""
    client = _client(env)
    held = _venue_call(client, "fetch_balances", lambda: {str(k): float(v) for k, v in client.fetch_balances().items()})
    if as_json:
        echo_json({**_venue(client), "balances": held})
        return
    click.echo(_describe(client))
    for asset, amount in sorted(held.items()):
        click.echo(f"  {asset:<8} {amount:>20.8f}")
    if not held:
        click.echo("  no balances")


@exchange.command("open-orders")
@click.option("--symbol", help="Only this symbol.")
@_json_option
@pass_env
def open_orders(env: Env, symbol: str | None, as_json: bool) -> None:
    """Orders open at the venue. (read-only, signed)"""
    client = _client(env)
    orders = _venue_call(client, "fetch_open_orders", client.fetch_open_orders, symbol)
    if as_json:
        echo_json({**_venue(client), "symbol": symbol, "open_orders": orders})
        return
    click.echo(f"{_describe(client)}: {len(orders)} open order(s)" + (f" in {symbol}" if symbol else ""))
    for o in orders:
        price = o.get("limit_price") or o.get("price") or "market"
        click.echo(f"  {o.get('client_order_id', '?')}  {o.get('symbol', '?')}  {o.get('side', '?')}  {o.get('quantity', '?')} @ {price}  {o.get('status', '?')}")


@exchange.command()
@click.argument("symbol")
@_json_option
@pass_env
def rules(env: Env, symbol: str, as_json: bool) -> None:
    """The instrument rules the core enforces before submit: tick size, lot step, minimums."""
    client = _client(env)
    loaded = _venue_call(client, f"instrument_rules({symbol})", client.instrument_rules, symbol)
    fields = {k: getattr(loaded, k) for k in ("symbol", "tick_size", "lot_step", "min_quantity", "min_notional")}
    if as_json:
        echo_json({**_venue(client), "rules": fields})
        return
    click.echo(f"{_describe(client)}: {symbol}")
    for key, value in fields.items():
        if key != "symbol":
            click.echo(f"  {key:<13} {'-' if value is None else format(value, 'g')}")


@exchange.command("smoke-order")
@click.argument("symbol")
@click.argument("side", type=click.Choice(["buy", "sell"]))
@click.argument("quantity", type=float)
@click.option("--price", type=float, help="Limit price (default: a market order).")
@click.option("--operator", help="Who (default: the OS user).")
@_json_option
@pass_env
def smoke_order(env: Env, symbol: str, side: str, quantity: float, price: float | None, operator: str | None, as_json: bool) -> None:
    """Send ONE validate-only order: the venue checks it, nothing is placed.

    Refused unless the venue client is validate-only (testnet mode of a venue without a
    sandbox, e.g. Kraken), and behind every gate of a session including the kill switch.
    """
    import uuid

    from peaktrade_core.orders import OrderRequest

    try:
        order = OrderRequest(
            symbol, side, quantity, "limit" if price is not None else "market", limit_price=price,
            strategy="smoke-order", client_order_id=uuid.uuid4().hex,
        )
    except (ValueError, TypeError) as exc:
        _refuse(f"smoke-order: {exc}")
    client = _client(env)
    if not client.validate_only:
        _refuse(
            f"refused: smoke-order sends validate-only orders, and {_describe(client)} would place it; "
            "use testnet mode with a validate-only client"
        )
    gated = _ensure_gates_open(env, order)
    loaded = _venue_call(client, f"instrument_rules({symbol})", client.instrument_rules, symbol)
    problems = loaded.problems(order)
    if problems:
        _refuse(f"refused before submit: {symbol}: {'; '.join(problems)}")
    if operator:
        from peaktrade_core.secrets import redact_reason

        operator = redact_reason(operator, env.config)
    runlog, run_id = _record(env, client, "smoke-order", operator, gated, {"symbol": symbol, "side": side, "quantity": quantity, "price": price})
    from peaktrade_core.orders import ExchangeError

    try:
        answer = client.submit_order(order)
    except ExchangeError as exc:
        runlog.finish_run(run_id, "failed", {"error": _safe(str(exc))})
        fail(_safe(f"{client.name} ({client.endpoint}): smoke-order failed: {exc}"), EXIT_VENUE_FAILED)
    except Exception as exc:  # noqa: BLE001 - an adapter bug is still one line
        runlog.finish_run(run_id, "failed", {"error": _safe(f"{type(exc).__name__}: {exc}")})
        fail(_safe(f"{client.name} ({client.endpoint}): smoke-order failed: {type(exc).__name__}: {exc}"), EXIT_VENUE_FAILED)
    status = answer.get("status") if isinstance(answer, dict) else None
    runlog.record_event(run_id, "smoke_order", {"client_order_id": order.client_order_id, "status": status})
    if status != "validated":  # the client said validate-only: anything else breaks the contract
        runlog.finish_run(run_id, "failed", {"status": status})
        fail(
            f"{client.name} ({client.endpoint}): expected status 'validated', venue answered {status!r}; "
            f"check order {order.client_order_id} there",
            EXIT_VENUE_FAILED,
        )
    runlog.finish_run(run_id, "finished", {"status": status})
    if as_json:
        echo_json({**_venue(client), "run_id": run_id, "client_order_id": order.client_order_id, "status": status, "response": answer})
    else:
        click.echo(f"{_describe(client)}: {side} {quantity:g} {symbol} validated, nothing placed (run {run_id})")


@exchange.command("cancel-all")
@click.option("--reason", default="", help="Why (required; recorded in the run history).")
@click.option("--symbol", help="Only this symbol.")
@click.option("--operator", help="Who (default: the OS user).")
@_json_option
@pass_env
def cancel_all(env: Env, reason: str, symbol: str | None, operator: str | None, as_json: bool) -> None:
    """Cancel every open order at the venue (or in one symbol).

    Allowed while the kill switch is engaged (it only reduces risk); every other gate of a
    session applies. Recorded in the run history with operator and reason.
    """
    if not reason.strip():
        _refuse("--reason is required: say why you cancel every open order")
    from peaktrade_core.secrets import redact_reason

    reason = redact_reason(reason, env.config)
    client = _client(env)
    gated = _ensure_gates_open(env, kill_switch=False)
    from peaktrade_core.killswitch import current_operator

    operator = redact_reason(operator, env.config) if operator else current_operator()
    switch = env.kill_switch().state()
    runlog, run_id = _record(
        env, client, "cancel-all", operator, gated,
        {"symbol": symbol, "reason": reason, "kill_switch": "ENGAGED" if switch.engaged else "released"},
    )
    try:
        cancelled = int(client.cancel_all(symbol))
    except Exception as exc:  # noqa: BLE001 - recorded, then one line
        error = _safe(f"{type(exc).__name__}: {exc}")
        runlog.record_event(run_id, "cancel_all", {"error": error, "operator": operator, "reason": reason})
        runlog.finish_run(run_id, "failed", {"error": error})
        fail(f"{client.name} ({client.endpoint}): cancel-all failed: {error}", EXIT_VENUE_FAILED)
    runlog.record_event(run_id, "cancel_all", {"cancelled": cancelled, "symbol": symbol, "operator": operator, "reason": reason})
    runlog.finish_run(run_id, "finished", {"cancelled": cancelled})
    if as_json:
        echo_json({**_venue(client), "run_id": run_id, "symbol": symbol, "cancelled": cancelled, "operator": operator, "reason": reason})
    else:
        where = f" in {symbol}" if symbol else ""
        click.echo(f"{_describe(client)}: cancelled {cancelled} open order(s){where} (by {operator}: {reason}; run {run_id})")
