"""``peaktrade health`` as cron runs it: a subprocess, real state files in a data dir, the
loopback reference venue installed as an entry-point plugin, a real HTTP venue on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from peaktrade_core.testing.loopback import LoopbackVenue

pytestmark = pytest.mark.slow

TESTNET = """
[environment]
mode = "testnet"
exchange = "loopback"
enable_testnet_trading = true
testnet_allowed_symbols = ["BTC/EUR"]

[live_risk]
max_order_notional = 1000.0
max_total_exposure_notional = 5000.0
max_daily_loss_abs = 200.0

[plugins.loopback]
base_url = "{url}"
api_key = {{ env = "LOOPBACK_API_KEY" }}
api_secret = {{ env = "LOOPBACK_API_SECRET" }}
timeout_seconds = 60.0
testnet_validate_only = false  # the loopback venue acts as a sandbox: orders fill
"""
ORDERS = "symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\nBTC/EUR,sell,0.01,40100\n"


@pytest.fixture
def venue():
    with LoopbackVenue() as venue:
        yield venue


def _install(site: Path, name: str, target: str) -> None:
    """A plugin as pip would leave it: a dist-info folder with an entry point."""
    info = site / f"peaktrade_{name}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: peaktrade-{name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[peaktrade]\n{name} = {target}\n")


class Operator:
    def __init__(self, tmp_path: Path, venue: LoopbackVenue):
        self.tmp_path, self.venue = tmp_path, venue
        self.site = tmp_path / "site"
        _install(self.site, "loopback", "peaktrade_core.testing.loopback:plugin")
        self.plugins = "loopback"
        self.config = tmp_path / "config.toml"
        self.data = tmp_path / "data"

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPBACK_", "PEAK_TRADE_"))}
        env.update(
            PYTHONPATH=str(self.site),
            PEAK_TRADE_PLUGINS=self.plugins,
            PEAK_TRADE_DATA_DIR=str(self.data),
            LOOPBACK_API_KEY=self.venue.api_key,
            LOOPBACK_API_SECRET=self.venue.api_secret,
        )
        argv = [sys.executable, "-m", "peaktrade_core"]
        if self.config.exists():
            argv += ["--config", str(self.config)]
        proc = subprocess.run([*argv, *args], capture_output=True, text=True, env=env, cwd=self.tmp_path, timeout=timeout)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert self.venue.api_secret not in proc.stdout + proc.stderr
        return proc

    def health(self, *args: str) -> tuple[int, dict[str, list[dict[str, str]]]]:
        proc = self("health", "--json", *args)
        data = json.loads(proc.stdout)
        assert data["ok"] == (proc.returncode == 0), proc.stdout
        by_name: dict[str, list[dict[str, str]]] = {}
        for check in data["checks"]:
            by_name.setdefault(check["name"], []).append(check)
        return proc.returncode, by_name

    def testnet(self, url: str | None = None) -> None:
        self.config.write_text(TESTNET.format(url=url or self.venue.url))
        proc = self("state", "init", "--reason", "new testnet installation")
        assert proc.returncode == 0, proc.stderr


@pytest.fixture
def peaktrade(tmp_path, venue):
    return Operator(tmp_path, venue)


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
    peaktrade.testnet()
    before = venue.requests
    code, checks = peaktrade.health("--preset", "pre-open")
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

    peaktrade.testnet()
    client = LoopbackClient(venue.url, venue.api_key, venue.api_secret, testnet=True)
    client.submit_order(OrderRequest("BTC/EUR", "buy", 0.01, "limit", limit_price=1000.0, source_ref="rest"))
    code, checks = peaktrade.health("--preset", "end-of-day")
    assert code == 0  # a warning, not a failure
    assert checks["open_orders"][0]["status"] == "warn"
    assert "1 order(s) left open" in checks["open_orders"][0]["detail"]
    assert "cancel-all" in checks["open_orders"][0]["fix"]


def test_clock_skew_beyond_the_bound_fails_naming_the_fix(peaktrade, venue):
    peaktrade.testnet()
    venue.clock_offset = 5.0  # within the venue's signing window, beyond our bound
    code, checks = peaktrade.health("--max-clock-skew", "1")
    assert code == 1
    clock = checks["clock"][0]
    assert clock["status"] == "fail" and "+5." in clock["detail"] and "bound 1s" in clock["detail"]
    assert "NTP" in clock["fix"]
    code, checks = peaktrade.health("--max-clock-skew", "30")
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
        peaktrade.testnet(url=f"http://127.0.0.1:{server.getsockname()[1]}")
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
    _install(peaktrade.site, "broken", "peaktrade_no_such_module:plugin")
    peaktrade.plugins = "loopback,broken"
    proc = peaktrade("health")
    assert proc.returncode == 1
    line = next(line for line in proc.stdout.splitlines() if "plugin broken" in line)
    assert line.startswith("[FAIL] plugins") and "BLOCKED" in line and "PEAK_TRADE_DISABLE_PLUGINS" in line


def test_a_damaged_run_log_fails_naming_the_record(peaktrade, venue):
    peaktrade.testnet()
    (peaktrade.tmp_path / "orders.csv").write_text(ORDERS)
    proc = peaktrade("session", "run", "--orders", "orders.csv")
    assert proc.returncode == 0, proc.stderr
    assert len(venue.orders()) == 2
    assert peaktrade("health").returncode == 0
    with sqlite3.connect(peaktrade.data / "peaktrade.sqlite3") as db:
        payload = db.execute("SELECT payload FROM runlog_records WHERE seq = 1").fetchone()[0]
        db.execute("UPDATE runlog_records SET payload = ? WHERE seq = 1", (payload.replace("{", "{ ", 1),))
    code, checks = peaktrade.health()
    assert code == 1
    runs = checks["runs"][0]
    assert runs["status"] == "fail" and "record 1" in runs["detail"] and "evidence" in runs["fix"]


def test_kill_switch_fails_pre_open_and_only_warns_at_end_of_day(peaktrade):
    assert peaktrade("kill", "--reason", "venue incident").returncode == 0
    code, checks = peaktrade.health("--preset", "pre-open")
    assert code == 1
    ks = checks["kill_switch"][0]
    assert ks["status"] == "fail" and "venue incident" in ks["detail"] and "kill --release" in ks["fix"]
    code, checks = peaktrade.health("--preset", "end-of-day")
    assert code == 0 and checks["kill_switch"][0]["status"] == "warn"


def test_an_invalid_config_fails_but_the_store_is_still_checked(peaktrade):
    peaktrade.config.write_text("[environment]\nmode = 'moon'\n")
    assert peaktrade("kill", "--reason", "drill").returncode == 0
    code, checks = peaktrade.health()
    assert code == 1
    assert checks["config"][0]["status"] == "fail" and "environment.mode" in checks["config"][0]["detail"]
    assert checks["kill_switch"][0]["status"] == "fail"  # still read: from the data dir alone


def test_testnet_on_an_uninitialised_store_names_state_init(peaktrade):
    peaktrade.config.write_text(TESTNET.format(url=peaktrade.venue.url))
    code, checks = peaktrade.health()
    assert code == 1
    state = checks["state"][0]
    assert state["status"] == "fail" and "never initialised" in state["detail"] and "peaktrade state init" in state["fix"]


def test_alert_test_delivers_and_is_recorded(peaktrade):
    code, checks = peaktrade.health("--alert-test")
    assert code == 0
    assert checks["alerts"][0]["status"] == "ok" and "test alert delivered to log" in checks["alerts"][0]["detail"]
    history = json.loads(peaktrade("alerts", "history", "--json").stdout)
    assert [(r["source"], r["code"]) for r in history] == [("health", "alert_test")]
