"""A fresh virtual environment with only the core, the paper plugin and the example plugin
installed: a working paper-trading system, and `plugins list` shows what is installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_core_plus_paper_plus_hello_in_a_fresh_venv(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, str(ROOT), str(ROOT / "plugins" / "peaktrade-paper"), str(ROOT / "examples" / "peaktrade-hello-plugin")], check=True)
    peaktrade = str(env_dir / "bin" / "peaktrade")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAK_TRADE_PLUGINS")}
    env["PEAK_TRADE_DATA_DIR"] = str(tmp_path / "data")

    listing = json.loads(subprocess.run([peaktrade, "plugins", "list", "--json"], capture_output=True, text=True, check=True, env=env, cwd=tmp_path).stdout)
    by_name = {p["name"]: p for p in listing}
    assert {"safety-gates", "risk-limits", "alert-sinks", "paper", "hello"} <= set(by_name)
    assert by_name["hello"]["hooks"] == ["check_gate", "config_sections", "configure"]
    assert "dryrun" not in by_name  # only what was installed

    orders = tmp_path / "orders.csv"
    orders.write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\nBTC/EUR,buy,50,1.5\n")  # both within the default risk limits
    run = subprocess.run([peaktrade, "session", "run", "--orders", str(orders), "--json"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["by_status"] == {"filled": 1, "gate_blocked": 1}  # 50 BTC: the hello gate says no
    assert any("hello plugin" in reason for reason in summary["blocks_by_reason"])
    assert subprocess.run([peaktrade, "runs", "verify", summary["run_id"]], env=env, cwd=tmp_path).returncode == 0

    testnet = tmp_path / "testnet.toml"
    testnet.write_text('[environment]\nmode = "testnet"\n')
    init = [peaktrade, "--config", str(testnet), "state", "init", "--reason", "fresh install"]
    assert subprocess.run(init, capture_output=True, env=env, cwd=tmp_path).returncode == 0  # testnet needs it
    refused = subprocess.run([peaktrade, "--config", str(testnet), "session", "run", "--orders", str(orders)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert refused.returncode == 2
    assert "install the plugin peaktrade-dryrun" in refused.stderr and "Traceback" not in refused.stderr
    assert sys.version_info >= (3, 11)
