"""`peaktrade session run --strategy module:Class --feed ...` as a user runs it: mistakes are
one line and exit 2 with nothing run, a strategy that raises stops the session (exit 1, one
line, the run `failed` with the place in its log), the bundled example gives the same
orders as before, and testnet gates and venue rules apply exactly as for an orders file."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from peaktrade_core.testing import initialised_store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples/ma_crossover/strategy.py:MovingAverageCrossover"
FEED = "examples/ma_crossover/feed.csv"

STRATEGIES = '''
from peaktrade_core.strategy import OrderIntent


class Buys:
    """Buys `size` on each quote of `symbol` until `count` orders."""

    def __init__(self, size=0.01, count=3, symbol="BTC/EUR"):
        self.size, self.count, self.symbol = size, count, symbol

    def on_quote(self, quote):
        if quote.symbol != self.symbol or self.count <= 0:
            return None
        self.count -= 1
        return [OrderIntent(quote.symbol, "buy", self.size)]


class Breaks(Buys):
    def on_quote(self, quote):
        if self.count == 1:
            raise KeyError(quote.symbol)
        return super().on_quote(quote)


class Target:
    """Holds `target` of BTC/EUR through the mapper (the venue's lot step applies)."""

    symbols = ("BTC/EUR",)

    def __init__(self, target=0.01234):
        self.target = target

    def start(self, context):
        self.context = context

    def on_quote(self, quote):
        return self.context.target_position("BTC/EUR", self.target)


class NotAStrategy:
    pass


class BarsNoLength:
    def on_bar(self, bar):
        return None
'''

QUOTES = "at,symbol,price\n" + "".join(f"{1735689600 + 60 * i},BTC/EUR,{40000 + i}\n" for i in range(6))


@pytest.fixture
def work(tmp_path):
    shutil.copytree(ROOT / "examples" / "ma_crossover", tmp_path / "examples" / "ma_crossover", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "strats.py").write_text(STRATEGIES)
    (tmp_path / "quotes.csv").write_text(QUOTES)
    return tmp_path


def peaktrade(cwd: Path, *args: str, plugins: str = "paper", extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PEAK_TRADE_DATA_DIR": str(cwd / "data"), "PEAK_TRADE_PLUGINS": plugins, **(extra_env or {})}
    env.pop("PEAK_TRADE_CONFIG_PATH", None)
    return subprocess.run([sys.executable, "-m", "peaktrade_core", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def events(cwd: Path, run_id: str) -> list:
    from peaktrade_core.runlog import iter_run_events
    from peaktrade_core.state import StateStore

    store = StateStore.in_dir(cwd / "data")
    try:
        return list(iter_run_events(store, run_id))
    finally:
        store.close()


BAD = [
    (["--strategy", "nosuchmodule:X", "--feed", "quotes.csv"], "--strategy 'nosuchmodule:X': module 'nosuchmodule' not found"),
    (["--strategy", "strats", "--feed", "quotes.csv"], "--strategy 'strats': expected module:Class (e.g. my_strategies:Crossover)"),
    (["--strategy", "strats:Nope", "--feed", "quotes.csv"], "--strategy 'strats:Nope': strats has no Nope"),
    (["--strategy", "strats:NotAStrategy", "--feed", "quotes.csv"], "--strategy 'strats:NotAStrategy': NotAStrategy is not a strategy class (it needs an on_quote or on_bar method)"),
    (["--strategy", "strats:BarsNoLength", "--feed", "quotes.csv"], "strats:BarsNoLength: on_bar needs bar_seconds, a number of seconds above 0 (got None)"),
    (["--strategy", "strats:Buys", "--params", "sise=1", "--feed", "quotes.csv"], "--params for strats:Buys: got an unexpected keyword argument 'sise'"),
    (["--strategy", "strats:Buys", "--params", "size", "--feed", "quotes.csv"], "--params 'size': expected name=value"),
    (["--strategy", EXAMPLE, "--params", "fast=60", "--feed", "quotes.csv"], f"--params for {EXAMPLE}: ValueError: need 1 <= fast < slow, got fast=60 slow=48"),
    (["--strategy", "strats:Buys", "--params-file", "params.toml", "--feed", "quotes.csv"], "params.toml: not valid TOML: Expected '=' after a key in a key/value pair (at line 1, column 6)"),
    (["--strategy", "strats:Buys", "--feed", "missing.csv"], "missing.csv: cannot read: No such file or directory"),
    (["--strategy", "strats:Buys", "--feed", "bad.csv"], "bad.csv:3: price must be a finite number above 0, got -1.0"),
    (["--feed", "quotes.csv"], "--feed needs --strategy module:Class (the strategy to run on it)"),
    (["--strategy", "strats:Buys"], "no market-data source: pass a recorded file or a venue name, or set [marketdata] source"),
    (["--orders", "quotes.csv", "--feed", "quotes.csv", "--strategy", "strats:Buys"], "give exactly one of --orders FILE, --example or --strategy module:Class [--feed PATH|VENUE]"),
    (["--example", "--params", "fast=3"], "--params and --params-file go with --strategy module:Class [--feed PATH|VENUE]"),
    (["--strategy", "strats:Buys", "--feed", "quotes.csv", "--skip-invalid"], "--format and --skip-invalid go with --orders FILE, not with a strategy"),
]


@pytest.mark.parametrize(("args", "line"), BAD, ids=[line.split(":")[0][:30] + str(i) for i, (_, line) in enumerate(BAD)])
def test_a_bad_strategy_params_or_feed_is_one_line_exit_2_and_nothing_runs(work, args, line):
    (work / "params.toml").write_text("size 0.5\n")
    (work / "bad.csv").write_text("at,symbol,price\n1735689600,BTC/EUR,40000\n1735689660,BTC/EUR,-1\n")
    initialised_store(work / "data").close()  # else the first line is the new-store notice
    done = peaktrade(work, "session", "run", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [line] and done.stdout == ""
    assert "Traceback" not in done.stderr
    assert json.loads(peaktrade(work, "runs", "list", "--json").stdout) == []


@pytest.mark.needs_plugins("peaktrade-paper")
def test_without_feed_the_configured_market_data_source_is_the_feed(work):
    (work / "config.toml").write_text('[marketdata]\nsource = "quotes.csv"\n')
    done = peaktrade(work, "--config", "config.toml", "session", "run", "--strategy", "strats:Buys", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["strategy"]["feed"] == "quotes.csv" and data["strategy"]["quotes"] == 6 and data["by_status"] == {"filled": 3}


@pytest.mark.needs_plugins("peaktrade-paper")
def test_params_come_from_a_file_and_the_command_line_wins(work):
    (work / "params.toml").write_text("size = 0.5\ncount = 2\n")
    done = peaktrade(work, "session", "run", "--strategy", "strats:Buys", "--params-file", "params.toml", "--params", "size=0.02", "--feed", "quotes.csv", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["strategy"] == {"name": "Buys", "class": "strats:Buys", "params": {"size": 0.02, "count": 2}, "feed": "quotes.csv", "quotes": 6, "orders": 2}
    assert data["positions"] == {"BTC/EUR": pytest.approx(0.04)} and data["by_status"] == {"filled": 2}


@pytest.mark.needs_plugins("peaktrade-paper")
def test_a_strategy_that_raises_stops_the_session_in_one_line_and_the_run_log_says_where(work):
    done = peaktrade(work, "session", "run", "--strategy", "strats:Breaks", "--feed", "quotes.csv")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].endswith("created by this paper session (testnet/live need `peaktrade state init`)"), lines
    line = lines[1]
    run_id = json.loads(peaktrade(work, "runs", "list", "--json").stdout)[0]["run_id"]
    assert line == (
        "strategy Breaks failed in on_quote(BTC/EUR at 2025-01-01T00:02:00Z): raised KeyError: 'BTC/EUR';"
        f" session stopped, nothing more sent (peaktrade runs show {run_id})"
    )
    assert "Traceback" not in done.stderr
    recorded = events(work, run_id)
    assert [e.quantity for e in recorded if e.kind == "order"] == [0.01, 0.01]  # the two quotes before it
    (error,) = [e.extra for e in recorded if e.kind == "strategy_error"]
    assert error["where"] == "on_quote(BTC/EUR at 2025-01-01T00:02:00Z)" and error["strategy"] == "Breaks"
    shown = json.loads(peaktrade(work, "runs", "show", run_id, "--json").stdout)
    assert shown["status"] == "failed"
    assert peaktrade(work, "runs", "verify", run_id).returncode == 0


@pytest.mark.needs_plugins("peaktrade-paper")
def test_ma_crossover_on_its_recorded_feed_asks_for_the_same_orders_as_the_example(work):
    feed = peaktrade(work, "session", "run", "--strategy", EXAMPLE, "--feed", FEED, "--json")
    assert feed.returncode == 0, feed.stderr
    example = peaktrade(work, "session", "run", "--example", "--json", "--fresh-account")
    assert example.returncode == 0, example.stderr
    by_feed, by_example = json.loads(feed.stdout), json.loads(example.stdout)
    assert by_feed["orders"] == by_example["orders"] == 75 and by_feed["strategy"]["quotes"] == 3000

    def orders(run_id):
        return sorted((e.symbol, e.side, e.quantity, e.price) for e in events(work, run_id) if e.kind == "order")

    assert orders(by_feed["run_id"]) == orders(by_example["run_id"])
    assert json.loads(peaktrade(work, "runs", "list", "--json").stdout)[0]["strategy"] == "ma_crossover"


# -- testnet: gates and the venue's instrument rules as for an orders file ---------------------

TESTNET = """
[environment]
mode = "testnet"
enable_testnet_trading = true
exchange = "loop"
testnet_allowed_symbols = ["{allowed}"]
"""


@pytest.fixture
def venue(work):
    site = work / "site"
    info = site / "peaktrade_loopvenue-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: peaktrade-loopvenue\nVersion: 1.0.0\n")
    (info / "entry_points.txt").write_text("[peaktrade]\nloopvenue = loopvenue\n")
    shutil.copy(ROOT / "tests" / "venue_plugin" / "loopvenue.py", site / "loopvenue.py")
    initialised_store(work / "data").close()
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]), "PT_LOOP_DB": str(work / "venue.sqlite"), "PT_LOOP_KIND": "sandbox"}

    def run(allowed: str, *args: str) -> subprocess.CompletedProcess:
        (work / "config.toml").write_text(TESTNET.format(allowed=allowed))
        return peaktrade(work, "--config", "config.toml", "session", "run", *args, plugins="loopvenue", extra_env=env)

    return run


def test_in_testnet_the_strategys_orders_follow_the_venues_lot_step_and_reach_its_sandbox(work, venue):
    done = venue("BTC/EUR", "--strategy", "strats:Target", "--feed", "quotes.csv", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["effective_mode"] == "testnet" and data["by_status"] == {"filled": 1}
    with sqlite3.connect(work / "venue.sqlite") as conn:
        submitted = conn.execute("SELECT arg FROM calls WHERE call = 'submit_order'").fetchall()
    assert len(submitted) == 1  # 0.012 once; then less than one lot step (0.001) is left
    recorded = events(work, data["run_id"])
    (rounding,) = [e.extra for e in recorded if e.kind == "strategy_rounding"]
    assert rounding["rounded_down_to_lot_step"][0]["quantity"] == 0.012
    assert len([e for e in recorded if e.kind == "strategy_skipped"]) == 5


def test_a_closed_testnet_gate_blocks_the_strategys_orders_as_it_blocks_an_orders_file(work, venue):
    (work / "orders.csv").write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\n")
    by_file = json.loads(venue("ETH/EUR", "--orders", "orders.csv", "--json").stdout)
    done = venue("ETH/EUR", "--strategy", "strats:Buys", "--feed", "quotes.csv", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["by_status"] == {"gate_blocked": 3} and by_file["by_status"] == {"gate_blocked": 1}
    assert list(data["blocks_by_reason"]) == list(by_file["blocks_by_reason"])  # the same gate, the same reason
    with sqlite3.connect(work / "venue.sqlite") as conn:
        assert conn.execute("SELECT * FROM calls WHERE call = 'submit_order'").fetchall() == []


MODES = {
    "shadow": '[environment]\nmode = "shadow"\n',
    "testnet_dry_run": '[environment]\nmode = "testnet"\n\n[live_risk]\nmax_orders_per_second = 0\nmax_orders_per_minute = 0\n',
}


@pytest.mark.needs_plugins("peaktrade-paper", "peaktrade-dryrun")
@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_strategy_session_runs_in_every_mode_the_example_runs_in_with_the_same_outcome(work, mode):
    (work / "mode.toml").write_text(MODES[mode])
    initialised_store(work / "data").close()  # testnet refuses a store no person initialised

    def run(*args):
        done = peaktrade(work, "--config", "mode.toml", "session", "run", *args, "--json", "--fresh-account", plugins="paper,dryrun")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    by_strategy, by_example = run("--strategy", EXAMPLE, "--feed", FEED), run("--example")
    assert by_strategy["effective_mode"] == by_example["effective_mode"] == mode
    assert by_strategy["executor"] == by_example["executor"]
    assert by_strategy["by_status"] == by_example["by_status"] == {"filled": 75}
    assert by_strategy["positions"] == by_example["positions"]


@pytest.mark.needs_plugins("peaktrade-dryrun")
def test_testnet_refuses_an_uninitialised_store_for_a_strategy_as_for_an_orders_file(work):
    (work / "mode.toml").write_text(MODES["testnet_dry_run"])
    (work / "orders.csv").write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\n")
    by_file = peaktrade(work, "--config", "mode.toml", "session", "run", "--orders", "orders.csv", plugins="dryrun")
    by_strategy = peaktrade(work, "--config", "mode.toml", "session", "run", "--strategy", "strats:Buys", "--feed", "quotes.csv", plugins="dryrun")
    assert by_file.returncode == by_strategy.returncode == 2
    assert by_strategy.stderr == by_file.stderr and "was never initialised" in by_strategy.stderr
