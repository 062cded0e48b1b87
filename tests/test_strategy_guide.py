"""docs/strategies.md runs as written: the strategy it writes runs in paper on the recorded
feed through the command line, the run log verifies, and its Python blocks run."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
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
    assert re.fullmatch(r"\S+: ok, \d+ records verified\n", outputs[-1])

    show = json.loads(peaktrade(guide_dir, "runs", "show", "last", "--json").stdout)
    assert show["strategy"] == "trend_follower" and show["status"] == "finished"
    listed = json.loads(peaktrade(guide_dir, "runs", "list", "--json").stdout)
    assert listed[-1]["strategy_params"] == {"window": 24, "size": 0.02}

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
