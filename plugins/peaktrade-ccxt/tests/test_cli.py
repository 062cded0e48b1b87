"""peaktrade-ccxt as a user meets it: installed, listed without importing ccxt, configured
in ``[plugins.ccxt]``, and a testnet session through ccxt's Binance sandbox — pointed at the
loopback Binance on 127.0.0.1 — from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from peaktrade_core.testing import initialised_store


@pytest.fixture
def sandbox():
    """The loopback Binance, standing in for Binance's spot test network."""
    loopback = pytest.importorskip("peaktrade_binance.testing", reason="the loopback Binance (examples/peaktrade-binance)")
    with loopback.LoopbackBinance() as fake:
        yield fake


def sandbox_env(sandbox) -> dict[str, str]:
    return {"PT_CCXT_KEY": sandbox.api_key, "PT_CCXT_SECRET": sandbox.api_secret, "PEAK_TRADE_PLUGINS": "ccxt"}


TESTNET = """
[environment]
mode = "testnet"
enable_testnet_trading = true
exchange = "ccxt:binance"
testnet_allowed_symbols = ["BTC/EUR"]

[plugins.ccxt]
api_key = {{ env = "PT_CCXT_KEY" }}
api_secret = {{ env = "PT_CCXT_SECRET" }}
sandbox_urls = "{url}"
timeout_seconds = 60
"""


def peaktrade(tmp_path: Path, *args: str, config: str | None = None, env: dict[str, str] | None = None):
    cmd = [sys.executable, "-m", "peaktrade_core"]
    if config is not None:
        (tmp_path / "config.toml").write_text(config)
        cmd += ["--config", str(tmp_path / "config.toml")]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def test_plugins_list_shows_the_plugin_and_never_imports_ccxt():
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('ccxt imported:', 'ccxt' in sys.modules, file=sys.stderr))\n"
        "from peaktrade_core.cli import main\n"
        "main(['plugins', 'list', '--json'])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    (ccxt,) = [p for p in json.loads(out.stdout) if p["name"] == "ccxt"]
    assert ccxt["status"] == "loaded" and {"exchange_venues", "create_exchange_client"} <= set(ccxt["hooks"])
    assert "ccxt imported: False" in out.stderr


def test_importing_the_entry_module_and_declaring_the_venues_does_not_import_ccxt():
    probe = (
        "import sys\n"
        "from peaktrade_ccxt import hooks\n"
        "venues = hooks.exchange_venues(); hooks.config_sections()\n"
        "print('ccxt:binance' in venues, 'ccxt:kraken' in venues, 'binance' in venues, 'ccxt' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split() == ["True", "True", "False", "False"]


def test_every_venue_declared_is_an_exchange_ccxt_knows():
    import ccxt

    from peaktrade_ccxt import hooks

    assert hooks.exchange_venues() == sorted(f"ccxt:{e}" for e in ccxt.exchanges)


def test_a_testnet_session_through_ccxt_fills_at_the_sandbox_and_blocks_what_it_must(tmp_path, sandbox):
    initialised_store().close()
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "symbol,side,quantity,order_type,limit_price,reference_price\n"
        "BTC/EUR,buy,0.01,market,,40000\n"
        "BTC/EUR,sell,0.002,market,,40000\n"
        "BTC/EUR,buy,0.01,limit,39000.005,\n"  # off the 0.01 tick: refused, never rounded
        "ETH/EUR,buy,0.1,market,,2000\n"  # not in testnet_allowed_symbols
    )
    out = peaktrade(tmp_path, "session", "run", "--orders", str(orders), "--json", config=TESTNET.format(url=sandbox.url), env=sandbox_env(sandbox))
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    held = sandbox.orders()
    paths = {c["path"] for c in sandbox.calls}
    assert summary["effective_mode"] == "testnet"
    assert summary["venue"] == {"venue": "ccxt:binance", "endpoint": f"{sandbox.url}/api/v3", "testnet": True, "validate_only": False}
    assert summary["by_status"] == {"filled": 2, "risk_blocked": 1, "gate_blocked": 1}, summary
    assert [(o["pair"], o["side"], o["status"]) for o in held] == [("BTC/EUR", "BUY", "filled"), ("BTC/EUR", "SELL", "filled")]
    assert all(p.startswith("/api/v3/") for p in paths), paths  # spot REST only: no sapi, no futures


def test_testnet_mode_on_an_exchange_without_a_sandbox_is_refused_in_one_line(tmp_path):
    initialised_store().close()
    config = TESTNET.format(url="http://127.0.0.1:9").replace('"ccxt:binance"', '"ccxt:bitstamp"')
    out = peaktrade(tmp_path, "exchange", "ping", config=config, env={"PT_CCXT_KEY": "k" * 64, "PT_CCXT_SECRET": "f" * 64, "PEAK_TRADE_PLUGINS": "ccxt"})
    assert out.returncode == 2
    [line] = out.stderr.strip().splitlines()
    assert "ccxt has no sandbox for bitstamp: testnet mode is refused" in line, line


def test_a_mistyped_venue_is_refused_in_one_short_line_that_names_the_closest_venues(tmp_path):
    """ccxt declares a venue per exchange it knows: the refusal names the likely ones, not all."""
    initialised_store().close()
    config = TESTNET.format(url="http://127.0.0.1:9").replace('"ccxt:binance"', '"ccxt:binanc"')
    out = peaktrade(tmp_path, "exchange", "ping", config=config, env={"PT_CCXT_KEY": "k" * 64, "PT_CCXT_SECRET": "f" * 64, "PEAK_TRADE_PLUGINS": "ccxt"})
    assert out.returncode == 2
    [line] = out.stderr.strip().splitlines()
    assert "exchange = 'ccxt:binanc': no installed plugin serves this venue (did you mean 'ccxt:binance'" in line, line
    assert line.count("ccxt:") < 20 and line.endswith(" more)"), line


def test_a_literal_secret_in_the_section_is_refused_in_one_line(tmp_path):
    config = TESTNET.replace('{{ env = "PT_CCXT_SECRET" }}', '"hunter2hunter2"').format(url="http://127.0.0.1:9")
    out = peaktrade(tmp_path, "config", "validate", config=config, env={"PEAK_TRADE_PLUGINS": "ccxt"})
    assert out.returncode == 2
    [line] = out.stderr.strip().splitlines()
    assert "plugins.ccxt.api_secret" in line and "hunter2" not in line, line


def test_exchange_commands_read_the_venue_through_ccxt(tmp_path, sandbox):
    initialised_store().close()
    config, env = TESTNET.format(url=sandbox.url), sandbox_env(sandbox)
    rules = json.loads(peaktrade(tmp_path, "exchange", "rules", "BTC/EUR", "--json", config=config, env=env).stdout)
    assert rules["venue"] == "ccxt:binance" and rules["testnet"] is True
    assert rules["rules"] == {
        "symbol": "BTC/EUR",
        "tick_size": 0.01, "lot_step": 0.00001, "min_quantity": 0.00001, "min_notional": 5.0
    }
    balances = peaktrade(tmp_path, "exchange", "balances", "--json", config=config, env=env)
    assert balances.returncode == 0 and json.loads(balances.stdout)["balances"]["EUR"] == 100_000.0
    assert sandbox.api_secret not in balances.stdout + balances.stderr


def test_kill_cancels_the_open_orders_at_the_venue_through_ccxt(tmp_path, sandbox):
    from peaktrade_core.plugin_api import OrderRequest, SecretRef

    from peaktrade_ccxt import hooks
    from peaktrade_ccxt.settings import CcxtSettings

    initialised_store().close()
    config, env = TESTNET.format(url=sandbox.url), sandbox_env(sandbox)
    os.environ.update(env)  # the client placing the orders resolves the same references
    try:
        settings = CcxtSettings(api_key=SecretRef(env="PT_CCXT_KEY"), api_secret=SecretRef(env="PT_CCXT_SECRET"), sandbox_urls=sandbox.url)
        client = hooks.create_exchange_client(venue="ccxt:binance", mode="testnet", settings=settings, config=None)
        for symbol in ("BTC/EUR", "ETH/EUR"):
            client.submit_order(OrderRequest(symbol, "buy", 0.01, "limit", limit_price=1_000.0))
    finally:
        for name in env:
            os.environ.pop(name, None)
    assert [o["status"] for o in sandbox.orders()] == ["open", "open"]
    out = peaktrade(tmp_path, "kill", "--reason", "venue incident", "--json", config=config, env=env)
    assert out.returncode == 0, out.stderr
    assert [o["status"] for o in sandbox.orders()] == ["cancelled", "cancelled"]
