"""docs/strategies.md runs as written: the strategy it writes runs in paper on the recorded
feed through the command line, the run log verifies, and its Python blocks run."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from peaktrade_core.plugins import reset_plugin_manager

pytestmark = pytest.mark.needs_plugins("peaktrade-paper")  # real paper sessions

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "strategies.md").read_text()


def _blocks(info: str) -> list[str]:
    return re.findall(rf"```{re.escape(info)}\n(.*?)```", GUIDE, flags=re.S)


@pytest.fixture
def guide_dir(tmp_path):
    """The directory a reader works in: the example feed, and my_strategy.py as the guide writes it."""
    shutil.copytree(ROOT / "examples" / "ma_crossover", tmp_path / "examples" / "ma_crossover", ignore=shutil.ignore_patterns("__pycache__"))
    (source,) = _blocks("python my_strategy.py")
    (tmp_path / "my_strategy.py").write_text(source)
    return tmp_path


def peaktrade(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PEAK_TRADE_DATA_DIR": str(cwd / "data"), "PEAK_TRADE_PLUGINS": "paper"}
    return subprocess.run([sys.executable, "-m", "peaktrade_core", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_guides_strategy_runs_in_paper_on_the_recorded_feed_and_the_run_verifies(guide_dir):
    commands = [shlex.split(line[2:]) for block in _blocks("console") for line in block.splitlines() if line.startswith("$ peaktrade ")]
    assert commands[0][:3] == ["peaktrade", "session", "run"] and commands[-1][1:] == ["runs", "verify", "last"]
    outputs = []
    for command in commands:
        done = peaktrade(guide_dir, *command[1:])
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        outputs.append(done.stdout)
    summary = outputs[0]
    assert "(finished)" in summary and "mode: paper  effective: paper  executor: paper" in summary
    assert re.search(r"orders: [1-9]\d*  fills: [1-9]", summary)
    # no [state] audit_key in the guide: verify says the chain is unkeyed, on its own line
    assert re.fullmatch(r"\S+: OK, \d+ records verified\nunkeyed: [^\n]+\n", outputs[-1])

    show = json.loads(peaktrade(guide_dir, "runs", "show", "last", "--json").stdout)
    assert show["strategy"] == "trend_follower" and show["status"] == "finished"
    listed = json.loads(peaktrade(guide_dir, "runs", "list", "--json").stdout)
    assert listed[0]["strategy_params"] == {"window": 24, "size": 0.02}

    # the same command with --json: every order filled, flat at the end (stop() closes)
    again = peaktrade(guide_dir, *commands[0][1:], "--json")
    data = json.loads(again.stdout)
    assert data["strategy"]["quotes"] == 3000 and data["strategy"]["orders"] == data["orders"] > 0
    assert set(data["by_status"]) == {"filled"}
    assert abs(data["positions"].get("BTC/EUR", 0.0)) < 1e-9


def test_the_guides_python_blocks_run_from_start_to_a_verified_run_log(guide_dir, monkeypatch, capsys):
    monkeypatch.setenv("PEAK_TRADE_PLUGINS", "paper")
    monkeypatch.chdir(guide_dir)
    monkeypatch.syspath_prepend(str(guide_dir))
    reset_plugin_manager()
    namespace: dict = {"__name__": "__guide__"}
    for block in _blocks("python"):
        exec(compile(block, "docs/strategies.md", "exec"), namespace)
    summary = namespace["summary"]
    assert summary.status == "finished" and summary.mode == "paper" and summary.orders > 0
    assert namespace["end"].extra["quotes"] == 3000 and namespace["end"].extra["feed_ended"] is True
    printed = capsys.readouterr().out.splitlines()
    assert "buy 0.012 0.01234" in printed and "buy 0.013" in printed
    assert "[] 0.0002 is less than one lot step 0.001" in printed


@pytest.mark.slow
@pytest.mark.needs_plugins("peaktrade-paper")
def test_the_guides_strategy_runs_in_shadow_on_the_loopback_venues_feed_sends_nothing_and_verifies(guide_dir):
    from peaktrade_core.runlog import iter_run_events, list_runs
    from peaktrade_core.state import StateStore
    from peaktrade_core.testing.loopback import LoopbackVenue

    site = guide_dir / "site"  # the loopback venue plugin, installed as pip would leave it
    info = site / "peaktrade_loopback-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: peaktrade-loopback\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[peaktrade]\nloopback = peaktrade_core.testing.loopback:plugin\n")
    (config,) = _blocks("toml shadow.toml")
    (command,) = [shlex.split(line[2:]) for block in _blocks("console shadow") for line in block.splitlines() if line.startswith("$ ")]

    with LoopbackVenue() as venue:
        venue.set_price("BTC/EUR", 41_000.0)
        config = config.replace("http://127.0.0.1:8765", venue.url).replace("feed_interval_seconds = 1.0", "feed_interval_seconds = 0.05")
        (guide_dir / "shadow.toml").write_text(config)
        env = {**os.environ, "PEAK_TRADE_DATA_DIR": str(guide_dir / "data"), "PEAK_TRADE_PLUGINS": "paper,loopback", "PYTHONPATH": str(site)}
        session = subprocess.Popen([sys.executable, "-m", "peaktrade_core", *command[1:], "--json"], cwd=guide_dir, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            orders = _rising_prices_until_an_order(venue, guide_dir / "data" / "peaktrade.sqlite3", session)
            session.send_signal(signal.SIGTERM)  # how a supervisor stops a session on a live feed
            out, err = session.communicate(timeout=120)
        finally:
            if session.poll() is None:
                session.kill()
        assert session.returncode == 143, err
        assert venue.orders() == []  # shadow: the venue's prices, nothing sent to it
    summary = json.loads(out)
    assert summary["status"] == "interrupted" and summary["effective_mode"] == "shadow" and summary["interrupted_by"] == "SIGTERM"
    assert summary["strategy"]["feed"] == "loopback" and summary["orders"] >= orders[0] >= 1
    store = StateStore.in_dir(guide_dir / "data")
    try:
        (run,) = list_runs(store)
        fills = [e for e in iter_run_events(store, run.run_id) if e.kind == "order"]
        assert fills[0].side == "buy" and fills[0].status == "filled" and fills[0].price >= 41_100.0  # at the venue's quote
    finally:
        store.close()
    verified = peaktrade(guide_dir, "runs", "verify", "last")
    assert verified.returncode == 0 and " OK, " in verified.stdout


def _rising_prices_until_an_order(venue, db: Path, session: subprocess.Popen) -> list[int]:
    """Raise the venue's price step by step until the strategy (price above its average)
    has bought; returns the run's order count then."""
    import time

    from peaktrade_core.runlog import list_runs, load_run_snapshot
    from peaktrade_core.state import StateStore

    price, deadline = 41_000.0, time.monotonic() + 120
    while time.monotonic() < deadline:
        assert session.poll() is None, session.communicate()
        time.sleep(0.3)
        price += 100.0
        venue.set_price("BTC/EUR", price)
        if not db.exists():
            continue
        store = StateStore(db)
        try:
            runs = list_runs(store)
            orders = load_run_snapshot(store, runs[0].run_id).orders if runs else 0
        finally:
            store.close()
        if orders:
            return [orders]
    raise AssertionError("the strategy placed no order on the loopback feed within two minutes")
