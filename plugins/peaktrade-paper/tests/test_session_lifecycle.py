"""A paper account across sessions and a session's end, as operators meet them: real
`peaktrade` processes, a real state file, real signals.

* The orderly-exit runbook of docs/operators.md: buy, engage the kill switch with
  reduce-only allowed, close — the close passes, a new buy is blocked.
* SIGTERM / Ctrl-C mid-run: the batch in hand finishes, the run is `interrupted` with its
  summary, exit 143 / 130.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from peaktrade_core.plugin_api import iter_run_events, list_runs, verify_run
from peaktrade_core.testing import StateStore

CONTROLS_OFF = "max_orders_per_second = 0\nmax_orders_per_minute = 0\nduplicate_window_seconds = 0\nrunaway_max_executions = 0\n"
HEADER = "symbol,side,quantity,reference_price,reduce_only\n"


def peaktrade(tmp_path, *args: str, exit_code: int = 0) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "peaktrade_core", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == exit_code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout


def write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_the_orderly_exit_runbook_closes_under_the_kill_switch_and_blocks_new_buys(tmp_path):
    config = write(tmp_path / "config.toml", f'[environment]\nmode = "paper"\nkill_switch_allow_reduce_only = true\n[live_risk]\n{CONTROLS_OFF}')
    buy = write(tmp_path / "buy.csv", HEADER + "BTC/EUR,buy,0.01,40000,false\nETH/EUR,buy,0.5,2000,false\n")
    close = write(tmp_path / "close.csv", HEADER + "BTC/EUR,sell,0.01,41000,true\nETH/EUR,buy,0.1,2000,false\n")

    first = json.loads(peaktrade(tmp_path, "--config", config, "session", "run", "--orders", buy, "--json"))
    assert first["by_status"] == {"filled": 2} and first["account"] == "default"

    peaktrade(tmp_path, "--config", config, "kill", "--reason", "orderly exit")

    # step 2 of the runbook: preview first — it sees the account the first session left
    preview = json.loads(peaktrade(tmp_path, "--config", config, "orders", "preview", close, "--json"))
    assert [row["would_pass"] for row in preview] == [True, False]

    second = json.loads(peaktrade(tmp_path, "--config", config, "session", "run", "--orders", close, "--json"))
    assert second["by_status"] == {"filled": 1, "gate_blocked": 1}
    assert second["blocks_by_reason"] == {"gate_blocked: kill switch engaged": 1}
    assert second["positions"] == {"ETH/EUR": 0.5}  # BTC closed, no new ETH
    assert second["realized_pnl"] == pytest.approx(10.0)  # 0.01 x (41,000 - 40,000)

    portfolio = json.loads(peaktrade(tmp_path, "--config", config, "portfolio", "--json"))
    assert [(p["symbol"], p["size"]) for p in portfolio["snapshot"]["positions"]] == [("ETH/EUR", 0.5)]
    assert portfolio["snapshot"]["cash"] == pytest.approx(100_000 - 400 - 1_000 + 410)

    # starting over is deliberate and on record: flat again, so nothing is left to reduce
    fresh = json.loads(peaktrade(tmp_path, "--config", config, "session", "run", "--orders", close, "--fresh-account", "--json"))
    assert fresh["by_status"] == {"gate_blocked": 2} and fresh["fresh_account"] is True
    assert fresh["cash"] == 100_000.0 and fresh["positions"] == {}
    store = StateStore(tmp_path / "data" / "peaktrade.sqlite3")
    [event] = [e.extra for e in iter_run_events(store, fresh["run_id"]) if e.kind == "account"]
    assert event["fresh"] is True and event["last_written_by_run"] == second["run_id"]
    assert event["discarded"]["positions"] == {"ETH/EUR": 0.5}


def _big_orders_file(path, rows: int) -> str:
    with path.open("w") as f:
        f.write("symbol,side,quantity,reference_price\n")
        for i in range(rows):
            f.write(f"BTC/EUR,{'buy' if i % 2 else 'sell'},0.001,{40000 + i * 0.001:.3f}\n")
    return str(path)


def _run_started(db) -> bool:
    """The run is in the run log and has committed a batch (its account was written after
    it). A read-only look: the session owns the file."""
    if not db.exists():
        return False
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM runlog_runs JOIN accounts USING (run_id)").fetchone()[0] > 0
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet, or busy
        return False


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "name", "code", "as_json"), [(signal.SIGTERM, "SIGTERM", 143, True), (signal.SIGINT, "SIGINT", 130, False)])
def test_a_signal_mid_run_finishes_the_batch_marks_the_run_interrupted_and_prints_the_summary(tmp_path, sig, name, code, as_json):
    rows, batch = 200_000, 20  # far more than can run before the signal arrives
    orders = _big_orders_file(tmp_path / "orders.csv", rows)
    config = write(tmp_path / "config.toml", f"[live_risk]\n{CONTROLS_OFF}[execution]\nbatch_size = {batch}\n")
    cmd = [sys.executable, "-m", "peaktrade_core", "--config", config, "session", "run", "--orders", orders, "--no-progress"] + (["--json"] if as_json else [])
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = tmp_path / "data" / "peaktrade.sqlite3"
    try:
        deadline = time.monotonic() + 120
        while not _run_started(db):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the session never started"
            time.sleep(0.05)
        assert proc.poll() is None, "the session finished before the signal: make the file bigger"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err and "Aborted!" not in err
    store = StateStore(db)
    [run] = list_runs(store)
    if as_json:
        summary = json.loads(out)
    else:  # the summary for a person: says what happened, and where the details are
        assert f"run {run.run_id}  (interrupted by {name}, after the batch in hand)" in out
        assert f"details: peaktrade runs show {run.run_id}" in out
        summary = run.summary
    assert summary["status"] == "interrupted" and summary["interrupted_by"] == name
    assert batch <= summary["orders"] < rows and summary["orders"] % batch == 0  # whole batches only

    assert run.run_id == summary["run_id"] and run.status == "interrupted"
    assert run.summary["orders"] == summary["orders"]
    assert verify_run(store, run.run_id).ok
    # the account holds exactly what the run committed
    portfolio = json.loads(peaktrade(tmp_path, "--config", config, "portfolio", "--json"))
    assert portfolio["run_id"] == summary["run_id"]
    assert portfolio["snapshot"]["cash"] == pytest.approx(summary["cash"])


def test_exit_code_3_when_the_kill_switch_engages_during_the_run(tmp_path):
    config = write(tmp_path / "config.toml", "[live_risk]\nduplicate_window_seconds = 0\nrunaway_max_executions = 2\n")
    orders = write(tmp_path / "orders.csv", "symbol,side,quantity,reference_price\n" + "BTC/EUR,buy,0.001,40000\n" * 3)
    out = peaktrade(tmp_path, "--config", config, "session", "run", "--orders", orders, exit_code=3)
    assert "KILL SWITCH ENGAGED during this run" in out
    # engaged before the run: the blocks are expected, not news — exit 0
    peaktrade(tmp_path, "--config", config, "session", "run", "--orders", orders)


def test_exit_code_4_when_an_order_ends_in_error_and_json_never_holds_nan(tmp_path):
    """The issue's 1e308 fill, at the paper market's price: the cash math would overflow,
    so the accounts refuse the fill (the order ends `error`), and the summary stays valid
    JSON with the account untouched."""
    config = write(
        tmp_path / "config.toml",
        f'[live_risk]\nenabled = false\n{CONTROLS_OFF}[plugins.paper]\nprices = {{ "BTC/EUR" = 50000.0 }}\n',
    )
    orders = write(tmp_path / "orders.csv", "symbol,side,quantity\nBTC/EUR,buy,1e307\nBTC/EUR,buy,0.01\n")
    text = peaktrade(tmp_path, "--config", config, "session", "run", "--orders", orders, "--json", exit_code=4)
    assert "NaN" not in text and "Infinity" not in text
    summary = json.loads(text)
    assert summary["by_status"] == {"error": 1, "filled": 1}
    assert summary["positions"] == {"BTC/EUR": 0.01} and summary["cash"] == pytest.approx(99_500.0)
    portfolio = peaktrade(tmp_path, "--config", config, "portfolio")
    assert "BTC/EUR  long  0.01  50,000.00  500.00" in portfolio and "within every portfolio limit" in portfolio
