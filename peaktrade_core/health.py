"""``peaktrade health``: is this installation fit to trade right now?

Every check gives one line: what was found and, when it is not ok, what to do. A check
fails (exit 1), warns (worth a look, exit unaffected), passes or is skipped (not
applicable: no venue in paper mode). Checks that need only the data directory (state
store, runs, kill switch) run even when the config is invalid, so a broken file never
hides a damaged store.

Presets:

* ``pre-open`` (the default): the full set before trading starts; an engaged kill switch
  fails (nothing would trade).
* ``end-of-day``: every run started in the last 24 hours verifies, runs left ``running``
  by a dead process, orders left open at the venue; an engaged kill switch only warns.

Each result is recorded in the state store (table ``health_results``) when the store is
usable, so readiness can ask "when did health last pass".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

PRESETS = ("pre-open", "end-of-day")
OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
#: how many of the newest runs ``pre-open`` verifies
PRE_OPEN_RUNS = 5
END_OF_DAY_WINDOW_S = 24 * 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS health_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    preset TEXT NOT NULL,
    ok INTEGER NOT NULL,
    checks TEXT NOT NULL
);
"""


class Check(NamedTuple):
    name: str
    status: str
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return self._asdict()


class HealthOptions(NamedTuple):
    preset: str = "pre-open"
    alert_test: bool = False
    #: largest accepted difference between the venue clock and ours, seconds
    max_clock_skew: float = 2.0
    #: how long one venue call may take before the venue counts as hung, seconds
    venue_timeout: float = 10.0


class _TimedOut(Exception):
    pass


def _bounded(function: Callable[[], Any], timeout: float) -> Any:
    """``function()`` in a daemon thread: a hung adapter cannot hang the health check."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller as one line
            box["error"] = exc

    worker = threading.Thread(target=run, name="health-venue-call", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise _TimedOut(f"no answer within {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _one_line(exc: BaseException) -> str:
    from peaktrade_core.secrets import redact

    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)[:300]


# -- the checks ---------------------------------------------------------------------------


def _config(config_path: str | None) -> tuple[Any, Check]:
    from peaktrade_core.config import ConfigError, load_config, resolve_config_path

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        lines = exc.lines or ["invalid config"]
        more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
        return None, Check("config", FAIL, lines[0] + more, "fix the file; `peaktrade config validate` lists every problem")
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with the file, health still reports
        where = resolve_config_path(config_path) or "config"
        return None, Check("config", FAIL, f"{where}: {_one_line(exc)}", "fix the file; `peaktrade config validate`")
    where = config.source or "built-in defaults"
    mode = config.environment.mode.value
    return config, Check("config", OK, f"{where}: valid, mode {mode}")


def _plugins(config: Any) -> list[Check]:
    from peaktrade_core.plugins import get_plugin_manager

    pm = get_plugin_manager()
    if config is not None:
        pm.configure(config)  # a plugin that rejects its settings is marked failed here
    infos = pm.infos()
    failed = [i for i in infos if i.status == "failed"]
    loaded = sum(1 for i in infos if i.status == "loaded")
    if not failed:
        return [Check("plugins", OK, f"{loaded} loaded, none failed")]
    out = []
    for info in failed:
        effect = "every batch is BLOCKED" if info.blocks_trading else "trading goes on without it"
        out.append(
            Check(
                "plugins",
                FAIL,
                f"plugin {info.name} ({info.distribution}) failed: {info.error} ({effect})",
                "reinstall or fix it, or disable it with PEAK_TRADE_DISABLE_PLUGINS; `peaktrade plugins list`",
            )
        )
    return out


def _open_store(config: Any, config_path: str | None) -> tuple[Any, Check | None]:
    """The configured store; with an invalid config, the one it names (read leniently)."""
    import sqlite3

    from peaktrade_core.config import resolve_config_path
    from peaktrade_core.state import lenient_store
    from peaktrade_core.store import open_store, store_errors

    try:
        if config is not None:
            return open_store(config), None
        return lenient_store(resolve_config_path(config_path)), None
    except (*store_errors(), sqlite3.Error, OSError) as exc:
        problem = str(exc) if isinstance(exc, store_errors()) else f"state store: {getattr(exc, 'strerror', None) or exc}"
    return None, Check("state", FAIL, problem, "see the runbook 'State store lost, replaced or damaged' in docs/operators.md")


def _state(store: Any, config: Any) -> Check:
    from peaktrade_core.state import check_state, damage
    from peaktrade_core.store import store_errors

    try:
        found = check_state(store)
    except store_errors() as exc:
        return Check("state", FAIL, f"state store {store.location}: {damage(exc)}", "see the runbook 'State store lost, replaced or damaged'")
    mode = config.environment.mode.value if config is not None else "live"  # no config: judge strictly
    problem = found.problem_for(mode)
    if problem is None:
        ident = found.identity or {}
        who = f", store {ident['store_id']} initialised by {ident['operator']}" if ident.get("operator") else ""
        return Check("state", OK, f"{found.store}: {found.kind}{who}")
    if found.kind in ("uninitialised", "automatic"):
        fix = 'initialise it: `peaktrade state init --reason "new testnet/live installation"`'
    else:
        fix = "keep the files as evidence, then follow the runbook 'State store lost, replaced or damaged' (`peaktrade state init`)"
    return Check("state", FAIL, problem, fix)


def _runs(store: Any, preset: str, now: float) -> list[Check]:
    from datetime import datetime

    from peaktrade_core.runlog import list_runs, load_run_snapshot, verify_run
    from peaktrade_core.store import store_errors

    try:
        metas = list_runs(store)
    except store_errors() as exc:
        return [Check("runs", FAIL, f"run log unreadable: {exc}", "see the runbook 'State store lost, replaced or damaged'")]
    if preset == "end-of-day":

        def recent(started: str) -> bool:
            try:
                return now - datetime.fromisoformat(started).timestamp() <= END_OF_DAY_WINDOW_S
            except ValueError:
                return True  # unreadable start: verify it

        picked = [m for m in metas if recent(m.started_at)]
        scope = "started in the last 24h"
    else:
        picked = metas[-PRE_OPEN_RUNS:]
        scope = f"newest {PRE_OPEN_RUNS}"
    if not picked:
        return [Check("runs", OK, f"no runs to verify ({scope})")]
    out: list[Check] = []
    records = 0
    for meta in picked:
        try:
            result = verify_run(store, meta.run_id)
        except store_errors() as exc:
            out.append(Check("runs", FAIL, f"run {meta.run_id}: unreadable: {exc}", "keep the store as evidence; see the runbook"))
            continue
        records += result.records
        if not result.ok:
            more = f" (+{len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
            out.append(
                Check(
                    "runs",
                    FAIL,
                    f"run {meta.run_id}: chain broken: {result.problems[0]}{more}",
                    f"do not delete anything: keep the store as evidence; `peaktrade runs verify {meta.run_id}` lists every problem",
                )
            )
        if meta.status == "running":
            snap = load_run_snapshot(store, meta.run_id)
            if snap.process_alive is False:
                out.append(
                    Check(
                        "runs",
                        WARN,
                        f"run {meta.run_id} says running but its process {snap.pid} is gone",
                        "it is marked aborted at the next session start; check the venue for open orders",
                    )
                )
    if not any(c.status == FAIL for c in out):
        out.insert(0, Check("runs", OK, f"{len(picked)} run(s) verified ({scope}), {records} records"))
    return out


def _kill_switch(store: Any, preset: str) -> Check:
    from peaktrade_core.killswitch import KillSwitch
    from peaktrade_core.store import store_errors

    try:
        ks = KillSwitch(store).state()
    except store_errors() as exc:
        return Check("kill_switch", FAIL, f"unreadable: {exc}", "see the runbook 'State store lost, replaced or damaged'")
    if not ks.engaged:
        return Check("kill_switch", OK, "released")
    detail = f"ENGAGED by {ks.operator} at {ks.at}: {ks.reason}"
    if preset == "end-of-day":
        return Check("kill_switch", WARN, detail, "release it before the next open if the cause is fixed")
    return Check("kill_switch", FAIL, detail + " (no order passes)", 'once the cause is fixed: `peaktrade kill --release --reason "..."`')


def _limits(config: Any) -> Check:
    env, risk = config.environment, config.live_risk
    mode = env.mode.value
    if not risk.enabled and mode in ("testnet", "live"):
        return Check("limits", FAIL, f"{mode} mode with [live_risk] enabled = false: no risk limit is checked", "set [live_risk] enabled = true")
    if mode == "live":
        missing = env.live_limits_missing()
        if missing:
            keys = ", ".join(f"environment.{k}" for k in missing)
            return Check("limits", FAIL, f"live mode without {keys}: every live order is blocked", "set them in [environment] (by hand)")
    wanted = ("max_order_notional", "max_total_exposure_notional")
    unset = [f"live_risk.{k}" for k in wanted if getattr(risk, k) is None]
    if risk.max_daily_loss_abs is None and risk.max_daily_loss_pct is None:
        unset.append("live_risk.max_daily_loss_abs|pct")
    if not risk.enabled:
        return Check("limits", OK, f"{mode} mode: [live_risk] disabled (nothing real is sent in {mode})")
    if unset and mode in ("testnet", "live"):
        return Check("limits", WARN, f"{mode} mode: not set: {', '.join(unset)}", "set them, or choose a risk profile (docs/risk.md)")
    shown = f"; not set: {', '.join(unset)}" if unset else ""
    return Check("limits", OK, f"{mode} mode: limits in force{shown}")


def _mode(config: Any, store: Any) -> Check:
    from peaktrade_core.gates import RELEASED, evaluate_gates
    from peaktrade_core.killswitch import KillSwitch

    try:
        ks = KillSwitch(store).state() if store is not None else RELEASED
    except Exception:  # noqa: BLE001 - the kill-switch check reports it
        ks = RELEASED
    report = evaluate_gates(config.environment, ks)
    mode, effective = config.environment.mode.value, report.effective_mode.value
    closed = [g for g in report.mode_gates if not g.open]
    detail = f"configured {mode}, effective {effective}"
    if mode in ("testnet", "live") and effective != mode and closed:
        detail += f" (closed: {closed[0].gate}: {closed[0].reason})"
        return Check("mode", WARN, detail, "open the gate if this mode is meant to trade (docs/operators.md 'The gates')")
    return Check("mode", OK, detail)


def _venue(config: Any, options: HealthOptions) -> list[Check]:
    from peaktrade_core.environment import TradingMode
    from peaktrade_core.plugins import get_plugin_manager
    from peaktrade_core.venues import VenueError, check_client_for_mode

    env = config.environment
    if env.mode not in (TradingMode.TESTNET, TradingMode.LIVE):
        return [Check("venue", SKIP, f"{env.mode.value} mode: no venue is used")]
    if not env.exchange:
        return [Check("venue", SKIP, f"{env.mode.value} mode without [environment] exchange: nothing is sent to a venue")]
    try:
        client = get_plugin_manager().create_exchange_client(config)
        check_client_for_mode(client, env.mode)
    except VenueError as exc:
        return [Check("venue", FAIL, _one_line(exc), "install/enable the venue's plugin and check [plugins.<name>]")]
    name = f"{client.name} ({client.endpoint})"
    timeout = options.venue_timeout

    def call(what: str, function: Callable[[], Any]) -> tuple[Any, Check | None]:
        try:
            return _bounded(function, timeout), None
        except _TimedOut as exc:
            return None, Check("venue", FAIL, f"{name}: {what}: {exc} (venue hung)", "check the venue's status page and the network; do not open")
        except Exception as exc:  # noqa: BLE001 - any adapter failure is one line
            return None, Check("venue", FAIL, f"{name}: {what} failed: {_one_line(exc)}", "check the network, the endpoint and the API key")

    answer, problem = call("ping", client.ping)
    if problem:
        return [problem]
    status = answer.get("status") if isinstance(answer, dict) else None
    if status != "online":
        return [Check("venue", FAIL, f"{name}: ping says {status!r}, not 'online'", "wait for the venue (maintenance?) before opening")]
    out = [Check("venue", OK, f"{name}: online ({'testnet' if client.testnet else 'production'})")]

    before = time.time()
    server, problem = call("server_time", client.server_time)
    after = time.time()
    if problem:
        out.append(problem._replace(name="clock"))
    else:
        skew = float(server) - (before + after) / 2
        bound = options.max_clock_skew
        if abs(skew) > bound:
            out.append(
                Check("clock", FAIL, f"{name}: venue clock differs by {skew:+.3f}s (bound {bound:g}s)",
                      "sync this host's clock (chrony/NTP); signed requests are refused outside the venue's window")
            )
        else:
            out.append(Check("clock", OK, f"skew {skew:+.3f}s (bound {bound:g}s)"))

    balances, problem = call("fetch_balances", client.fetch_balances)
    if problem:
        out.append(problem._replace(name="balances"))
    elif not balances:
        out.append(Check("balances", WARN, f"{name}: no balances", "fund the account (testnet: the venue's faucet)"))
    else:
        top = sorted(balances.items(), key=lambda kv: -abs(float(kv[1])))[:5]
        out.append(Check("balances", OK, ", ".join(f"{k} {float(v):g}" for k, v in top)))

    if options.preset == "end-of-day":
        orders, problem = call("fetch_open_orders", client.fetch_open_orders)
        if problem:
            out.append(problem._replace(name="open_orders"))
        elif orders:
            out.append(Check("open_orders", WARN, f"{len(orders)} order(s) left open at {name}",
                             'review them (`peaktrade exchange open-orders`) or `peaktrade exchange cancel-all --reason "end of day"`'))
        else:
            out.append(Check("open_orders", OK, "none left open"))
    return out


def _alerts(config: Any, store: Any, options: HealthOptions) -> list[Check]:
    from peaktrade_core.alerts import sink_problems
    from peaktrade_core.plugins import get_plugin_manager

    pm = get_plugin_manager()
    settings = config.live_alerts
    problems = sink_problems(config, pm)
    if problems:
        return [Check("alerts", FAIL, f"{key}: {problem}", "install the sink's plugin or fix [live_alerts] sinks") for key, problem in problems]
    guarded = config.environment.mode.value in ("testnet", "live")
    if not settings.sinks:
        status = WARN if guarded else OK
        fix = "configure a sink in [live_alerts] sinks (docs/alerts.md)" if guarded else ""
        return [Check("alerts", status, "no alert sink configured", fix)]
    if not settings.enabled and guarded:
        return [Check("alerts", WARN, "[live_alerts] enabled = false: sessions deliver no alerts", "set [live_alerts] enabled = true")]
    if not options.alert_test:
        return [Check("alerts", OK, f"sinks: {', '.join(settings.sinks)} (delivery not tested: --alert-test)")]
    return [_alert_test(config, store, pm)]


def _alert_test(config: Any, store: Any, pm: Any) -> Check:
    from peaktrade_core.alerts import AlertEvent, AlertHistory, AlertLevel, deliver_alert
    from peaktrade_core.secrets import register_secrets_in

    register_secrets_in(config)
    settings = config.live_alerts
    sinks = tuple(settings.sinks)
    event = AlertEvent(AlertLevel.INFO, "health", "alert_test", "peaktrade health: alert delivery test", dedup_key="")
    history = AlertHistory(store) if store is not None else None
    if history is not None:
        history.record([event], sinks)
    results = deliver_alert(pm, event, sinks, settings.sink_timeout_seconds)
    if history is not None:
        for delivery in results.values():
            history.mark(event.id, delivery)
    failed = [f"{s}: {results[s].error}" for s in sinks if not results[s].ok]
    if failed:
        return Check("alerts", FAIL, "delivery test FAILED: " + "; ".join(failed), "fix the sink (URL, credentials, network); `peaktrade alerts test`")
    return Check("alerts", OK, f"test alert delivered to {', '.join(sinks)}")


# -- running and recording ----------------------------------------------------------------


def run_health(config_path: str | None, options: HealthOptions, now: float | None = None) -> tuple[list[Check], Any]:
    """Every check of ``options.preset``, in order; and the state store (or ``None``)."""
    now = time.time() if now is None else now
    config, first = _config(config_path)
    checks = [first]
    checks += _plugins(config)
    store, problem = _open_store(config, config_path)
    if problem:
        checks.append(problem)
    else:
        checks.append(_state(store, config))
        checks += _runs(store, options.preset, now)
        checks.append(_kill_switch(store, options.preset))
    if config is None:
        checks.append(Check("venue", SKIP, "config invalid: limits, venue and alerts not checked"))
        return checks, store
    checks.append(_mode(config, store))
    checks.append(_limits(config))
    checks += _venue(config, options)
    checks += _alerts(config, store, options)
    return checks, store


def passed(checks: list[Check]) -> bool:
    return not any(c.status == FAIL for c in checks)


def record_result(store: Any, preset: str, checks: list[Check]) -> None:
    """Note the outcome in the state store (best effort: health reports, it must not fail
    on its own bookkeeping)."""
    from peaktrade_core.state import now_iso

    try:
        store.ensure_schema("health_results", _SCHEMA)
        with store.transaction() as conn:
            conn.execute(
                "INSERT INTO health_results (at, preset, ok, checks) VALUES (?, ?, ?, ?)",
                (now_iso(), preset, int(passed(checks)), json.dumps([c.to_dict() for c in checks])),
            )
    except Exception:  # noqa: BLE001, S110 - a damaged store was already reported by the state check
        pass


def last_results(store: Any, limit: int = 20) -> list[dict[str, Any]]:
    """Recorded health results, newest first."""
    store.ensure_schema("health_results", _SCHEMA)
    rows = store.query("SELECT at, preset, ok FROM health_results ORDER BY id DESC LIMIT ?", (limit,))
    return [{"at": r["at"], "preset": r["preset"], "ok": bool(r["ok"])} for r in rows]


_LABEL = {OK: " ok ", WARN: "WARN", FAIL: "FAIL", SKIP: "skip"}


def render(checks: list[Check], preset: str) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        line = f"[{_LABEL[c.status]}] {c.name.ljust(width)}  {c.detail}"
        if c.fix and c.status in (FAIL, WARN):
            line += f"  -> {c.fix}"
        lines.append(line)
    fails = sum(c.status == FAIL for c in checks)
    warns = sum(c.status == WARN for c in checks)
    verdict = "HEALTHY" if not fails else "NOT HEALTHY"
    lines.append(f"health ({preset}): {verdict}: {fails} failed, {warns} warning(s), {len(checks)} checks")
    return "\n".join(lines)
