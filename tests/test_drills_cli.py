"""``peaktrade drills list|run|log`` (DRILL-3): report, exit codes, drill log, read-only."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from peaktrade_core.cli import cli
from peaktrade_core.drills import DrillLog, LiveDrillScenario
from peaktrade_core.environment import LIVE_CONFIRM_TOKEN, TradingMode
from peaktrade_core.hookspecs import hookimpl
from peaktrade_core.killswitch import KillSwitch
from peaktrade_core.state import StateStore
from peaktrade_core.testing import registered_plugin

REPO_CONFIG = Path(__file__).parents[1] / "config" / "config.toml"
PACK = "cli-pack"

GOOD = LiveDrillScenario(
    "A - braked",
    "gate 1 closed",
    PACK,
    {"mode": TradingMode.LIVE, "confirm_token": LIVE_CONFIRM_TOKEN},
    expected_is_live_execution_allowed=False,
    expected_reasons=("enable_live_trading=False",),
)
BAD = LiveDrillScenario(
    "B - wrong expectation",
    "expects live to be allowed",
    PACK,
    {"mode": TradingMode.PAPER},
    expected_is_live_execution_allowed=True,
)


class Pack:
    def __init__(self, *scenarios):
        self.scenarios = scenarios

    @hookimpl
    def drill_scenarios(self):
        return self.scenarios

    @hookimpl
    def run_drill(self, scenario, context):
        return context.result(context.gate_report()) if scenario.pack == PACK else None


@pytest.fixture(autouse=True)
def repo_config(tmp_path):
    (tmp_path / "config").mkdir()
    shutil.copy(REPO_CONFIG, tmp_path / "config" / "config.toml")
    return tmp_path / "config" / "config.toml"


def invoke(*args: str):
    return CliRunner().invoke(cli, ["drills", *args], catch_exceptions=False)


def test_run_prints_the_report_and_logs_the_run(tmp_path):
    with registered_plugin(Pack(GOOD), PACK):
        result = invoke("run")
    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        "Number of drills:         1" in out
        and "Passed:                   1 ✓" in out
        and "Failed:                   0 ✗" in out
    )
    assert "Drill: A - braked" in out and "✓ PASSED" in out
    assert "is_live_execution_allowed: False" in out
    assert "Reason:                    enable_live_trading=False (gate 1 blocked)" in out
    assert "  • Mode: live" in out and "  • Effective Mode: live_dry_run" in out
    assert "  • confirm_token: SET (valid)" in out and LIVE_CONFIRM_TOKEN not in out
    assert "No real order was sent" in out and "✓ config file: config/config.toml: sha256" in out
    store = StateStore(tmp_path / "data" / "peaktrade.sqlite3")
    log = DrillLog(store).entries()  # in the state store, not a file beside it
    assert not (tmp_path / "data" / "drills.jsonl").exists()
    assert (
        len(log) == 1
        and log[0]["passed"] is True
        and log[0]["count"] == 1
        and log[0]["read_only_verified"]
    )
    logged = json.loads(invoke("log", "--json").output)
    assert logged == log
    assert "1 drills  PASSED  read-only verified" in invoke("log").output


def test_json_has_the_same_facts():
    with registered_plugin(Pack(GOOD, BAD), PACK):
        result = invoke("run", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert (data["count"], data["passed_count"], data["failed_count"], data["passed"]) == (
        2,
        1,
        1,
        False,
    )
    good, bad = data["results"]
    assert good["details"]["confirm_token"] == "SET (valid)" and good["details"]["mode"] == "live"
    assert bad["violations"] == [
        "expected is_live_execution_allowed=True, got False (reason: environment mode is 'paper', not LIVE: "
        "orders are never sent to a real venue)"
    ]
    assert data["read_only"]["verified"] is True
    assert {c["check"] for c in data["read_only"]["checks"]} >= {"config file", "state database"}


def test_a_failed_drill_exits_1_and_the_log_says_which(tmp_path):
    with registered_plugin(Pack(GOOD, BAD), PACK):
        result = invoke("run")
    assert result.exit_code == 1
    assert "Failed:                   1 ✗" in result.output and "✗ FAILED" in result.output
    assert "  ✗ expected is_live_execution_allowed=True, got False" in result.output
    assert json.loads(invoke("log", "--json").output)[-1]["failed"] == ["B - wrong expectation"]


def test_scenario_and_pack_select(tmp_path):
    with registered_plugin(Pack(GOOD, BAD), PACK):
        one = json.loads(invoke("run", "--scenario", "a", "--format", "json").output)
        unknown = invoke("run", "--scenario", "Z")
        other = invoke("run", "--pack", "nope")
        listed = json.loads(invoke("list", "--json").output)
    assert [r["scenario"] for r in one["results"]] == ["A - braked"]
    assert unknown.exit_code == 2 and unknown.output.count("\n") == 1
    assert "no drill named 'Z'; one of: A - braked; B - wrong expectation" in unknown.output
    assert other.exit_code == 2 and "no drill scenarios from pack 'nope'" in other.output
    assert [s["name"] for s in listed["scenarios"]] == ["A - braked", "B - wrong expectation"]
    assert listed["scenarios"][0]["env_overrides"]["confirm_token"] == "SET (valid)"


def test_without_a_drill_pack_the_user_is_told_what_to_install():
    result = invoke("run")
    assert result.exit_code == 2
    assert "pip install peaktrade-drills-standard" in result.output


def test_output_file(tmp_path):
    with registered_plugin(Pack(GOOD), PACK):
        result = invoke("run", "--output", "reports/drills/weekly.txt")
    assert result.exit_code == 0
    assert "PASSED: 1/1 drills passed; report written to reports/drills/weekly.txt" in result.output
    assert "Drill: A - braked" in (tmp_path / "reports" / "drills" / "weekly.txt").read_text()


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_config_and_state_are_unchanged_by_a_run_but_for_its_drill_log_entry(tmp_path, repo_config):
    store = StateStore.in_dir(tmp_path / "data")
    KillSwitch(store).engage("real incident", operator="bob")
    store.close()
    state = tmp_path / "data" / "peaktrade.sqlite3"
    before = _dump(state)
    with registered_plugin(Pack(GOOD), PACK):
        result = invoke("run")
    assert result.exit_code == 0
    assert "✓ state database: " in result.output  # byte-identical while the drills ran
    after = _dump(state)
    added = [line for line in after if line not in before]
    assert added and all("drill_runs" in line for line in added)  # the log entry, written after the proof
    assert [line for line in before if line not in after] == []
    assert (
        hashlib.sha256(repo_config.read_bytes()).digest()
        == hashlib.sha256(REPO_CONFIG.read_bytes()).digest()
    )


def test_a_drill_log_file_from_before_is_imported_once_and_kept_as_imported(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    old = {"at": "2026-01-05T09:00:00+00:00", "operator": "carol", "config": "config.toml", "count": 8,
           "passed": True, "failed": [], "read_only_verified": True, "duration_ms": 12.5}
    (data / "drills.jsonl").write_text(json.dumps(old) + "\n{not json\n", encoding="utf-8")
    first = json.loads(invoke("log", "--json").output)
    assert first[0] == old and first[1]["error"].endswith("drills.jsonl:2: not a JSON line")
    assert not (data / "drills.jsonl").exists() and (data / "drills.jsonl.imported").exists()
    with registered_plugin(Pack(GOOD), PACK):
        assert invoke("run").exit_code == 0
    (data / "drills.jsonl.imported").rename(data / "drills.jsonl")  # a rename that did not happen
    logged = json.loads(invoke("log", "--json").output)
    # newest first: this run, then carol's from the file (imported once), then the unreadable
    # line (no time: shown last rather than hidden)
    assert [e.get("operator") for e in logged] == [logged[0]["operator"], "carol", None] and len(logged) == 3
    assert logged[0]["at"] > old["at"] and "error" in logged[2]
    assert "carol          8 drills  PASSED  read-only verified  config.toml" in invoke("log").output


def test_a_command_closes_its_store_when_it_ends(tmp_path):
    # a connection left to the collector would be closed whenever it runs, e.g. in the middle
    # of the drills of a later command in this process, and its close rewrites the WAL
    import contextlib
    import gc
    import sqlite3

    assert invoke("log", "--json").exit_code == 0
    gc.disable()  # nothing may be closed by collection while looking
    try:
        files = set()
        for obj in gc.get_objects():
            if isinstance(obj, sqlite3.Connection):
                with contextlib.suppress(sqlite3.ProgrammingError):  # closed
                    files.update(row[2] for row in obj.execute("PRAGMA database_list"))
    finally:
        gc.enable()
    assert not {f for f in files if f.startswith(str(tmp_path))}
