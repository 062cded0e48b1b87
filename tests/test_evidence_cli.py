"""``peaktrade evidence``: every control of docs/controls.md (the auditor's list) with the
config in force, its drills and tests, and the latest recorded result — after an
operator's day (a drill run, a health check, a loopback testnet session), each step a
subprocess on a real state store."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from peaktrade_core.evidence import CONTROLS, NO_RECORD, PASSED, collect
from peaktrade_core.state import STATE_FILE
from peaktrade_core.testing import OperatorShell, install_plugin
from peaktrade_core.testing.loopback import LoopbackVenue

ROOT = Path(__file__).resolve().parents[1]
CONTROLS_DOC = ROOT / "docs" / "controls.md"
SHARED = Path("/work/shared/CONTROLS.md")


def _doc_ids() -> list[str]:
    return re.findall(r"^\| ([A-Z]+-\d+) \|", CONTROLS_DOC.read_text(encoding="utf-8"), re.M)


#: a drill pack whose scenarios carry ids of the bundled packs (core tests load no plugin)
DRILL_PACK = '''
from peaktrade_core.drills import LiveDrillScenario
from peaktrade_core.environment import LIVE_CONFIRM_TOKEN, TradingMode
from peaktrade_core.hookspecs import hookimpl

def braked(sid):
    return LiveDrillScenario(f"{sid} - braked", "gate 1 closed", "evidence-pack",
                             {"mode": TradingMode.LIVE, "confirm_token": LIVE_CONFIRM_TOKEN},
                             expected_is_live_execution_allowed=False, expected_reasons=("enable_live_trading=False",))

class Pack:
    @hookimpl
    def drill_scenarios(self):
        return [braked(sid) for sid in ("E", "I1", "I2", "I3")]

    @hookimpl
    def run_drill(self, scenario, context):
        return context.result(context.gate_report()) if scenario.pack == "evidence-pack" else None

plugin = Pack()
'''


@pytest.fixture
def shell(tmp_path):
    with LoopbackVenue() as venue:
        op = OperatorShell(tmp_path, venue)
        (op.site / "evidence_drills.py").write_text(DRILL_PACK)
        install_plugin(op.site, "evidencedrills", "evidence_drills:plugin")
        op.plugins = "loopback,evidencedrills"
        op.use_loopback_testnet()
        yield op


def _evidence(op: OperatorShell, *args: str) -> tuple[int, dict]:
    proc = op("evidence", "--json", *args)
    return proc.returncode, json.loads(proc.stdout)


def test_the_mapping_covers_exactly_the_controls_of_the_document():
    ids = _doc_ids()
    assert len(ids) == 28 and len(set(ids)) == len(ids)
    assert [c.id for c in CONTROLS] == ids


def test_the_document_is_the_shared_list_of_controls():
    if not SHARED.exists():
        pytest.skip("the shared design docs are not on this machine")
    assert CONTROLS_DOC.read_bytes() == SHARED.read_bytes()


def test_every_named_test_drill_and_config_key_exists():
    for control in CONTROLS:
        for ref in control.tests:
            path, _, name = ref.partition("::")
            text = (ROOT / path).read_text(encoding="utf-8")
            assert not name or f"def {name}(" in text, f"{control.id}: {ref} does not exist"
    packs = "".join((ROOT / "plugins" / f"peaktrade-drills-{p}" / f"peaktrade_drills_{p}" / "plugin.py").read_text()
                    for p in ("standard", "incident"))
    known = set(re.findall(r'"([A-Z]\d?) - ', packs))  # the bundled packs' scenario ids
    assert {d for c in CONTROLS for d in c.drills} <= known
    from peaktrade_core.config import load_config
    from peaktrade_core.state import StateStore

    collect(load_config(plugin_sections={}), StateStore(":memory:"))  # a mistyped key raises KeyError


@pytest.mark.slow
def test_after_an_operators_day_every_control_has_a_result_and_the_exercised_ones_passed(shell):
    assert shell("drills", "run").returncode == 0
    assert shell("health").returncode == 0
    assert shell("testnet", "run", "--profile", "smoke").returncode == 0
    code, data = _evidence(shell)
    assert code == 0, data
    by_id = {c["id"]: c for c in data["controls"]}
    assert list(by_id) == _doc_ids()  # every control of the document, in its order
    for control in by_id.values():
        assert control["result"] in (PASSED, "failed", NO_RECORD)
        assert control["result"] == NO_RECORD or control["date"], control
    for cid in ("PRE-1", "PRE-6", "AT-1", "AT-4", "KILL-1", "GOV-3", "GOV-4", "POST-3", "KILL-4", "AT-3"):
        assert by_id[cid]["result"] == PASSED, by_id[cid]
    assert by_id["PRE-3"]["config"]["live_risk.max_order_notional"] == 1000.0
    assert "drill E passed" in json.dumps(by_id["PRE-1"]["findings"])
    assert by_id["GOV-5"]["result"] == NO_RECORD and "not covered" in by_id["GOV-5"]["note"]
    text = shell("evidence").stdout
    for cid in _doc_ids():
        assert re.search(rf"^{re.escape(cid)} +(PASSED|FAILED|NO RECORD) ", text, re.M), cid


@pytest.mark.slow
def test_a_damaged_run_log_is_a_failed_control_and_exit_1(shell):
    assert shell("testnet", "run", "--profile", "smoke").returncode == 0
    with sqlite3.connect(shell.data / STATE_FILE) as db:
        db.execute("UPDATE runlog_records SET payload = replace(payload, 'BTC/EUR', 'ETH/EUR') WHERE payload LIKE '[\"orders\"%'")
    code, data = _evidence(shell)
    post3 = next(c for c in data["controls"] if c["id"] == "POST-3")
    assert code == 1 and post3["result"] == "failed" and "do not verify" in json.dumps(post3["findings"])


@pytest.mark.slow
def test_output_writes_the_report_to_a_file(shell):
    proc = shell("evidence", "--json", "--output", "evidence.json")
    assert proc.returncode == 0 and "wrote" in proc.stdout
    data = json.loads((shell.tmp_path / "evidence.json").read_text())
    assert [c["id"] for c in data["controls"]] == _doc_ids()
