"""`peaktrade runs list|show|verify` against a real run log in the data dir."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from click.testing import CliRunner

from peaktrade_core.cli import cli
from peaktrade_core.orders import OrderExecutionResult, OrderRequest, OrderStatus
from peaktrade_core.runlog import LiveRunLogger
from peaktrade_core.state import StateStore


@pytest.fixture
def data_dir():
    return os.environ["PEAK_TRADE_DATA_DIR"]


def record_run(data_dir: str, finish: bool = True) -> str:
    store = StateStore.in_dir(data_dir)
    log = LiveRunLogger(store)
    run_id = log.start_run(mode="paper", effective_mode="paper", strategy="ma_cross", operator="alice")
    log.record_batch(run_id, 0, {"mode": "paper"}, {"allowed": False})
    for i in range(4):
        order = OrderRequest("BTC/EUR", "buy", 1.0, reference_price=10.0 + i, source_ref=str(i))
        status = OrderStatus.RISK_BLOCKED if i % 2 else OrderStatus.ACCEPTED
        log.record_order(run_id, OrderExecutionResult(order, status, reasons=["max_open_positions: 3 > 2"] if i % 2 else []))
    log.commit()
    if finish:
        log.finish_run(run_id, "finished", {"orders": 4})
    store.close()
    return run_id


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_list_shows_every_run_with_its_status_and_orders(data_dir):
    first, second = record_run(data_dir), record_run(data_dir, finish=False)
    out = invoke("runs", "list")
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert lines[0].split()[:3] == ["RUN", "STATUS", "MODE"]
    assert lines[1].startswith(second) and " running " in lines[1]  # newest first
    assert lines[2].startswith(first) and " finished " in lines[2] and lines[2].endswith("4")
    listed = json.loads(invoke("runs", "list", "--json").output)
    assert [(r["run_id"], r["status"], r["orders"]) for r in listed] == [(second, "running", 4), (first, "finished", 4)]


def test_list_without_runs_says_so():
    out = invoke("runs", "list")
    assert out.exit_code == 0 and out.output.strip() == "no runs recorded yet"


def test_show_prints_the_summary_by_prefix_and_last(data_dir):
    run_id = record_run(data_dir)
    for ref in (run_id, run_id[:-2], "last"):
        out = invoke("runs", "show", ref)
        assert out.exit_code == 0, out.output
        assert f"run            {run_id}" in out.output
        assert "status         finished" in out.output
        assert "max_open_positions" in out.output and "heartbeat" in out.output


def test_show_json_and_follow_of_a_finished_run_returns_at_once(data_dir):
    run_id = record_run(data_dir)
    snap = json.loads(invoke("runs", "show", run_id, "--json").output)
    assert (snap["orders"], snap["risk_blocked"], snap["accepted"]) == (4, 2, 2)
    assert snap["blocks_by_reason"] == {"max_open_positions": 2}
    followed = invoke("runs", "show", run_id, "--follow")
    assert followed.exit_code == 0 and followed.output.count("run            ") == 1


def test_show_an_unknown_run_is_one_line_and_exit_2(data_dir):
    record_run(data_dir)
    out = CliRunner().invoke(cli, ["runs", "show", "nope"])
    assert out.exit_code == 2
    assert out.output.strip() == "RUN: no run matches 'nope' (see `peaktrade runs list`)"


def test_verify_ok_then_one_changed_byte_fails_naming_the_record(data_dir):
    run_id = record_run(data_dir)
    out = invoke("runs", "verify", run_id)
    assert out.exit_code == 0 and out.output.splitlines() == [
        f"{run_id}: OK, 4 records verified",
        "unkeyed: no [state] audit_key is configured, so an edit that recomputes the hash chain is not detected",
    ]

    conn = sqlite3.connect(os.path.join(data_dir, "peaktrade.sqlite3"))
    (payload,) = conn.execute("SELECT payload FROM runlog_records WHERE seq = 2").fetchone()
    conn.execute("UPDATE runlog_records SET payload = ? WHERE seq = 2", (payload.replace("max_open", "max_opem", 1),))
    conn.commit()
    conn.close()
    out = invoke("runs", "verify", "last")
    assert out.exit_code == 1
    assert out.output.splitlines()[0] == f"{run_id}: FAILED: record 2: changed or inserted out of chain (hash mismatch)"
