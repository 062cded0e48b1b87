"""``peaktrade exchange …`` as an operator runs it: a subprocess, the loopback reference venue
installed as an entry-point plugin (a dist-info folder on PYTHONPATH), a real HTTP venue on
127.0.0.1, a real state store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from peaktrade_core.orders import OrderRequest
from peaktrade_core.testing.loopback import LoopbackClient, LoopbackVenue

pytestmark = pytest.mark.slow

LIVE_OPEN = """
[environment]
mode = "live"
enable_live_trading = true
live_mode_armed = true
live_dry_run_mode = false
confirm_token = "I_KNOW_WHAT_I_AM_DOING"
max_live_notional_per_order = 1000.0
max_live_notional_total = 5000.0
live_allowed_symbols = ["BTC/EUR", "ETH/EUR"]
exchange = "loopback"
live_allowed_exchanges = ["loopback"]
"""
TESTNET = """
[environment]
mode = "testnet"
exchange = "loopback"
"""
PLUGIN_SECTION = """
[plugins.loopback]
base_url = "{url}"
api_key = {{ env = "LOOPBACK_API_KEY" }}
api_secret = {{ env = "LOOPBACK_API_SECRET" }}
timeout_seconds = 30.0
"""


@pytest.fixture
def venue():
    with LoopbackVenue() as venue:
        yield venue


@pytest.fixture
def site(tmp_path):
    """The loopback venue plugin, installed as pip would leave a distribution."""
    site = tmp_path / "site"
    info = site / "peaktrade_loopback-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: peaktrade-loopback\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[peaktrade]\nloopback = peaktrade_core.testing.loopback:plugin\n")
    return site


class Operator:
    """Runs ``peaktrade`` in a fresh process against one config file."""

    def __init__(self, tmp_path: Path, site: Path, venue: LoopbackVenue):
        self.tmp_path, self.site, self.venue = tmp_path, site, venue
        self.config = tmp_path / "config.toml"
        self.secret = venue.api_secret

    def write(self, environment: str, url: str | None = None) -> None:
        self.config.write_text(environment + PLUGIN_SECTION.format(url=url or self.venue.url))

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPBACK_")}
        env.update(
            PYTHONPATH=str(self.site),
            PEAK_TRADE_PLUGINS="loopback",
            LOOPBACK_API_KEY=self.venue.api_key,
            LOOPBACK_API_SECRET=self.secret,
        )
        proc = subprocess.run(
            [sys.executable, "-m", "peaktrade_core", "--config", str(self.config), *args],
            capture_output=True, text=True, env=env, cwd=self.tmp_path, timeout=120,
        )
        for secret in (self.venue.api_key, self.venue.api_secret, self.secret):
            assert secret not in proc.stdout + proc.stderr, "a credential reached the terminal"
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def json(self, *args: str) -> dict:
        proc = self(*args, "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)


@pytest.fixture
def peaktrade(tmp_path, site, venue):
    return Operator(tmp_path, site, venue)


def _one_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _rest(venue: LoopbackVenue, *symbols: str) -> list[str]:
    """Place resting limit orders at the venue directly; their client ids."""
    client = LoopbackClient(venue.url, venue.api_key, venue.api_secret)
    ids = []
    for i, symbol in enumerate(symbols):
        order = OrderRequest(symbol, "buy", 0.01, "limit", limit_price=1000.0, source_ref=f"rest:{i}")
        assert client.submit_order(order)["status"] == "accepted"
        ids.append(order.client_order_id)
    return ids


def test_read_only_commands_report_the_venue(peaktrade, venue):
    peaktrade.write(TESTNET)
    _rest(venue, "BTC/EUR", "ETH/EUR")

    ping = peaktrade.json("exchange", "ping")
    assert ping["venue"] == "loopback" and ping["endpoint"] == venue.url
    assert ping["testnet"] is True and ping["validate_only"] is True and ping["ping"]["status"] == "online"
    clock = peaktrade.json("exchange", "time")
    assert abs(clock["skew_seconds"]) < 60
    assert peaktrade.json("exchange", "balances")["balances"]["EUR"] == pytest.approx(100_000.0)
    assert len(peaktrade.json("exchange", "open-orders")["open_orders"]) == 2
    [eth] = peaktrade.json("exchange", "open-orders", "--symbol", "ETH/EUR")["open_orders"]
    assert eth["symbol"] == "ETH/EUR" and eth["status"] == "accepted"
    assert peaktrade.json("exchange", "rules", "BTC/EUR")["rules"] == {
        "symbol": "BTC/EUR", "tick_size": 0.1, "lot_step": 0.0001, "min_quantity": 0.0001, "min_notional": 5.0,
    }

    listed = peaktrade("exchange", "--help").stdout
    for command in ("ping", "time", "balances", "open-orders", "rules", "smoke-order", "cancel-all"):
        assert f"  {command} " in listed
    text = peaktrade("exchange", "ping")
    assert text.returncode == 0 and f"loopback {venue.url} (validate-only): online" in text.stdout
    rules = peaktrade("exchange", "rules", "BTC/EUR").stdout
    assert "tick_size     0.1" in rules and "min_notional  5" in rules
    assert len(venue.orders()) == 2  # read-only: nothing changed at the venue


@pytest.mark.parametrize(
    "config, problem",
    [
        ("", "no exchange configured"),
        ('[environment]\nmode = "paper"\nexchange = "loopback"\n', "only in testnet or live mode"),
        ('[environment]\nmode = "testnet"\nexchange = "kraken"\n', "exchange = 'kraken': no installed plugin serves this venue"),
    ],
)
@pytest.mark.parametrize("command", [["ping"], ["balances"], ["cancel-all", "--reason", "test"], ["smoke-order", "BTC/EUR", "buy", "0.01"]])
def test_without_a_venue_client_every_command_is_one_line_and_nothing_is_sent(peaktrade, venue, config, problem, command):
    peaktrade.config.write_text(config)
    line = _one_line(peaktrade("exchange", *command), 2)
    assert problem in line and str(peaktrade.config) in line
    assert venue.requests == 0


def test_venue_down_and_bad_key_are_one_line_without_secrets(peaktrade, venue, tmp_path):
    with LoopbackVenue() as gone:
        url = gone.url
    peaktrade.write(TESTNET, url=url)
    line = _one_line(peaktrade("exchange", "ping"), 1)
    assert line.startswith(f"loopback ({url}): ping failed:") and "unreachable" in line

    peaktrade.write(TESTNET)
    peaktrade.secret = "wrong-" + venue.api_secret
    line = _one_line(peaktrade("exchange", "balances"), 1)
    assert "invalid signature" in line


def test_cancel_all_by_symbol_then_everything_even_with_the_kill_switch_engaged(peaktrade, venue):
    peaktrade.write(LIVE_OPEN)
    btc, eth = _rest(venue, "BTC/EUR", "ETH/EUR")

    first = peaktrade.json("exchange", "cancel-all", "--symbol", "BTC/EUR", "--reason", "rebalance", "--operator", "alice")
    assert first["cancelled"] == 1 and first["symbol"] == "BTC/EUR"
    assert {o["client_order_id"]: o["status"] for o in venue.orders()} == {btc: "cancelled", eth: "open"}

    engaged = peaktrade("kill", "--reason", "runaway", "--operator", "bob")
    assert engaged.returncode == 0, engaged.stderr
    assert "cancelled 1 open order(s) on loopback" in engaged.stdout  # the kill reaches the venue
    assert all(o["status"] == "cancelled" for o in venue.orders())
    smoke = _one_line(peaktrade("exchange", "smoke-order", "BTC/EUR", "buy", "0.01"), 2)
    assert "validate-only" in smoke  # the production client never sends a smoke order
    _rest(venue, "ETH/EUR")  # an order placed from elsewhere after the kill
    second = peaktrade("exchange", "cancel-all", "--reason", "kill switch: flatten", "--operator", "bob")
    assert second.returncode == 0, second.stderr
    assert "cancelled 1 open order(s) (by bob: kill switch: flatten" in second.stdout
    assert all(o["status"] == "cancelled" for o in venue.orders())

    runs = [r for r in peaktrade.json("runs", "list") if r["strategy"] == "exchange cancel-all"][::-1]  # newest first: reversed
    assert [(r["operator"], r["status"], r["strategy_params"]["reason"]) for r in runs] == [
        ("alice", "finished", "rebalance"),
        ("bob", "finished", "kill switch: flatten"),
    ]
    assert runs[1]["strategy_params"]["kill_switch"] == "ENGAGED" and runs[1]["summary"] == {"cancelled": 1}
    assert [r["effective_mode"] for r in runs] == ["live", "live"]  # the cancels really reached the venue
    assert runs[0]["strategy_params"]["endpoint"] == venue.url


def test_cancel_all_needs_a_reason_and_the_other_gates(peaktrade, venue):
    peaktrade.write(LIVE_OPEN)
    [order] = _rest(venue, "BTC/EUR")
    before = venue.requests
    assert "--reason is required" in _one_line(peaktrade("exchange", "cancel-all"), 2)
    peaktrade.write(LIVE_OPEN.replace("live_mode_armed = true", "live_mode_armed = false"))
    assert "live_mode_armed=False" in _one_line(peaktrade("exchange", "cancel-all", "--reason", "x"), 2)
    assert venue.requests == before and venue.orders()[0]["status"] == "open"
    assert peaktrade.json("runs", "list") == []  # a refused action sent nothing, so recorded nothing


def test_smoke_order_is_blocked_by_the_kill_switch_before_anything_is_sent(peaktrade, venue):
    peaktrade.write(TESTNET)
    assert peaktrade("kill", "--reason", "maintenance").returncode == 0
    line = _one_line(peaktrade("exchange", "smoke-order", "BTC/EUR", "buy", "0.01"), 2)
    assert line.startswith("refused:") and "kill switch engaged" in line
    assert venue.requests == 0


def test_smoke_order_refuses_a_bad_order_in_one_line(peaktrade, venue):
    peaktrade.write(TESTNET)
    line = _one_line(peaktrade("exchange", "smoke-order", "BTC/EUR", "buy", "0"), 2)
    assert line.startswith("smoke-order:") and "quantity" in line
    assert venue.requests == 0


TESTNET_OPEN = TESTNET + 'enable_testnet_trading = true\ntestnet_allowed_symbols = ["BTC/EUR", "ETH/EUR"]\n'


def test_smoke_order_is_validated_by_the_venue_and_places_nothing(peaktrade, venue):
    peaktrade.write(TESTNET_OPEN)
    done = peaktrade.json("exchange", "smoke-order", "BTC/EUR", "buy", "0.01", "--price", "30000")
    assert done["status"] == "validated" and done["validate_only"] is True
    assert venue.orders() == []
    [run] = peaktrade.json("runs", "list")
    assert run["strategy"] == "exchange smoke-order" and run["status"] == "finished"


def test_smoke_order_breaking_the_instrument_rules_is_refused_before_submit(peaktrade, venue):
    peaktrade.write(TESTNET_OPEN)
    line = _one_line(peaktrade("exchange", "smoke-order", "BTC/EUR", "buy", "0.01", "--price", "30000.05"), 2)
    assert line.startswith("refused before submit: BTC/EUR:") and "tick" in line
    assert venue.orders() == []
