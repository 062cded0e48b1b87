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


def _config_or_problem(env: Env) -> tuple[Any, str | None]:
    """The config if it is valid, else ``(None, its first problem)``."""
    from peaktrade_core.config import ConfigError, load_config

    try:
        return load_config(env.config_path), None
    except ConfigError as exc:
        return None, exc.lines[0] if exc.lines else "invalid config"
    except Exception as exc:  # whatever is wrong with the file, the emergency stop works
        return None, f"{env.config_path or 'config'}: {type(exc).__name__}: {exc}"


def _data_dir(env: Env, config: Any, option: str | None) -> Path:
    from peaktrade_core.config import resolve_config_path
    from peaktrade_core.state import lenient_data_dir

    if option:
        return Path(option).expanduser()
    if config is not None:
        return config.data_dir()
    return lenient_data_dir(resolve_config_path(env.config_path))


def _open(data_dir: Path, consequence: str = "") -> Any:
    from peaktrade_core.state import StateError, StateStore

    try:
        return StateStore.in_dir(data_dir)
    except StateError as exc:
        fail(f"{consequence}{exc}")
    except (sqlite3.Error, OSError) as exc:  # unwritable data dir and the like
        fail(f"{consequence}state store in {data_dir}: {getattr(exc, 'strerror', None) or exc}")


# -- status -------------------------------------------------------------------------------


@click.command()
@json_option
@click.option("--require-live", is_flag=True, help="Exit 1 unless live execution is allowed.")
@pass_env
def status(env: Env, as_json: bool, require_live: bool) -> None:
    """Operator console: mode, every gate, state store, kill switch, limits, verdict."""
    from peaktrade_core.killswitch import KillSwitch
    from peaktrade_core.state import check_state, damage
    from peaktrade_core.status import render_status, status_dict

    config = env.config
    store = env.store
    try:
        data = status_dict(config, KillSwitch(store).state(), check_state(store))
    except sqlite3.DatabaseError as exc:
        fail(f"state store {store.path}: {damage(exc)}")
    data["failed_plugins"] = _failed_plugins()
    data["readiness"] = _readiness(store)
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

    try:
        return stage_summary(store)
    except sqlite3.DatabaseError:  # a damaged store is named by the state_store gate
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
@click.option("--data-dir", metavar="DIR", help=_DATA_DIR_HELP)
@pass_env
def kill(env: Env, reason: str | None, operator: str | None, release: bool, history: bool, limit: int | None, since: float | None,
         as_json: bool, data_dir: str | None) -> None:
    """Engage the kill switch: no new order passes until a person releases it.

    Works with an invalid config file: only the data directory is needed.
    """
    from peaktrade_core.killswitch import KillSwitch, KillSwitchError
    from peaktrade_core.state import current_operator, damage

    if not history and not reason:
        fail("--reason is required: say why you " + ("release" if release else "engage") + " the kill switch")
    config, config_problem = _config_or_problem(env)
    directory = _data_dir(env, config, data_dir)
    # a damaged store: say plainly that nothing was recorded (the runbook says what to do)
    not_done = "" if history else f"kill switch NOT {'released' if release else 'engaged'}: "
    store = _open(directory, not_done)
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
    except sqlite3.DatabaseError as exc:
        fail(f"{not_done}state store {store.path}: {damage(exc)}")
    action = "released" if release else "engaged"
    if as_json:
        echo_json({**{k: v for k, v in event.items() if k != "chain"}, "engaged": not release, "store": str(store.path)})
    else:
        echo(f"kill switch {action.upper()} by {event['operator']}: {event['reason']}")
        click.echo(f"  state store: {store.path}")
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
    """The state store's identity: show it, initialise it after a loss (a person, recorded)."""


@state.command("show")
@json_option
@click.option("--data-dir", metavar="DIR", help=_DATA_DIR_HELP)
@pass_env
def state_show(env: Env, as_json: bool, data_dir: str | None) -> None:
    """The store, its identity, what the check finds, and every initialisation."""
    from peaktrade_core.state import check_state, damage, identity_history

    config, _ = _config_or_problem(env)
    store = _open(_data_dir(env, config, data_dir))
    try:
        check = check_state(store)
        inits = identity_history(store)
    except sqlite3.DatabaseError as exc:
        fail(f"state store {store.path}: {damage(exc)}")
    if as_json:
        echo_json({**check.to_dict(), "initialisations": inits})
        return
    click.echo(f"state store: {check.store}")
    ident = check.identity
    if ident:
        click.echo(f"  store id:     {ident['store_id']} ({'initialised by a person' if ident['kind'] == 'person' else 'created by a paper/shadow session'})")
        click.echo(f"  initialised:  by {ident['operator']} at {ident['at']}: {ident['reason']}")
    click.echo(f"  kill switch events: {check.events}")
    click.echo(f"  check:        {check.problem or 'ok'}")


@state.command("init")
@click.option("--reason", help="Why (required): what happened to the old store, who checked.")
@click.option("--operator", help="Who (default: the OS user).")
@json_option
@click.option("--data-dir", metavar="DIR", help=_DATA_DIR_HELP)
@pass_env
def state_init(env: Env, reason: str | None, operator: str | None, as_json: bool, data_dir: str | None) -> None:
    """Give the state store a new, recorded identity, so testnet/live may trade on it.

    Needed once for a new data directory, and after the store was lost, emptied, replaced
    or altered (status names the problem). A kill switch the data directory last knew as
    engaged stays engaged.
    """
    from peaktrade_core.state import StateError, check_state, damage, init_identity

    if not reason or not reason.strip():
        fail("--reason is required: say why the state store is (re-)initialised and who checked")
    config, _ = _config_or_problem(env)
    store = _open(_data_dir(env, config, data_dir))
    try:
        before = check_state(store)
        if before.kind == "ok":
            ident = before.identity or {}
            click.echo(f"state store {store.path} is intact: store {ident.get('store_id')} (initialised by {ident.get('operator')} at {ident.get('at')}); nothing to do")
            return
        record = init_identity(store, reason, operator)
    except StateError as exc:
        fail(str(exc))
    except sqlite3.DatabaseError as exc:
        fail(f"state store {store.path}: {damage(exc)}")
    from peaktrade_core.killswitch import KillSwitch

    ks = KillSwitch(store).state()
    if as_json:
        echo_json({**record, "store": str(store.path), "kill_switch_engaged": ks.engaged})
    else:
        click.echo(f"state store {store.path} initialised: store {record['store_id']} by {record['operator']}: {record['reason']}")
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
