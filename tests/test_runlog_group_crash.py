"""Durability ``group`` with one order per batch, killed with SIGKILL mid-run: the paper
account and the run log were written in the same transactions, so they still agree (the
account's statement is encoded once per window, from the snapshot of its newest commit)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from peaktrade_core.accounts import AccountStore
from peaktrade_core.runlog import list_runs, load_run_snapshot, verify_run
from peaktrade_core.state import StateStore

pytestmark = pytest.mark.needs_plugins("peaktrade-paper")  # runs a real paper session

ROOT = Path(__file__).resolve().parents[1]
QUANTITY = 0.001


@pytest.mark.slow
def test_sigkill_with_group_durability_leaves_the_account_and_the_log_agreeing(tmp_path):
    if not (ROOT / "plugins" / "peaktrade-paper").is_dir():
        pytest.skip("needs the paper plugin")
    orders = tmp_path / "orders.csv"
    with orders.open("w") as f:
        f.write("symbol,side,quantity,reference_price\n")
        for _ in range(200_000):  # buys only: the position counts the filled orders
            f.write(f"BTC/EUR,buy,{QUANTITY},40000\n")
    config = tmp_path / "config.toml"
    config.write_text(
        "[live_risk]\nduplicate_window_seconds = 0\nrunaway_max_executions = 0\nmax_orders_per_second = 0\n"
        "max_orders_per_minute = 0\nmax_symbol_exposure_notional = 1e12\nmax_total_exposure_notional = 1e12\n[execution]\nbatch_size = 1\ndurability = \"group\"\n"
    )
    env = dict(os.environ, PEAK_TRADE_PLUGINS="paper", PEAK_TRADE_DATA_DIR=str(tmp_path / "data"))
    cmd = [sys.executable, "-m", "peaktrade_core", "--config", str(config), "session", "run", "--orders", str(orders), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = tmp_path / "data" / "peaktrade.sqlite3"
    deadline = time.time() + 120
    committed = 0
    try:
        while time.time() < deadline and committed < 2_000 and proc.poll() is None:
            time.sleep(0.1)
            if db.exists():
                runs = list_runs(StateStore(db))
                if runs:
                    committed = load_run_snapshot(StateStore(db), runs[0].run_id).orders
        assert proc.poll() is None, f"the session ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    store = StateStore(db)
    run_id = list_runs(store)[0].run_id
    snapshot = load_run_snapshot(store, run_id)
    assert snapshot.orders >= committed > 0
    assert snapshot.filled > 1_000
    assert verify_run(store, run_id).ok
    account = AccountStore(store).load("default", "paper")
    assert account is not None and account.run_id == run_id
    # the account holds exactly the fills the log recorded: not one more, not one fewer
    assert account.portfolio.positions["BTC/EUR"] == pytest.approx(snapshot.filled * QUANTITY, abs=QUANTITY / 10)
