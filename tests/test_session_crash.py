"""A session process killed with SIGKILL mid-run: what it committed is kept, the run log
verifies, and the next session start marks the run aborted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from peaktrade_core.runlog import iter_run_events, list_runs, load_run_snapshot, verify_run
from peaktrade_core.state import StateStore

pytestmark = pytest.mark.needs_plugins("peaktrade-paper")  # runs a real paper session

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sigkill_mid_session_loses_nothing_committed_and_is_marked_aborted(tmp_path):
    if not (ROOT / "plugins" / "peaktrade-paper").is_dir():
        pytest.skip("needs the paper plugin")
    orders = tmp_path / "orders.csv"
    with orders.open("w") as f:
        f.write("symbol,side,quantity,reference_price\n")
        for i in range(400_000):
            f.write(f"BTC/EUR,{'buy' if i % 2 else 'sell'},0.001,{40000 + i * 0.001:.3f}\n")
    config = tmp_path / "config.toml"
    config.write_text("[live_risk]\nduplicate_window_seconds = 0\nrunaway_max_executions = 0\n[execution]\nbatch_size = 500\n")
    env = dict(os.environ, PEAK_TRADE_PLUGINS="paper", PEAK_TRADE_DATA_DIR=str(tmp_path / "data"))
    cmd = [sys.executable, "-m", "peaktrade_core", "--config", str(config), "session", "run", "--orders", str(orders), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "data" / "peaktrade.sqlite3"
    deadline = time.time() + 60
    committed = 0
    try:
        while time.time() < deadline and committed < 5_000:
            time.sleep(0.1)
            if db.exists():
                runs = list_runs(StateStore(db))
                if runs:
                    committed = load_run_snapshot(StateStore(db), runs[0].run_id).orders
        assert proc.poll() is None, "the session finished before it could be killed: make the file bigger"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    store = StateStore(db)
    run_id = list_runs(store)[0].run_id
    kept = load_run_snapshot(store, run_id).orders
    assert kept >= committed and kept % 500 == 0  # whole batches, nothing half-written
    assert verify_run(store, run_id).ok

    empty = tmp_path / "empty.csv"
    empty.write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,0.001,40000\n")
    nxt = subprocess.run([*cmd[:-3], "--orders", str(empty), "--json"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert nxt.returncode == 0, nxt.stderr
    runs = {r.run_id: r for r in list_runs(StateStore(db))}
    assert runs[run_id].status == "aborted"
    assert load_run_snapshot(StateStore(db), run_id).orders == kept
    assert verify_run(StateStore(db), run_id).ok
    assert json.loads(nxt.stdout)["run_id"] != run_id
    # the paper account held what the killed run committed, and the next session went on from it
    [event] = [e.extra for e in iter_run_events(StateStore(db), json.loads(nxt.stdout)["run_id"]) if e.kind == "account"]
    assert event["last_written_by_run"] == run_id and event["fresh"] is False
