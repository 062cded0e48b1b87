"""``peaktrade status``, ``peaktrade kill`` and ``peaktrade state``: the operator's view of
the gates and the state store, and the emergency stop.

``kill`` and ``state`` need only the data directory, never a valid config: a bot running on
its old config must be stoppable while the file on disk is broken.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import click

from peaktrade_core.cli import Env, echo_json, fail, pass_env
from peaktrade_core.cli_output import echo, history_options, json_option, newest_first

_DATA_DIR_HELP = "The data directory (default: $PEAK_TRADE_DATA_DIR, else the config's [state] data_dir, read even if the config is invalid)."
_URL_HELP = "The PostgreSQL database (default: the config's [state] url, read even if the config is invalid; none: SQLite in the data directory)."


def _store_options(command: Any) -> Any:
    command = click.option("--url", metavar="URL", help=_URL_HELP)(command)
    return click.option("--data-dir", metavar="DIR", help=_DATA_DIR_HELP)(command)


def _store_failure(store: Any, exc: BaseException, consequence: str = "") -> None:
    from peaktrade_core.state import StateError, damage

    fail(consequence + (str(exc) if isinstance(exc, StateError) else f"state store {store.location}: {damage(exc)}"))


def _config_or_problem(env: Env) -> tuple[Any, str | None]:
    """The config if it is valid, else ``(None, its first problem)``."""
    from peaktrade_core.config import ConfigError, load_config

    try:
        return load_config(env.config_path), None
    except ConfigError as exc:
        return None, exc.lines[0] if exc.lines else "invalid config"
    except Exception as exc:  # whatever is wrong with the file, the emergency stop works
        return None, f"{env.config_path or 'config'}: {type(exc).__name__}: {exc}"


def _typed_reason(env: Env, config: Any, reason: str) -> str:
    """``reason`` (or an ``--operator``: anything a person typed) with every secret the
    config references redacted; with a config that does not load, the secrets its TOML
    references (the emergency stop works while it is broken)."""
    from peaktrade_core.secrets import redact_reason

    if config is None:
        from peaktrade_core.config import read_config, resolve_config_path

        try:
            path = resolve_config_path(env.config_path)
            config = read_config(path)[0] if path is not None else None
        except Exception:  # noqa: BLE001, S110 - unreadable: only secrets already resolved are known
            pass
    return redact_reason(reason, config)


def _open(env: Env, config: Any, data_dir: str | None, url: str | None, consequence: str = "") -> Any:
    """The store to act on: the options, else the valid config's, else the one the config
    names read leniently (the emergency stop works while the file is broken)."""
    from peaktrade_core.config import resolve_config_path
    from peaktrade_core.state import lenient_store
    from peaktrade_core.store import open_store, open_store_url, store_errors

    try:
        if config is not None and not (data_dir or url):
            return open_store(config)
        if url and config is not None:
            return open_store_url(url, data_dir=Path(data_dir).expanduser() if data_dir else config.data_dir())
        return lenient_store(resolve_config_path(env.config_path), data_dir, url)
    except store_errors() as exc:
        fail(f"{consequence}{exc}")
    except (sqlite3.Error, OSError) as exc:  # unwritable data dir and the like
        fail(f"{consequence}state store: {getattr(exc, 'strerror', None) or exc}")


# -- status -------------------------------------------------------------------------------


@click.command()
@json_option
@click.option("--require-live", is_flag=True, help="Exit 1 unless live execution is allowed.")
@pass_env
def status(env: Env, as_json: bool, require_live: bool) -> None:
    """Operator console: mode, every gate, state store, kill switch, limits, verdict."""
    from peaktrade_core.killswitch import KillSwitch
    from peaktrade_core.state import check_state
    from peaktrade_core.status import capital_status, render_status, status_dict
    from peaktrade_core.store import store_errors

    config = env.config
    store = env.store
    try:
        data = status_dict(config, KillSwitch(store).state(), check_state(store))
    except store_errors() as exc:
        _store_failure(store, exc)
    data["failed_plugins"] = _failed_plugins()
    data["readiness"] = _readiness(store)
    data["capital"] = capital_status(config.live_risk, (data["readiness"] or {}).get("stage"))
    if as_json:
        echo_json(data)
    else:
        echo(render_status(data))
        for p in data["failed_plugins"]:
            effect = "every batch is blocked" if p["blocks_trading"] else "trading goes on without it"
            click.echo(f"! plugin {p['name']} failed ({p['error']}): {effect}")
    if require_live and not data["is_live_execution_allowed"]:
        click.echo(f"live execution not allowed: {data['reason']}", err=True)
        sys.exit(1)


def _readiness(store: Any) -> dict[str, Any] | None:
    from peaktrade_core.readiness import stage_summary
    from peaktrade_core.store import store_errors

    try:
        return stage_summary(store)
    except store_errors():  # a damaged store is named by the state_store gate
        return None


def _failed_plugins() -> list[dict[str, Any]]:
    from peaktrade_core.plugins import get_plugin_manager

    return [{"name": i.name, "error": i.error, "blocks_trading": i.blocks_trading} for i in get_plugin_manager().failed()]


# -- kill switch --------------------------------------------------------------------------


@click.command()
@click.option("--reason", help="Why (required to engage and to release).")
@click.option("--operator", help="Who (default: the OS user).")
@click.option("--release", is_flag=True, help="Release the kill switch.")
@click.option("--history", is_flag=True, help="Show every engage and release (and venue cancels), newest first.")
@history_options()
@json_option
@_store_options
@pass_env
def kill(
    env: Env, reason: str | None, operator: str | None, release: bool, history: bool, limit: int | None, since: float | None,
    as_json: bool, data_dir: str | None, url: str | None,
) -> None:
    """Engage the kill switch: no new order passes until a person releases it.

    Works with an invalid config file: only the data directory (or database) is needed.
    """
    from peaktrade_core.killswitch import KillSwitch, KillSwitchError
    from peaktrade_core.state import current_operator
    from peaktrade_core.store import store_errors

    if not history and not reason:
        fail("--reason is required: say why you " + ("release" if release else "engage") + " the kill switch")
    config, config_problem = _config_or_problem(env)
    if reason:
        reason = _typed_reason(env, config, reason)
    if operator:
        operator = _typed_reason(env, config, operator)
    # a damaged store: say plainly that nothing was recorded (the runbook says what to do)
    not_done = "" if history else f"kill switch NOT {'released' if release else 'engaged'}: "
    store = _open(env, config, data_dir, url, not_done)
    try:
        switch = KillSwitch(store)
        if history:
            from peaktrade_core.venues import venue_cancel_history

            _print_history(switch.history(), venue_cancel_history(store), as_json, limit, since)
            return
        assert reason is not None
        event = (switch.release if release else switch.engage)(reason, operator or current_operator())
    except KillSwitchError as exc:
        fail(str(exc))
    except store_errors() as exc:
        _store_failure(store, exc, not_done)
    action = "released" if release else "engaged"
    if as_json:
        echo_json({**{k: v for k, v in event.items() if k != "chain"}, "engaged": not release, "store": store.location})
    else:
        echo(f"kill switch {action.upper()} by {event['operator']}: {event['reason']}")
        click.echo(f"  state store: {store.location}")
    if config_problem:
        click.echo(f"warning: config not used ({config_problem}); the alert goes to the log only", err=True)
    from peaktrade_core.alerts import AlertLevel, raise_alert
    from peaktrade_core.config import PeakTradeConfig

    raise_alert(
        AlertLevel.CRITICAL,
        "killswitch",
        action,
        f"kill switch {action} by {event['operator']}: {event['reason']}",
        {"operator": event["operator"], "reason": event["reason"], "at": event["at"]},
        config=config or PeakTradeConfig(),
        store=store,
    )
    if not release and config is not None:
        _kill_cancels_on_venue(config, store, event["operator"], event["reason"])


def _kill_cancels_on_venue(config: Any, store: Any, operator: str, reason: str) -> None:
    """After the engage (which always stands): cancel open orders on the configured venue,
    in testnet/live when ``kill_switch_cancel_open_orders`` is on and the mode's gates
    (the kill switch aside) would let peaktrade send there. A failure is one line, exit 1."""
    from peaktrade_core.gates import evaluate_gates
    from peaktrade_core.plugins import get_plugin_manager
    from peaktrade_core.venues import VenueError, cancel_open_orders, check_client_for_mode

    if not config.environment.kill_switch_cancel_open_orders or not evaluate_gates(config.environment).sending_allowed:
        return
    try:
        client = get_plugin_manager().create_exchange_client(config)
        if client is None:
            return
        check_client_for_mode(client, config.environment.mode)
    except VenueError as exc:
        fail(f"kill switch engaged, but open orders on the venue were not cancelled: {exc}", code=1)
    event = cancel_open_orders(client, store, operator=operator, source="cli", reason=reason)
    if event["error"]:
        fail(f"kill switch engaged, but cancelling open orders on {event['venue']} failed: {event['error']}", code=1)
    click.echo(f"cancelled {event['cancelled']} open order(s) on {event['venue']} ({event['endpoint']})")


def _print_history(rows: list[dict[str, Any]], cancels: list[dict[str, Any]], as_json: bool, limit: int | None = None,
                   since: float | None = None) -> None:
    merged = newest_first([*rows, *({"action": "venue_cancel_all", **c} for c in cancels)], since=since, limit=limit)
    if as_json:
        echo_json(merged)
        return
    for r in merged:
        if r["action"] == "venue_cancel_all":
            outcome = f"failed: {r['error']}" if r["error"] else f"{r['cancelled']} open order(s) cancelled"
            click.echo(f"{r['at']}  venue    {r['operator']:<12}  {r['source']:<10}  {r['venue']} ({r['endpoint']}): {outcome}")
        else:
            echo(f"{r['at']}  {_ACTION_SHOWN.get(r['action'], r['action']):<8}  {r['operator']:<12}  {r['source']:<10}  {r['reason']}")
    if not rows:
        click.echo("no kill switch events")


_ACTION_SHOWN = {"engage": "ENGAGED", "release": "RELEASED"}


# -- state store --------------------------------------------------------------------------


@click.group()
def state() -> None:
    """The state store: backend, schema and identity; initialise it after a loss; migrate it to PostgreSQL."""


@state.command("info")
@json_option
@_store_options
@pass_env
def state_info(env: Env, as_json: bool, data_dir: str | None, url: str | None) -> None:
    """The store: backend, schema versions, identity, what the check finds, initialisations."""
    from peaktrade_core.state import check_state, identity_history
    from peaktrade_core.store import store_errors

    config, _ = _config_or_problem(env)
    store = _open(env, config, data_dir, url)
    try:
        check = check_state(store)
        inits = identity_history(store)
        versions = store.schema_versions()
    except store_errors() as exc:
        _store_failure(store, exc)
    if as_json:
        echo_json({**check.to_dict(), "backend": store.backend, "schema_versions": versions, "initialisations": inits})
        return
    click.echo(f"state store: {check.store} ({store.backend})")
    click.echo("  schema:       " + ", ".join(f"{name} v{v}" for name, v in versions.items()))
    ident = check.identity
    if ident:
        click.echo(f"  store id:     {ident['store_id']} ({'initialised by a person' if ident['kind'] == 'person' else 'created by a paper/shadow session'})")
        click.echo(f"  initialised:  by {ident['operator']} at {ident['at']}: {ident['reason']}")
    click.echo(f"  kill switch events: {check.events}")
    click.echo(f"  check:        {check.problem or 'ok'}")


state.add_command(click.Command("show", callback=state_info.callback, params=state_info.params, hidden=True, help=state_info.help))


@state.command("init")
@click.option("--reason", help="Why (required): what happened to the old store, who checked.")
@click.option("--operator", help="Who (default: the OS user).")
@json_option
@_store_options
@pass_env
def state_init(env: Env, reason: str | None, operator: str | None, as_json: bool, data_dir: str | None, url: str | None) -> None:
    """Give the state store a new, recorded identity, so testnet/live may trade on it.

    Needed once for a new data directory, and after the store was lost, emptied, replaced
    or altered (status names the problem). A kill switch the data directory last knew as
    engaged stays engaged.
    """
    from peaktrade_core.state import check_state, init_identity
    from peaktrade_core.store import store_errors

    if not reason or not reason.strip():
        fail("--reason is required: say why the state store is (re-)initialised and who checked")
    config, _ = _config_or_problem(env)
    reason = _typed_reason(env, config, reason)
    if operator:
        operator = _typed_reason(env, config, operator)
    store = _open(env, config, data_dir, url)
    try:
        before = check_state(store)
        if before.kind == "ok":
            ident = before.identity or {}
            click.echo(f"state store {store.location} is intact: store {ident.get('store_id')} (initialised by {ident.get('operator')} at {ident.get('at')}); nothing to do")
            return
        record = init_identity(store, reason, operator)
    except store_errors() as exc:
        _store_failure(store, exc)
    from peaktrade_core.killswitch import KillSwitch

    ks = KillSwitch(store).state()
    if as_json:
        echo_json({**record, "store": store.location, "kill_switch_engaged": ks.engaged})
    else:
        click.echo(f"state store {store.location} initialised: store {record['store_id']} by {record['operator']}: {record['reason']}")
        if record["found"]:
            click.echo(f"  found: {record['found']}")
        if ks.engaged:
            echo(f"  kill switch ENGAGED by {ks.operator}: {ks.reason}")
    from peaktrade_core.alerts import AlertLevel, raise_alert
    from peaktrade_core.config import PeakTradeConfig

    raise_alert(
        AlertLevel.WARNING,
        "state",
        "initialised",
        f"state store initialised by {record['operator']}: {record['reason']}" + (f" (found: {record['found']})" if record["found"] else ""),
        {k: record[k] for k in ("store_id", "operator", "reason", "previous_store_id", "found")},
        config=config or PeakTradeConfig(),
        store=store,
    )


@state.command("migrate")
@click.option("--to", "to_url", required=True, metavar="URL", help="The PostgreSQL database to copy into (empty); e.g. postgresql://user@host/db.")
@json_option
@_store_options
@pass_env
def state_migrate(env: Env, to_url: str, as_json: bool, data_dir: str | None, url: str | None) -> None:
    """Copy this SQLite state store into an empty PostgreSQL database and verify the copy.

    Every table moves (the kill switch with its chain, the run log, alerts, records, the
    identity); then every run-log chain is verified on the copy. Stop every session first.
    The source is left as it was; point [state] url at the database by hand afterwards.
    """
    from peaktrade_core.runlog import AuditKeyError, audit_keys_from, list_runs, verify_run
    from peaktrade_core.store import StateError, describe_url, open_store_url, store_errors
    from peaktrade_core.store.copy import copy_state

    config, _ = _config_or_problem(env)
    source = _open(env, config, data_dir, url)
    if source.backend != "sqlite":
        fail(f"state migrate copies an SQLite store; {source.location} is {source.backend}")
    try:
        target = open_store_url(to_url, data_dir=source.data_dir)
    except store_errors() as exc:
        fail(f"nothing copied: {exc}")
    if target.backend != "postgresql":
        fail(f"--to must name a PostgreSQL database (postgresql://…), not {describe_url(to_url)}")
    try:
        audit = audit_keys_from(config) if config is not None else None
    except AuditKeyError as exc:
        fail(f"nothing copied: {exc}")
    try:
        copied = copy_state(source, target)
        runs = [m.run_id for m in list_runs(target)]
        broken = [(run_id, result) for run_id in runs if not (result := verify_run(target, run_id, audit=audit)).ok]
    except StateError as exc:
        fail(f"migration failed: {exc}; the source is unchanged")
    data = {"source": source.location, "target": target.location, "rows": copied, "runs_verified": len(runs) - len(broken),
            "runs_broken": [{"run_id": r, "problems": res.problems[:5]} for r, res in broken]}
    if as_json:
        echo_json(data)
    else:
        click.echo(f"copied {source.location} -> {target.location}: " + ", ".join(f"{t} {n:,}" for t, n in sorted(copied.items())))
        click.echo(f"run log: {len(runs) - len(broken)} of {len(runs)} run(s) verify on the copy")
        for run_id, res in broken:
            click.echo(f"  run {run_id}: {res.problems[0]}")
        if not broken:
            click.echo('next: set [state] url = { env = "PEAK_TRADE_DB_URL" } in the config (by hand: a governance key) and export the URL')
    if broken:
        sys.exit(1)
