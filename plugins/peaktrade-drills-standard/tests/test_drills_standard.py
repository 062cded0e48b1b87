"""Drills A–G and the gate matrix against the default config, and against broken gates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from peaktrade_core.plugin_api import GateReport, evaluate_gates
from peaktrade_core.testing import LiveDrillRunner, cli, load_config

REPO = Path(__file__).resolve().parents[3]
PEAKTRADE = Path(sys.executable).with_name("peaktrade")
EXPECTED = [
    "A - Fully braked (default safety)",
    "B - Gate 1 open, gate 2 missing",
    "C - All armed, but dry-run active",
    "D - Confirm token missing",
    "E - Risk limits would block (gating allows)",
    "F - Non-live mode (testnet)",
    "G - Paper mode",
    "M - Gate matrix (every gate combination)",
]


@pytest.fixture
def config_path(tmp_path):
    target = tmp_path / "config" / "config.toml"
    target.parent.mkdir()
    shutil.copy(REPO / "config" / "config.toml", target)
    return target


def forcing_open(gate: str):
    """An evaluator with one gate broken: it reports ``gate`` open whatever the input."""

    def evaluate(env, kill_switch) -> GateReport:
        report = evaluate_gates(env, kill_switch)
        gates = tuple(attrs.evolve(g, open=True) if g.gate == gate else g for g in report.gates)
        return attrs.evolve(report, gates=gates)

    return evaluate


def run(config_path, **kwargs):
    return {
        r.scenario: r for r in LiveDrillRunner(load_config(config_path), **kwargs).run_all().results
    }


def test_cli_on_the_default_config_passes_all_drills(config_path, tmp_path):
    # how long it takes is a benchmark's business (benchmarks/README.md), never a test's
    env = {**os.environ, "PEAK_TRADE_PLUGINS": "drills-standard"}
    text = subprocess.run([PEAKTRADE, "drills", "run"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert text.returncode == 0, text.stdout + text.stderr
    assert (
        "Number of drills:         8" in text.stdout
        and "Passed:                   8 ✓" in text.stdout
    )
    for name in EXPECTED:
        assert f"Drill: {name}" in text.stdout
    assert text.stdout.count("✓ PASSED") == 8
    assert "768/768 cases as the policy demands" in text.stdout

    as_json = subprocess.run(
        [PEAKTRADE, "drills", "run", "--format", "json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    data = json.loads(as_json.stdout)
    assert as_json.returncode == 0 and data["passed"] is True
    assert [r["scenario"] for r in data["results"]] == EXPECTED
    assert all(r["passed"] for r in data["results"])
    assert [r["is_live_execution_allowed"] for r in data["results"]] == [
        False,
        False,
        False,
        False,
        True,
        False,
        False,
        None,
    ]
    matrix = data["results"][-1]["details"]
    assert matrix == {"cases": 768, "allowed_cases": 4, "failing_cases": 0}
    assert data["read_only"]["verified"] is True


def test_expected_reasons_per_drill(config_path):
    results = run(config_path)
    assert "enable_live_trading=False" in results[EXPECTED[0]].reason
    assert "live_mode_armed=False" in results[EXPECTED[1]].reason
    assert "live_dry_run_mode=True" in results[EXPECTED[2]].reason
    assert results[EXPECTED[2]].effective_mode == "live_dry_run"
    assert (
        "confirm_token" in results[EXPECTED[3]].reason
        and results[EXPECTED[3]].details["confirm_token"] == "NOT SET"
    )
    drill_e = results[EXPECTED[4]]
    assert drill_e.is_live_execution_allowed is True and drill_e.details["risk_allowed"] is False
    assert drill_e.details["risk_violations"] == "max_live_notional_total"
    assert (
        "not LIVE" in results[EXPECTED[5]].reason
        and results[EXPECTED[5]].effective_mode == "testnet_dry_run"
    )
    assert (
        "not LIVE" in results[EXPECTED[6]].reason and results[EXPECTED[6]].effective_mode == "paper"
    )


def test_a_gate_2_that_lets_everything_through_fails_drill_b_and_the_matrix(config_path):
    results = run(config_path, evaluate=forcing_open("live_mode_armed"))
    failed = {name for name, r in results.items() if not r.passed}
    assert failed == {EXPECTED[1], EXPECTED[7]}
    assert (
        "expected the reason to name 'live_mode_armed=False'" in results[EXPECTED[1]].violations[0]
    )
    matrix = results[EXPECTED[7]]
    assert any(
        "live_mode_armed=False" in v
        and "expected blocked (closed: live_mode_armed), got allowed" in v
        for v in matrix.violations
    )
    assert matrix.details["failing_cases"] > 0


def test_the_broken_gate_makes_the_cli_exit_1(config_path, monkeypatch):
    # substitute the runner's default evaluator for this test only
    monkeypatch.setattr("peaktrade_core.drills.evaluate_gates", forcing_open("live_mode_armed"))
    result = CliRunner().invoke(cli, ["drills", "run", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert [r["scenario"] for r in data["results"] if not r["passed"]] == [EXPECTED[1], EXPECTED[7]]


@pytest.mark.parametrize(
    "gate",
    [
        "mode",
        "enable_live_trading",
        "live_mode_armed",
        "confirm_token",
        "live_dry_run_mode",
        "kill_switch",
        "live_limits",
    ],
)
def test_the_matrix_catches_any_gate_that_no_longer_closes(config_path, gate):
    matrix = run(config_path, evaluate=forcing_open(gate))[EXPECTED[7]]
    assert not matrix.passed
    assert all("got allowed" in v for v in matrix.violations if not v.startswith("..."))


def test_the_matrix_catches_a_reason_that_blames_the_wrong_gate(config_path):
    def lying(env, kill_switch):
        report = evaluate_gates(env, kill_switch)
        gates = tuple(attrs.evolve(g, reason="kill switch engaged") for g in report.gates)
        return attrs.evolve(report, gates=gates)

    matrix = run(config_path, evaluate=lying)[EXPECTED[7]]
    assert not matrix.passed
    assert (
        "names none of the closed gates" in matrix.violations[0]
        or "blames open gate" in matrix.violations[0]
    )


def test_a_config_that_would_not_block_is_reported(config_path):
    text = config_path.read_text()
    text = text.replace("block_on_violation = true", "block_on_violation = false")
    text = text.replace("require_confirm_token = true", "require_confirm_token = false")
    config_path.write_text(text)
    results = run(config_path)
    assert not results[EXPECTED[4]].passed
    assert (
        "expected the risk limits to block the batch, but it would pass (live_risk.block_on_violation=false)"
        in results[EXPECTED[4]].violations
    )
    assert not results[EXPECTED[3]].passed  # the token gate is off: drill D says so
    assert results[EXPECTED[7]].passed  # the gate logic itself is still right
