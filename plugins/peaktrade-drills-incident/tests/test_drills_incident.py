"""Incident drills: each incident played in memory ends as its stated expected outcome."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from peaktrade_core.cli import cli
from peaktrade_core.config import load_config
from peaktrade_core.drills import LiveDrillRunner
from peaktrade_core.killswitch import KillSwitch
from peaktrade_core.state import StateStore

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def config(tmp_path):
    target = tmp_path / "config" / "config.toml"
    target.parent.mkdir()
    shutil.copy(REPO / "config" / "config.toml", target)
    return load_config(target)


@pytest.fixture
def results(config):
    report = LiveDrillRunner(config).run_all()
    assert report.read_only_verified, report.checks
    return {r.scenario[:2]: r for r in report.results}


def test_every_incident_drill_passes(results):
    assert sorted(results) == ["I1", "I2", "I3", "I4"]
    assert all(r.passed for r in results.values()), [r.violations for r in results.values()]
    assert all(r.notes[1].startswith("expected: ") for r in results.values())


def test_kill_switch_mid_batch_stops_every_later_order(results):
    drill = results["I1"]
    assert drill.details["orders_at_venue"] == 2 and drill.details["orders_blocked"] == 3
    assert drill.is_live_execution_allowed is True  # the gates as the incident found them


def test_venue_outage_sends_each_order_exactly_once(results):
    drill = results["I2"]
    assert drill.details["venue_submissions"] == 2
    assert any("recovered by fetch_order" in n for n in drill.notes)


def test_runaway_strategy_trips_the_in_memory_kill_switch_only(config, results):
    drill = results["I3"]
    assert drill.details == {**drill.details, "orders_at_venue": 6, "kill_switch_after": "ENGAGED"}
    store = StateStore.in_dir(config.data_dir())
    assert KillSwitch(store).state().engaged is False  # the real switch never moved


def test_stale_data_blocks_every_order(results):
    assert (
        results["I4"].details["stale_blocked"] == 3 and results["I4"].details["fresh_blocked"] == 0
    )


def test_cli_runs_the_pack(config):
    result = CliRunner().invoke(
        cli, ["drills", "run", "--pack", "drills-incident", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["count"] == 4 and data["passed"] is True


def test_an_executor_without_the_guard_fails_the_kill_switch_drill(config, monkeypatch):
    # for this test only: the drill gets the bare executor, as if the core's guard were missing
    monkeypatch.setattr(
        "peaktrade_core.drills.DrillContext.guarded", lambda self, executor, env=None: executor
    )
    report = LiveDrillRunner(config).run_all()
    drill = next(r for r in report.results if r.scenario.startswith("I1"))
    assert not drill.passed
    assert "expected exactly orders 1-2 at the venue, got 5 order(s)" in drill.violations
