"""The bundled risk examples, run as a user runs them: `python -m peaktrade_core` in a
checkout copy with the paper plugin and a fresh data dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.needs_plugins("peaktrade-paper")  # runs a real paper session

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def checkout(tmp_path):
    for part in ("config", "examples/runaway", "examples/tight_risk", "examples/ma_crossover"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PEAK_TRADE_DATA_DIR": str(tmp_path / "data"), "PEAK_TRADE_PLUGINS": "paper"}
    env.pop("PEAK_TRADE_CONFIG_PATH", None)
    env.pop("PEAK_TRADE_DISABLE_PLUGINS", None)

    def peaktrade(*args: str, exit_code: int = 0):
        done = subprocess.run([sys.executable, "-m", "peaktrade_core", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == exit_code, done.stderr
        return done.stdout

    return peaktrade


def test_runaway_example_engages_the_kill_switch_and_blocks_the_rest(checkout):
    args = ("--config", "examples/runaway/config.toml", "session", "run", "--orders", "examples/runaway/orders.csv", "--json")
    summary = json.loads(checkout(*args, exit_code=3))  # 3: the kill switch engaged during the run
    # batches of 50 against a limit of 100: exactly 100 execute, the third batch is the
    # runaway (blocked, then the switch engages), every later order meets the switch
    assert summary["orders"] == 600 and summary["executor"] == "paper"
    assert summary["by_status"] == {"filled": 100, "risk_blocked": 50, "gate_blocked": 450}
    assert summary["blocks_by_reason"] == {"gate_blocked: kill switch engaged": 450, "risk_blocked: runaway_throttle": 50}
    assert summary["kill_switch_engaged_during_run"] is True

    switch = json.loads(checkout("status", "--json"))["kill_switch"]
    assert switch["engaged"] is True and switch["operator"] == "runaway-throttle" and switch["source"] == "risk"
    assert switch["reason"] == "runaway throttle: order 101 within 60s > limit 100"
    assert "ENGAGED by runaway-throttle" in checkout("status")


def test_tight_risk_example_shows_blocks_by_code_and_records_them(checkout):
    summary = json.loads(checkout("--config", "examples/tight_risk/config.toml", "session", "run", "--example", "--json"))
    blocks = {reason.removeprefix("risk_blocked: "): n for reason, n in summary["blocks_by_reason"].items()}
    assert set(blocks) == {"max_order_notional", "min_order_notional", "max_open_positions"}
    assert summary["by_status"]["risk_blocked"] > 0

    history = json.loads(checkout("--config", "examples/tight_risk/config.toml", "risk", "history", "--json", "--limit", "1000"))
    assert {r["run_id"] for r in history} == {summary["run_id"]}
    assert Counter(r["code"] for r in history) == blocks  # one record per block in the summary
    limits = {r["code"]: r["limit"] for r in history}
    assert limits == {"max_order_notional": 450.0, "min_order_notional": 300.0, "max_open_positions": 1.0}
    for r in history:
        assert r["blocked"] and r["client_order_id"] and r["value"] is not None
        assert (r["value"] > r["limit"]) if r["code"] != "min_order_notional" else (r["value"] < r["limit"])
