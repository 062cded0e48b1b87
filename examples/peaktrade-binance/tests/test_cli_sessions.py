"""What a user sees: ``peaktrade`` on the command line with the adapter installed, against
the loopback Binance. A testnet session with ``validate_only`` sends only
``POST /api/v3/order/test`` requests, each with a valid signature; the default config sends
nothing to Binance at all."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from peaktrade_binance.testing import LoopbackBinance

PACKAGE = Path(__file__).resolve().parents[1]

ORDERS = """symbol,side,quantity,order_type,limit_price,reference_price
BTC/EUR,buy,0.01,market,,40000
BTC/EUR,buy,0.01,limit,1000.00,
BTC/EUR,buy,0.01,limit,1000.005,
"""

TESTNET = """
[environment]
mode = "testnet"
enable_testnet_trading = true
exchange = "binance"
testnet_allowed_symbols = ["BTC/EUR"]

[plugins.binance]
base_url = "{url}"
testnet_base_url = "{url}"
validate_only = true
"""

#: no [environment]: the defaults (paper mode); the adapter is configured all the same
DEFAULT = """
[plugins.binance]
base_url = "{url}"
testnet_base_url = "{url}"
"""


@pytest.fixture
def binance():
    with LoopbackBinance() as fake:
        yield fake


def peaktrade_runner(command: list[str], tmp_path: Path, fake: LoopbackBinance, plugins: str | None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEAK_TRADE_", "BINANCE_"))}
    env.update(PEAK_TRADE_DATA_DIR=str(tmp_path / "data"), BINANCE_TESTNET_API_KEY=fake.api_key, BINANCE_TESTNET_API_SECRET=fake.api_secret)
    if plugins is not None:
        env["PEAK_TRADE_PLUGINS"] = plugins
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)

    def run(config: str, *args: str) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "config.toml"
        path.write_text(config.format(url=fake.url))
        args = tuple(str(orders) if a == "ORDERS" else a for a in args)
        return subprocess.run([*command, "--config", str(path), *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)

    return run


def check_testnet_session_and_default_config(run, fake: LoopbackBinance, paper_installed: bool) -> None:
    init = run(TESTNET, "state", "init", "--reason", "binance adapter rehearsal")
    assert init.returncode == 0, init.stderr

    out = run(TESTNET, "session", "run", "--orders", "ORDERS", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["effective_mode"] == "testnet_validate_only"
    assert summary["venue"] == {"venue": "binance", "endpoint": fake.url, "testnet": True, "validate_only": True}
    # off the 0.01 tick: refused by Binance's own PRICE_FILTER, loaded from exchangeInfo, before submit
    assert summary["by_status"] == {"validated": 2, "risk_blocked": 1}

    orders_sent = [c for c in fake.calls if c["method"] == "POST"]
    assert [c["path"] for c in orders_sent] == ["/api/v3/order/test"] * 2
    assert all(c["signature_valid"] is True and c["status"] == 200 for c in orders_sent)
    assert all(re.fullmatch(r"[0-9a-f]{32}", c["params"]["newClientOrderId"]) for c in orders_sent)
    assert fake.orders() == []  # validated, never placed

    before = fake.requests
    out = run(DEFAULT, "session", "run", "--orders", "ORDERS", "--json")
    if paper_installed:
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["effective_mode"] == "paper"
    else:
        assert out.returncode == 2 and "Traceback" not in out.stderr
    assert fake.requests == before  # the default config sends Binance nothing


def test_testnet_session_sends_signed_order_tests_and_the_default_config_sends_none(tmp_path, binance):
    run = peaktrade_runner([sys.executable, "-m", "peaktrade_core"], tmp_path, binance, plugins="binance")
    check_testnet_session_and_default_config(run, binance, paper_installed=False)


def test_exchange_commands_read_binance_rules_and_smoke_order_validates_only(tmp_path, binance):
    run = peaktrade_runner([sys.executable, "-m", "peaktrade_core"], tmp_path, binance, plugins="binance")
    assert run(TESTNET, "state", "init", "--reason", "binance adapter rehearsal").returncode == 0
    rules = run(TESTNET, "exchange", "rules", "BTC/EUR", "--json")
    assert rules.returncode == 0, rules.stderr
    assert json.loads(rules.stdout)["rules"] == {
        "symbol": "BTC/EUR", "tick_size": 0.01, "lot_step": 0.00001, "min_quantity": 0.00001, "min_notional": 5.0,
    }
    smoke = run(TESTNET, "exchange", "smoke-order", "BTC/EUR", "buy", "0.001", "--price", "30000")
    assert smoke.returncode == 0, smoke.stderr
    assert "validated, nothing placed" in smoke.stdout
    off_grid = run(TESTNET, "exchange", "smoke-order", "BTC/EUR", "buy", "0.001", "--price", "30000.001")
    assert off_grid.returncode == 2 and "tick size" in off_grid.stderr and "Traceback" not in off_grid.stderr
    assert [(c["path"], c["signature_valid"]) for c in binance.calls if c["method"] == "POST"] == [("/api/v3/order/test", True)]
    assert binance.orders() == []


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_fresh_venv_core_paper_and_the_adapter(tmp_path, binance):
    """``pip install peaktrade-core peaktrade-paper examples/peaktrade-binance`` into a fresh
    virtual environment: the adapter is listed, and the sessions behave as above."""
    root = next((p for p in PACKAGE.parents if (p / "plugins" / "peaktrade-paper" / "pyproject.toml").exists()), None)
    if root is None:
        pytest.skip("not inside the peaktrade repository: no peaktrade-core / peaktrade-paper sources to install")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, str(root), str(root / "plugins" / "peaktrade-paper"), str(PACKAGE)], check=True, timeout=240)
    run = peaktrade_runner([str(env_dir / "bin" / "peaktrade")], tmp_path, binance, plugins=None)

    listing = json.loads(run(DEFAULT, "plugins", "list", "--json").stdout)
    by_name = {p["name"]: p for p in listing}
    assert by_name["binance"]["distribution"] == "peaktrade-binance"
    assert by_name["binance"]["hooks"] == ["config_sections", "create_exchange_client", "exchange_venues", "open_market_feed", "register_commands"]
    assert binance.requests == 0  # listing plugins never talks to the venue
    check_testnet_session_and_default_config(run, binance, paper_installed=True)


def test_binance_simulate_runs_a_loopback_binance_for_rehearsals(tmp_path):
    import signal

    from peaktrade_binance.client import BinanceClient

    from peaktrade_core.plugin_api import OrderRequest

    env = dict(os.environ, PEAK_TRADE_PLUGINS="binance", PEAK_TRADE_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen([sys.executable, "-m", "peaktrade_core", "binance", "simulate", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        shown = []
        for line in proc.stdout:
            shown.append(line)
            if line.startswith("export BINANCE_TESTNET_API_KEY="):
                break
        text = "".join(shown)
        url = re.search(r'testnet_base_url = "(http://127\.0\.0\.1:\d+)"', text).group(1)
        key, secret = re.search(r"BINANCE_TESTNET_API_KEY=(\w+) BINANCE_TESTNET_API_SECRET=(\w+)", text).groups()
        client = BinanceClient(url, key, secret, testnet=True)
        resting = OrderRequest("BTC/EUR", "buy", 0.01, "limit", limit_price=1000.0, client_order_id="ab" * 16)
        assert client.submit_order(resting)["status"] == "accepted"
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped: " in rest and "1 order(s) held, 1 open" in rest


def test_binance_simulate_json_prints_one_object_per_line(tmp_path):
    import signal

    from peaktrade_binance.client import BinanceClient

    from peaktrade_core.plugin_api import OrderRequest

    env = dict(os.environ, PEAK_TRADE_PLUGINS="binance", PEAK_TRADE_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen([sys.executable, "-m", "peaktrade_core", "binance", "simulate", "--port", "0", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        listening = json.loads(proc.stdout.readline())  # one line, readable while it runs
        assert listening["event"] == "listening"
        keys = listening["env"]
        client = BinanceClient(listening["url"], keys["BINANCE_TESTNET_API_KEY"], keys["BINANCE_TESTNET_API_SECRET"], testnet=True)
        resting = OrderRequest("BTC/EUR", "buy", 0.01, "limit", limit_price=1000.0, client_order_id="cd" * 16)
        assert client.submit_order(resting)["status"] == "accepted"
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    stopped = json.loads(rest)
    assert stopped == {"event": "stopped", "requests": stopped["requests"], "orders": 1, "open": 1} and stopped["requests"] >= 1
