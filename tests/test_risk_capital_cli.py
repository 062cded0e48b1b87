"""The ramp-up as an operator meets it: `peaktrade session run` on an orders file (a real
paper session in a fresh process) is blocked at the stage's limit with its own code, the
block is in `risk history` and the run log, `status` shows the limit in force, and
`config set` refuses to raise it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from peaktrade_core.runlog import iter_run_events
from peaktrade_core.state import StateStore
from tests.test_risk_capital import sign_stages

pytestmark = pytest.mark.needs_plugins("peaktrade-paper")  # a real paper session

CONFIG = """[environment]
mode = "paper"

[live_risk]
ramp_up_max_capital = { 0 = 1000.0, 1 = 2000.0 }
"""


def orders(*quantities: float) -> str:
    """Buys of BTC/EUR at 40,000 (quantities differ: identical orders would be duplicates)."""
    return "symbol,side,quantity,reference_price\n" + "".join(f"BTC/EUR,buy,{q:g},40000\n" for q in quantities)


@pytest.fixture
def peaktrade(tmp_path):
    (tmp_path / "config.toml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAK_TRADE_")}
    env.update(PEAK_TRADE_DATA_DIR=str(tmp_path / "data"), PEAK_TRADE_PLUGINS="paper")

    def run(*args: str, exit_code: int = 0) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "peaktrade_core", "--config", "config.toml", *args]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == exit_code, done.stderr
        assert "Traceback" not in done.stderr
        return done

    return run


def test_session_run_blocks_the_first_order_above_the_stage_limit_with_its_own_code(tmp_path, peaktrade):
    (tmp_path / "orders.csv").write_text(orders(0.01, 0.005, 0.015))
    summary = json.loads(peaktrade("session", "run", "--orders", "orders.csv", "--json").stdout)
    assert summary["by_status"] == {"filled": 2, "risk_blocked": 1}  # 400, 600, then 1,200 > 1,000
    assert summary["blocks_by_reason"] == {"risk_blocked: ramp_up_max_capital": 1}

    history = json.loads(peaktrade("risk", "history", "--json").stdout)
    assert [(r["code"], r["limit"], r["value"], r["blocked"]) for r in history] == [("ramp_up_max_capital", 1000.0, 1200.0, True)]
    store = StateStore(tmp_path / "data" / "peaktrade.sqlite3")
    (session,) = [e for e in iter_run_events(store, summary["run_id"]) if e.kind == "session"]
    assert session.extra["limits_in_force"]["capital"]["ramp_up_max_capital"] == 1000.0
    assert session.extra["limits_in_force"]["capital"]["stage"] == 0

    status = json.loads(peaktrade("status", "--json").stdout)["capital"]
    assert (status["stage"], status["ramp_up_in_force"]) == (0, 1000.0)
    assert "ramp-up (max exposure):   stage 0: 1000, stage 1: 2000; in force at stage 0: 1000" in peaktrade("status").stdout

    # raising it is a governance decision: edit the file, never `config set`
    before = (tmp_path / "config.toml").read_bytes()
    refused = peaktrade("config", "set", "live_risk.ramp_up_max_capital", "{ 0 = 5000.0 }", exit_code=2)
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("config.toml: live_risk.ramp_up_max_capital: is a governance key")
    assert (tmp_path / "config.toml").read_bytes() == before

    # stage 1 signed: its limit applies to the next session (the paper account holds 600)
    sign_stages(store, 1)
    (tmp_path / "orders.csv").write_text(orders(0.0125, 0.02, 0.0075))
    summary = json.loads(peaktrade("session", "run", "--orders", "orders.csv", "--json").stdout)
    assert summary["by_status"] == {"filled": 2, "risk_blocked": 1}  # 1,100, 1,900, then 2,200 > 2,000
    assert "in force at stage 1: 2000" in peaktrade("status").stdout
