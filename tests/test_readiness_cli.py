"""``peaktrade readiness`` from the records an operator's day leaves: a drill run, a health
check with an alert delivered, a loopback testnet session — every step a subprocess on a
real state store, with a drill pack and the loopback venue installed as entry points."""

from __future__ import annotations

import json
import sqlite3

import pytest

from peaktrade_core.alerts import AlertEvent, AlertHistory, AlertLevel
from peaktrade_core.runlog import iter_run_events
from peaktrade_core.state import StateStore
from peaktrade_core.testing import (
    ROUND_TRIP_ORDERS,
    OperatorShell,
    install_plugin,
)
from peaktrade_core.testing.loopback import LoopbackVenue

pytestmark = pytest.mark.slow

DRILL_PACK = '''
from peaktrade_core.drills import LiveDrillScenario
from peaktrade_core.environment import LIVE_CONFIRM_TOKEN, TradingMode
from peaktrade_core.hookspecs import hookimpl

BRAKED = LiveDrillScenario("A - braked", "gate 1 closed", "day-pack",
                           {"mode": TradingMode.LIVE, "confirm_token": LIVE_CONFIRM_TOKEN},
                           expected_is_live_execution_allowed=False, expected_reasons=("enable_live_trading=False",))

class Pack:
    @hookimpl
    def drill_scenarios(self):
        return [BRAKED]

    @hookimpl
    def run_drill(self, scenario, context):
        return context.result(context.gate_report()) if scenario.pack == "day-pack" else None

plugin = Pack()
'''
LENIENT = ("--min-sessions", "1", "--min-hours", "0")


@pytest.fixture
def operator(tmp_path):
    with LoopbackVenue() as venue:
        op = OperatorShell(tmp_path, venue)
        (op.site / "day_drills.py").write_text(DRILL_PACK)
        install_plugin(op.site, "daydrills", "day_drills:plugin")
        op.plugins = "loopback,daydrills"
        yield op


def _items(op: OperatorShell, *args: str) -> tuple[int, dict]:
    proc = op("readiness", "--json", *args)
    return proc.returncode, json.loads(proc.stdout)


def _operators_day(op: OperatorShell) -> None:
    op.use_loopback_testnet()
    assert op("drills", "run").returncode == 0
    assert op("health", "--alert-test").returncode == 0
    (op.tmp_path / "orders.csv").write_text(ROUND_TRIP_ORDERS)
    assert op("session", "run", "--orders", "orders.csv").returncode == 0


def test_a_fresh_install_is_at_stage_0_and_cannot_sign_without_evidence(operator):
    code, data = _items(operator)
    assert code == 1
    assert (data["current_stage"], data["stage"], data["measurable_met"]) == (0, 1, False)
    open_keys = [i["key"] for i in data["items"] if i["measurable"] and not i["met"]]
    assert open_keys == ["state_initialised", "drills_passed", "health_passed"]  # limits: the default risk profile
    refused = operator("readiness", "sign-off", "--stage", "1", "--reason", "looks fine")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"refused: stage 1 item state_initialised is not met: state store {operator.data / 'peaktrade.sqlite3'} was never initialised"
        " (new, or lost with its directory): `peaktrade state init --reason ...` (+2 more)"
    ]
    with sqlite3.connect(operator.data / "peaktrade.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM readiness_signoffs").fetchone() == (0,)


def test_after_a_drill_run_and_a_testnet_session_stage_2_is_met_and_signed(operator):
    _operators_day(operator)
    code, data = _items(operator, "--stage", "2", *LENIENT)
    assert code == 0, data
    measurable = {i["key"]: i for i in data["items"] if i["measurable"]}
    assert set(measurable) == {"state_initialised", "limits_set", "drills_passed", "health_passed", "alert_delivered", "testnet_sessions"}
    assert all(i["met"] for i in measurable.values())
    assert "1 clean testnet session(s)" in measurable["testnet_sessions"]["detail"]
    assert "delivered to log" in measurable["alert_delivered"]["detail"]
    manual = [i for i in data["items"] if not i["measurable"]]
    assert manual and not any(i["met"] for i in manual)  # open until people sign
    text = operator("readiness", "--stage", "2", *LENIENT).stdout
    assert "[manual] order frequencies of the testnet shadow sessions reviewed" in text

    # stages are entered in order, each sign-off recorded with who, when and why
    skipped = operator("readiness", "sign-off", "--stage", "2", "--reason", "testnet ok", *LENIENT)
    assert skipped.returncode == 2 and "stage 2 needs stage 1 (testnet shadow) signed off first" in skipped.stderr
    for stage in ("1", "2"):
        signed = operator("readiness", "sign-off", "--stage", stage, "--reason", f"reviewed for stage {stage}",
                          "--operator", "alice", *LENIENT)
        assert signed.returncode == 0, signed.stderr
        assert signed.stdout.startswith(f"stage {stage} (") and "signed by alice" in signed.stdout
    status = json.loads(operator("status", "--json").stdout)
    assert status["readiness"]["stage"] == 2 and status["readiness"]["signed_by"] == "alice"
    assert "  stage 2 (testnet), signed by alice at " in operator("status").stdout
    _, data = _items(operator)
    assert data["current_stage"] == 2 and [s["reason"] for s in data["signoffs"]] == ["reviewed for stage 1", "reviewed for stage 2"]


def test_a_session_with_a_critical_alert_does_not_count(operator):
    _operators_day(operator)
    store = StateStore.in_dir(operator.data)
    run_id = store.query("SELECT run_id FROM runlog_runs ORDER BY rid DESC LIMIT 1")[0]["run_id"]
    AlertHistory(store).record([AlertEvent(AlertLevel.CRITICAL, "pipeline", "venue_unknown_outcome", "order state unknown",
                                           {"run_id": run_id})], ["log"])
    store.close()
    code, data = _items(operator, "--stage", "2", *LENIENT)
    assert code == 1
    sessions = next(i for i in data["items"] if i["key"] == "testnet_sessions")
    assert not sessions["met"] and f"{run_id} had a CRITICAL alert" in sessions["detail"]


def test_a_damaged_run_does_not_count_either(operator):
    _operators_day(operator)
    with sqlite3.connect(operator.data / "peaktrade.sqlite3") as db:
        db.execute("UPDATE runlog_records SET payload = replace(payload, 'BTC/EUR', 'ETH/EUR') WHERE payload LIKE '[\"orders\"%'")
    code, data = _items(operator, "--stage", "2", *LENIENT)
    sessions = next(i for i in data["items"] if i["key"] == "testnet_sessions")
    assert code == 1 and "does not verify" in sessions["detail"]


def test_a_venue_secret_pasted_into_a_sign_off_or_cancel_all_reason_is_recorded_as_stars(operator):
    """Must show: the reason and the operator of `readiness sign-off` and of `exchange
    cancel-all` are shown, recorded (sign-offs, run log) and logged with the venue's secret
    as ``***``; no byte of the data dir or the log file holds it (the shell checks every
    output too)."""
    _operators_day(operator)
    secret = operator.venue.api_secret
    log = operator.tmp_path / "peaktrade.log"
    signed = operator("--log-file", str(log), "readiness", "sign-off", "--stage", "1", "--reason", f"checked key {secret} rotates",
                      "--operator", f"alice {secret}", *LENIENT)
    assert signed.returncode == 0, signed.stderr
    cancelled = operator("--log-file", str(log), "exchange", "cancel-all", "--reason", f"pasted {secret}", "--operator", f"{secret}bob", "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert (json.loads(cancelled.stdout)["reason"], json.loads(cancelled.stdout)["operator"]) == ("pasted ***", "***bob")
    _, data = _items(operator)
    assert [(s["operator"], s["reason"]) for s in data["signoffs"]] == [("alice ***", "checked key *** rotates")]
    store = StateStore.in_dir(operator.data)
    try:
        events = list(iter_run_events(store, json.loads(cancelled.stdout)["run_id"]))
    finally:
        store.close()
    assert [e.extra["reason"] for e in events if e.kind == "cancel_all"] == ["pasted ***"]
    files = [p for p in operator.data.rglob("*") if p.is_file()] + [log]
    for path in files:
        assert secret.encode() not in path.read_bytes(), path
