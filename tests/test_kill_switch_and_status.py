"""Kill switch across processes, and the operator console."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peaktrade(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peaktrade_core", *args],
        capture_output=True, text=True, env=dict(os.environ), cwd=cwd,
    )


def test_kill_switch_engaged_in_one_process_is_seen_and_enforced_by_others(tmp_path):
    engaged = peaktrade("kill", "--reason", "drill", "--operator", "alice")
    assert engaged.returncode == 0, engaged.stderr
    assert "ENGAGED by alice: drill" in engaged.stdout

    status = json.loads(peaktrade("status", "--json").stdout)
    assert status["kill_switch"]["engaged"] is True
    assert status["kill_switch"]["operator"] == "alice" and status["kill_switch"]["reason"] == "drill"

    orders = tmp_path / "orders.csv"
    orders.write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\n")
    preview = json.loads(peaktrade("orders", "preview", str(orders), "--json").stdout)
    assert preview[0]["would_pass"] is False
    assert preview[0]["gate_blocks"][0].startswith("kill switch engaged by alice")

    refused = peaktrade("kill", "--release")
    assert refused.returncode == 2 and "--reason is required" in refused.stderr
    assert json.loads(peaktrade("status", "--json").stdout)["kill_switch"]["engaged"] is True

    released = peaktrade("kill", "--release", "--reason", "drill over", "--operator", "bob")
    assert released.returncode == 0 and "RELEASED" in released.stdout
    history = json.loads(peaktrade("kill", "--history", "--json").stdout)
    assert [(h["action"], h["operator"], h["reason"]) for h in history] == [  # newest first
        ("release", "bob", "drill over"), ("engage", "alice", "drill")
    ]
    assert all(h["at"] for h in history)
    assert json.loads(peaktrade("status", "--json").stdout)["kill_switch"]["engaged"] is False


def test_the_kill_switch_survives_a_restart(tmp_path):
    from peaktrade_core.killswitch import KillSwitch
    from peaktrade_core.state import StateStore

    path = tmp_path / "s.sqlite3"
    KillSwitch(StateStore(path)).engage("first", operator="alice")
    again = KillSwitch(StateStore(path))
    assert again.state().engaged and again.state().reason == "first"


def test_status_on_the_default_config_shows_not_allowed_and_gate_1(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    result = peaktrade("status", cwd=tmp_path)
    assert result.returncode == 0
    assert "is_live_execution_allowed: False" in result.stdout
    assert "enable_live_trading=False (gate 1 blocked)" in result.stdout
    data = json.loads(peaktrade("status", "--json", cwd=tmp_path).stdout)
    assert data["is_live_execution_allowed"] is False
    assert {g["gate"]: g["open"] for g in data["gates"]}["enable_live_trading"] is False
    assert peaktrade("status", "--require-live", cwd=tmp_path).returncode == 1


def test_status_allows_live_only_with_every_gate_open_and_never_prints_the_token(tmp_path):
    config = tmp_path / "live.toml"
    config.write_text(
        """
[environment]
mode = "live"
enable_live_trading = true
live_mode_armed = true
live_dry_run_mode = false
confirm_token = { env = "PT_TOKEN" }
profile = "tiny_live"
"""
    )
    env = dict(os.environ, PT_TOKEN="I_KNOW_WHAT_I_AM_DOING")
    run = lambda *a: subprocess.run([sys.executable, "-m", "peaktrade_core", "--config", str(config), *a], capture_output=True, text=True, env=env)  # noqa: E731
    assert run("state", "init", "--reason", "new desk").returncode == 0  # live needs a recorded store
    data = json.loads(run("status", "--json").stdout)
    # every gate open, but no venue configured: what would run is a dry run, never "live"
    assert data["is_live_execution_allowed"] is True and data["effective_mode"] == "live_dry_run"
    assert data["environment_profile"] == "tiny_live"
    assert data["limits"]["environment.max_live_notional_total"] == 200.0
    text = run("status").stdout
    assert "I_KNOW_WHAT_I_AM_DOING" not in text and "SET (valid)" in text
    assert run("status", "--require-live").returncode == 0
