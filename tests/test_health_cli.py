"""``peaktrade health`` as cron runs it: a subprocess, real state files in a data dir, the
loopback reference venue installed as an entry-point plugin, a real HTTP venue on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading

import pytest

from peaktrade_core.testing import (
    LOOPBACK_TESTNET_CONFIG,
    ROUND_TRIP_ORDERS,
    OperatorShell,
    install_plugin,
)
from peaktrade_core.testing.loopback import LoopbackVenue

pytestmark = pytest.mark.slow


@pytest.fixture
def venue():
    with LoopbackVenue() as venue:
        yield venue


@pytest.fixture
def peaktrade(tmp_path, venue):
    return OperatorShell(tmp_path, venue)


def health(shell: OperatorShell, *args: str) -> tuple[int, dict[str, list[dict[str, str]]]]:
    """Exit code, and the checks by name (a name may have several lines)."""
    proc = shell("health", "--json", *args)
    data = json.loads(proc.stdout)
    assert data["ok"] == (proc.returncode == 0), proc.stdout
    by_name: dict[str, list[dict[str, str]]] = {}
    for check in data["checks"]:
        by_name.setdefault(check["name"], []).append(check)
    return proc.returncode, by_name


def _statuses(checks: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    return {name: ",".join(c["status"] for c in found) for name, found in checks.items()}


def test_fresh_install_is_healthy_and_every_line_says_what_it_checked(peaktrade):
    proc = peaktrade("health", "--preset", "pre-open")
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    names = [line[7:].split()[0] for line in lines[:-1]]
    assert names == ["config", "plugins", "state", "runs", "kill_switch", "mode", "limits", "venue", "alerts"]
    assert all(line.startswith(("[ ok ]", "[skip]")) for line in lines[:-1]), proc.stdout
    assert lines[-1].startswith("health (pre-open): HEALTHY: 0 failed")
    # the outcome is recorded for readiness: a real row in the store
    with sqlite3.connect(peaktrade.data / "peaktrade.sqlite3") as db:
        assert db.execute("SELECT preset, ok FROM health_results").fetchall() == [("pre-open", 1)]


def test_testnet_venue_is_pinged_clock_compared_and_balances_read(peaktrade, venue):
    peaktrade.use_loopback_testnet()
    before = venue.requests
    code, checks = health(peaktrade, "--preset", "pre-open")
    assert code == 0, checks
    status = _statuses(checks)
    assert status["venue"] == status["clock"] == status["balances"] == status["state"] == "ok", checks
    assert "online" in checks["venue"][0]["detail"] and "testnet" in checks["venue"][0]["detail"]
    assert "EUR 100000" in checks["balances"][0]["detail"]
    assert venue.requests - before >= 3  # ping, time and balances really reached the venue
    assert venue.orders() == []  # health never places anything


def test_end_of_day_names_orders_left_open(peaktrade, venue):
    from peaktrade_core.orders import OrderRequest
    from peaktrade_core.testing.loopback import LoopbackClient

    peaktrade.use_loopback_testnet()
    client = LoopbackClient(venue.url, venue.api_key, venue.api_secret, testnet=True)
    client.submit_order(OrderRequest("BTC/EUR", "buy", 0.01, "limit", limit_price=1000.0, source_ref="rest"))
    code, checks = health(peaktrade, "--preset", "end-of-day")
    assert code == 0  # a warning, not a failure
    assert checks["open_orders"][0]["status"] == "warn"
    assert "1 order(s) left open" in checks["open_orders"][0]["detail"]
    assert "cancel-all" in checks["open_orders"][0]["fix"]


def test_clock_skew_beyond_the_bound_fails_naming_the_fix(peaktrade, venue):
    peaktrade.use_loopback_testnet()
    venue.clock_offset = 5.0  # within the venue's signing window, beyond our bound
    code, checks = health(peaktrade, "--max-clock-skew", "1")
    assert code == 1
    clock = checks["clock"][0]
    assert clock["status"] == "fail" and "bound 1s" in clock["detail"]
    # the skew is measured against the request's midpoint: on a loaded machine a slow round
    # trip shaves some off the 5 s, never enough to pass the 1 s bound
    skew = float(clock["detail"].split("differs by ")[1].split("s")[0])
    assert 1 < skew <= 5.01
    assert "NTP" in clock["fix"]
    code, checks = health(peaktrade, "--max-clock-skew", "30")
    assert code == 0 and checks["clock"][0]["status"] == "ok"


def test_a_hung_venue_fails_within_the_timeout(peaktrade):
    """A server that accepts the connection and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        peaktrade.use_loopback_testnet(url=f"http://127.0.0.1:{server.getsockname()[1]}")
        proc = peaktrade("health", "--venue-timeout", "1")
        assert proc.returncode == 1
        line = next(line for line in proc.stdout.splitlines() if " venue " in line)
        assert line.startswith("[FAIL]") and "ping: no answer within 1s (venue hung)" in line and "->" in line
        assert "NOT HEALTHY" in proc.stdout.splitlines()[-1]
    finally:
        stop.set()
        thread.join(timeout=10)
        for conn in held:
            conn.close()
        server.close()


def test_a_failed_trading_plugin_is_named_and_fails(peaktrade):
    install_plugin(peaktrade.site, "broken", "peaktrade_no_such_module:plugin")
    peaktrade.plugins = "loopback,broken"
    proc = peaktrade("health")
    assert proc.returncode == 1
    line = next(line for line in proc.stdout.splitlines() if "plugin broken" in line)
    assert line.startswith("[FAIL] plugins") and "BLOCKED" in line and "PEAK_TRADE_DISABLE_PLUGINS" in line


def test_a_damaged_run_log_fails_naming_the_record(peaktrade, venue):
    peaktrade.use_loopback_testnet()
    (peaktrade.tmp_path / "orders.csv").write_text(ROUND_TRIP_ORDERS)
    proc = peaktrade("session", "run", "--orders", "orders.csv")
    assert proc.returncode == 0, proc.stderr
    assert len(venue.orders()) == 2
    assert peaktrade("health").returncode == 0
    with sqlite3.connect(peaktrade.data / "peaktrade.sqlite3") as db:
        payload = db.execute("SELECT payload FROM runlog_records WHERE seq = 1").fetchone()[0]
        db.execute("UPDATE runlog_records SET payload = ? WHERE seq = 1", (payload.replace("{", "{ ", 1),))
    code, checks = health(peaktrade)
    assert code == 1
    runs = checks["runs"][0]
    assert runs["status"] == "fail" and "record 1" in runs["detail"] and "evidence" in runs["fix"]


def test_kill_switch_fails_pre_open_and_only_warns_at_end_of_day(peaktrade):
    assert peaktrade("kill", "--reason", "venue incident").returncode == 0
    code, checks = health(peaktrade, "--preset", "pre-open")
    assert code == 1
    ks = checks["kill_switch"][0]
    assert ks["status"] == "fail" and "venue incident" in ks["detail"] and "kill --release" in ks["fix"]
    code, checks = health(peaktrade, "--preset", "end-of-day")
    assert code == 0 and checks["kill_switch"][0]["status"] == "warn"


def test_an_invalid_config_fails_but_the_store_is_still_checked(peaktrade):
    peaktrade.config.write_text("[environment]\nmode = 'moon'\n")
    assert peaktrade("kill", "--reason", "drill").returncode == 0
    code, checks = health(peaktrade)
    assert code == 1
    assert checks["config"][0]["status"] == "fail" and "environment.mode" in checks["config"][0]["detail"]
    assert checks["kill_switch"][0]["status"] == "fail"  # still read: from the data dir alone


def test_testnet_on_an_uninitialised_store_names_state_init(peaktrade):
    peaktrade.config.write_text(LOOPBACK_TESTNET_CONFIG.format(url=peaktrade.venue.url))
    code, checks = health(peaktrade)
    assert code == 1
    state = checks["state"][0]
    assert state["status"] == "fail" and "never initialised" in state["detail"] and "peaktrade state init" in state["fix"]


def test_alert_test_delivers_and_is_recorded(peaktrade):
    code, checks = health(peaktrade, "--alert-test")
    assert code == 0
    assert checks["alerts"][0]["status"] == "ok" and "test alert delivered to log" in checks["alerts"][0]["detail"]
    history = json.loads(peaktrade("alerts", "history", "--json").stdout)
    assert [(r["source"], r["code"]) for r in history] == [("health", "alert_test")]
