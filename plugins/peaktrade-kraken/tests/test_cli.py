"""The plugin from the command line (subprocesses, a loopback Kraken on 127.0.0.1): loading,
``peaktrade kraken simulate``, the default config sending nothing, testnet and live sessions, smoke-order, kill and the dead man's switch."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from peaktrade_core.plugin_api import (
    OrderRequest,
    PeakTradeConfig,
    TradingMode,
    iter_run_events,
    list_runs,
)
from peaktrade_core.testing import StateStore, initialised_store

KRAKEN = """
[plugins.kraken]
base_url = "{url}"
api_key = {{ env = "PEAK_TRADE_KRAKEN_API_KEY" }}
api_secret = {{ env = "PEAK_TRADE_KRAKEN_API_SECRET" }}
timeout_seconds = {timeout}
status_check_seconds = 0
"""

TESTNET = """
[environment]
mode = "testnet"
enable_testnet_trading = true
exchange = "kraken"
testnet_allowed_symbols = ["BTC/EUR"]

[execution]
submit_timeout_seconds = 20.0
retry_backoff_seconds = 0.01
"""

LIVE = """
[environment]
mode = "live"
enable_live_trading = true
live_mode_armed = true
live_dry_run_mode = false
confirm_token = "I_KNOW_WHAT_I_AM_DOING"
max_live_notional_per_order = 1000.0
max_live_notional_total = 5000.0
exchange = "kraken"
live_allowed_exchanges = ["kraken"]
live_allowed_symbols = ["BTC/EUR"]
dead_man_switch_seconds = {dead_man}

[execution]
submit_timeout_seconds = 60.0
retry_backoff_seconds = 0.01
"""


def orders_file(tmp_path: Path, rows: list[str]) -> str:
    path = tmp_path / "orders.csv"
    path.write_text("symbol,side,quantity,order_type,limit_price,reference_price\n" + "".join(r + "\n" for r in rows))
    return str(path)


MARKETABLE = [f"BTC/EUR,buy,{0.001 * (i + 1):.3f},limit,50000.0," for i in range(4)]
RESTING = [f"BTC/EUR,buy,{0.001 * (i + 1):.3f},limit,1000.0," for i in range(3)]


@pytest.fixture
def cli(tmp_path, kraken):
    """``peaktrade`` in a subprocess with [plugins.kraken] on the loopback and ``config``
    before it; the state store is initialised (testnet and live sessions refuse any other)."""
    initialised_store().close()

    def run(*args: str, config: str = "", timeout: float = 2.0, popen: bool = False):
        path = tmp_path / "config.toml"
        path.write_text(config + KRAKEN.format(url=kraken.url, timeout=timeout))
        cmd = [sys.executable, "-m", "peaktrade_core", "--config", str(path), *args]
        if popen:
            return subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=300)

    return run


def secret_things(kraken) -> dict[str, str]:
    things = {"api key": kraken.api_key, "secret": kraken.api_secret}
    for i, request in enumerate(kraken.received):
        headers = {k.lower(): v for k, v in request["headers"].items()}
        if "api-sign" in headers:
            things[f"signature {i}"] = headers["api-sign"]
            things[f"nonce {i}"] = request["body"].split("nonce=", 1)[1].split("&", 1)[0]
    return things


def run_events(tmp_path: Path, run_id: str) -> list:
    store = StateStore.in_dir(tmp_path / "data")
    try:
        return list(iter_run_events(store, run_id))
    finally:
        store.close()


def state_dump(tmp_path: Path) -> str:
    """Everything the state store holds (run log, alert history, kill switch, …) as text —
    except the nonce table, whose one job is to remember the last nonce."""
    with sqlite3.connect(tmp_path / "data" / "peaktrade.sqlite3") as conn:
        lines = [line for line in conn.iterdump() if "venue_nonces" not in line]
    assert any("alert" in line for line in lines) and any("run" in line for line in lines)
    return "\n".join(lines)


# -- always ---------------------------------------------------------------------------------


def test_the_plugin_loads_cheaply_and_declares_its_hooks(cli):
    out = cli("plugins", "list", "--json")
    assert out.returncode == 0, out.stderr
    [kraken] = [p for p in json.loads(out.stdout) if p["name"] == "kraken"]
    assert kraken["status"] == "loaded"
    assert {"config_sections", "exchange_venues", "create_exchange_client", "register_commands"} <= set(kraken["hooks"])
    probe = "import sys, peaktrade_kraken.hooks; print(sorted(m for m in ('httpx', 'peaktrade_kraken.client') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "[]"


def test_create_exchange_client_by_mode_and_never_touching_the_network(kraken, tmp_path):
    from peaktrade_kraken import hooks
    from peaktrade_kraken.testing import loopback_settings

    settings, config = loopback_settings(kraken.url), PeakTradeConfig()
    testnet = hooks.create_exchange_client("kraken", TradingMode.TESTNET, settings, config)
    live = hooks.create_exchange_client("kraken", TradingMode.LIVE, settings, config)
    assert (testnet.testnet, testnet.validate_only, testnet.endpoint) == (True, True, kraken.url)
    assert (live.testnet, live.validate_only, live.name) == (False, False, "kraken")
    assert hooks.create_exchange_client("kraken", TradingMode.PAPER, settings, config) is None
    assert hooks.create_exchange_client("kraken", TradingMode.SHADOW, settings, config) is None
    assert hooks.create_exchange_client("binance", TradingMode.LIVE, settings, config) is None
    assert hooks.exchange_venues() == ["kraken"]
    default = hooks.create_exchange_client("kraken", TradingMode.LIVE, None, config)
    assert default.endpoint == "https://api.kraken.com"
    assert kraken.requests == 0


def test_simulate_runs_a_loopback_kraken_until_interrupted(tmp_path, monkeypatch):
    from peaktrade_kraken.client import KrakenClient
    from peaktrade_kraken.testing import loopback_settings

    monkeypatch.delenv("PEAK_TRADE_KRAKEN_API_KEY", raising=False)
    monkeypatch.delenv("PEAK_TRADE_KRAKEN_API_SECRET", raising=False)
    sim = subprocess.Popen(
        [sys.executable, "-m", "peaktrade_core", "kraken", "simulate", "--port", "0", "--price", "BTC/EUR=42000"],
        env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = sim.stdout.readline().split("listening on ", 1)[1].split()[0]
        assert sim.stdout.readline().startswith("throw-away loopback credentials")
        for _ in range(2):
            name, value = sim.stdout.readline().strip().removeprefix("export ").split("=", 1)
            monkeypatch.setenv(name, value)
        client = KrakenClient(loopback_settings(url), validate_only=True, data_dir=tmp_path / "data")
        assert client.fetch_ticker("BTC/EUR") == 42000.0
        assert client.fetch_balances()["EUR"] > 0  # signed with the printed pair
        assert client.submit_order(OrderRequest("BTC/EUR", "buy", 0.01, client_order_id="a" * 32))["status"] == "validated"
        client.close()
    finally:
        sim.send_signal(signal.SIGINT)
        out, err = sim.communicate(timeout=60)
    assert sim.returncode == 0, err
    assert "0 order(s) placed, 1 validated" in out


def test_simulate_json_prints_one_object_per_line_to_connect_and_to_count(tmp_path, monkeypatch):
    from peaktrade_kraken.client import KrakenClient
    from peaktrade_kraken.testing import loopback_settings

    monkeypatch.delenv("PEAK_TRADE_KRAKEN_API_KEY", raising=False)
    monkeypatch.delenv("PEAK_TRADE_KRAKEN_API_SECRET", raising=False)
    sim = subprocess.Popen(
        [sys.executable, "-m", "peaktrade_core", "kraken", "simulate", "--port", "0", "--price", "BTC/EUR=42000", "--json"],
        env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        listening = json.loads(sim.stdout.readline())  # one line, readable while it runs
        assert listening["event"] == "listening" and listening["status"] == "online" and listening["credentials"] == "made up"
        for name, value in listening["env"].items():
            monkeypatch.setenv(name, value)
        client = KrakenClient(loopback_settings(listening["url"]), validate_only=True, data_dir=tmp_path / "data")
        assert client.fetch_ticker("BTC/EUR") == 42000.0
        assert client.submit_order(OrderRequest("BTC/EUR", "buy", 0.01, client_order_id="b" * 32))["status"] == "validated"
        client.close()
    finally:
        sim.send_signal(signal.SIGINT)
        out, err = sim.communicate(timeout=60)
    assert sim.returncode == 0, err
    stopped = json.loads(out)
    assert stopped["event"] == "stopped" and stopped["orders"] == 0 and stopped["validated"] == 1 and stopped["requests"] >= 2


def test_simulate_refuses_a_bad_price_or_a_taken_port_in_one_line(kraken):
    out = subprocess.run([sys.executable, "-m", "peaktrade_core", "kraken", "simulate", "--price", "BTCEUR"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.splitlines() == [
        "--price 'BTCEUR': expected SYMBOL=PRICE with SYMBOL one of BTC/EUR, BTC/USD, ETH/EUR"
    ]
    port = kraken.url.rsplit(":", 1)[1]
    out = subprocess.run([sys.executable, "-m", "peaktrade_core", "kraken", "simulate", "--port", port], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and f"--port {port}: cannot listen" in out.stderr


def test_with_the_default_config_nothing_reaches_kraken(cli, kraken, tmp_path):
    """[plugins.kraken] pointing at the loopback, everything else default (paper mode, no
    exchange): no command sends anything there."""
    path = orders_file(tmp_path, MARKETABLE)
    for args in (("status", "--json"), ("plugins", "list"), ("config", "show"), ("session", "run", "--orders", path), ("exchange", "ping"), ("kill", "--history")):
        cli(*args)
    assert cli("config", "validate").returncode == 0
    assert kraken.requests == 0


# -- sessions and venue commands -------------------------------------------------------------------


def test_testnet_session_sends_validate_only_orders_and_every_record_says_so(cli, kraken, tmp_path):
    out = cli("-vv", "session", "run", "--orders", orders_file(tmp_path, MARKETABLE), "--json", config=TESTNET)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["by_status"] == {"validated": 4}
    assert summary["effective_mode"] == "testnet_validate_only"
    assert summary["venue"] == {"venue": "kraken", "endpoint": kraken.url, "testnet": True, "validate_only": True}
    assert kraken.orders() == [] and kraken.validated == 4  # nothing placed
    bodies = [r["body"] for r in kraken.received if r["path"].endswith("/AddOrder")]
    assert len(bodies) == 4 and all("validate=true" in b for b in bodies)
    assert kraken.by_endpoint["CancelAllOrdersAfter"] == 0  # no switch on the production account

    shown = json.loads(cli("runs", "show", summary["run_id"], "--json", config=TESTNET).stdout)
    assert shown["summary"]["venue"] == summary["venue"]
    events = run_events(tmp_path, summary["run_id"])
    assert {e.status for e in events if e.kind == "order"} == {"validated"}
    (venue,) = [e for e in events if e.kind == "venue"]
    assert venue.extra["endpoint"] == kraken.url and venue.extra["validate_only"] is True

    everything = "\n".join([out.stdout, out.stderr, json.dumps(shown), state_dump(tmp_path)])
    assert kraken.url in everything
    leaked = {name for name, value in secret_things(kraken).items() if value in everything}
    assert leaked == set()


def test_kraken_echoing_requests_in_its_errors_leaks_nothing_into_log_alerts_or_run_log(cli, kraken, tmp_path):
    kraken.fail_next("echo")  # refused, the error repeats the request: headers (key, signature) and body (nonce)
    kraken.fail_next("5xx", after=1)  # placed, then a 502 whose body repeats the request: reconciled
    kraken.fail_next("echo", "OpenOrders")  # the reconcile's first lookup is refused the same way
    out = cli("-vv", "session", "run", "--orders", orders_file(tmp_path, MARKETABLE), "--json", config=LIVE.format(dead_man=60))
    assert out.returncode in (0, 1), out.stderr
    summary = json.loads(out.stdout)
    assert summary["by_status"]["rejected"] == 1 and summary["by_status"]["filled"] == 3
    assert len(kraken.orders()) == 3
    everything = "\n".join([out.stdout, out.stderr, state_dump(tmp_path)])
    assert "***" in everything  # the echoes arrived, scrubbed
    leaked = {name for name, value in secret_things(kraken).items() if value in everything}
    assert leaked == set()


def test_smoke_order_sends_one_validate_only_order(cli, kraken, tmp_path):
    """Also: the venue's secret pasted as the operator is recorded as ``***`` (the run's
    metadata is a hash-chained record that cannot be edited later)."""
    out = cli("exchange", "smoke-order", "BTC/EUR", "buy", "0.01", "--price", "50000", "--operator", f"erin {kraken.api_secret}", "--json", config=TESTNET)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "validated"
    assert kraken.by_endpoint["AddOrder"] == 1 and kraken.validated == 1 and kraken.orders() == []
    store = StateStore.in_dir(tmp_path / "data")
    try:
        assert [run.operator for run in list_runs(store)] == ["erin ***"]
    finally:
        store.close()
    for path in (tmp_path / "data").rglob("*"):
        assert not path.is_file() or kraken.api_secret.encode() not in path.read_bytes(), path


def test_the_venue_commands_read_kraken(cli, kraken):
    ping = cli("exchange", "ping", "--json", config=TESTNET)
    assert ping.returncode == 0, ping.stderr
    assert "online" in ping.stdout
    rules = cli("exchange", "rules", "BTC/EUR", "--json", config=TESTNET)
    assert rules.returncode == 0, rules.stderr
    assert json.loads(rules.stdout)["rules"]["tick_size"] == 0.1
    balances = cli("exchange", "balances", "--json", config=TESTNET)
    assert balances.returncode == 0 and "BTC" in balances.stdout
    assert cli("exchange", "open-orders", "--json", config=TESTNET).returncode == 0
    assert cli("exchange", "time", "--json", config=TESTNET).returncode == 0
    assert kraken.by_endpoint["AddOrder"] == 0 and kraken.orders() == []


def test_live_session_with_every_gate_open_places_orders(cli, kraken, tmp_path):
    out = cli("session", "run", "--orders", orders_file(tmp_path, MARKETABLE), "--json", config=LIVE.format(dead_man=60))
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["effective_mode"] == "live" and summary["by_status"] == {"filled": 4}
    assert [o["status"] for o in kraken.orders()] == ["filled"] * 4
    assert kraken.by_endpoint["CancelAllOrdersAfter"] >= 2 and not kraken.dead_man_armed  # armed, then disarmed at the clean end


def test_timeout_after_accept_in_a_live_session_gives_exactly_one_order(cli, kraken, tmp_path):
    kraken.fail_next("timeout_after_accept", after=1)
    out = cli("session", "run", "--orders", orders_file(tmp_path, MARKETABLE[:3]), "--json", config=LIVE.format(dead_man=60), timeout=1.0)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["by_status"] == {"filled": 3}
    assert len(kraken.orders()) == 3


def test_rate_limit_in_a_live_session_backs_off_and_loses_nothing(cli, kraken, tmp_path):
    kraken.fail_next("rate_limit")
    kraken.fail_next("lockout", after=1)
    out = cli("session", "run", "--orders", orders_file(tmp_path, MARKETABLE), "--json", config=LIVE.format(dead_man=60))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["by_status"] == {"filled": 4}
    assert len(kraken.orders()) == 4


def test_peaktrade_kill_cancels_the_open_orders_on_kraken(cli, kraken, tmp_path):
    out = cli("session", "run", "--orders", orders_file(tmp_path, RESTING), "--json", config=LIVE.format(dead_man=60))
    assert out.returncode == 0, out.stderr
    assert len(kraken.open_orders()) == 3
    kill = cli("kill", "--reason", "incident", "--operator", "ops", config=LIVE.format(dead_man=60))
    assert kill.returncode == 0, kill.stderr
    assert kraken.open_orders() == [] and "cancelled 3 open order(s) on kraken" in kill.stdout


def test_a_sigkilled_session_leaves_its_orders_to_the_dead_mans_switch(cli, kraken, tmp_path):
    kraken.fail_next("timeout_after_accept", after=2)  # the third submit hangs: the session is mid-flight
    session = cli("session", "run", "--orders", orders_file(tmp_path, RESTING), config=LIVE.format(dead_man=5), timeout=120.0, popen=True)
    try:
        kraken.wait_for(lambda: kraken.by_endpoint["AddOrder"] == 3 or session.poll() is not None, timeout=120)
        assert session.poll() is None and kraken.by_endpoint["AddOrder"] == 3, session.stderr.read() if session.poll() is not None else "no third submit"
        assert kraken.dead_man_armed
        session.send_signal(signal.SIGKILL)
        session.wait(timeout=60)
        assert kraken.wait_for(lambda: kraken.open_orders() == [], timeout=60)
    finally:
        if session.poll() is None:
            session.kill()
    assert kraken.dead_man_fired >= 1
    assert [o["status"] for o in kraken.orders()] == ["cancelled"] * 3
