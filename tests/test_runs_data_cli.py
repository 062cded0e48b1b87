"""``peaktrade runs orders | export | verify --all``: run data out, from a loopback testnet
session recorded by a real ``peaktrade`` process."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest

from peaktrade_core.state import STATE_FILE
from peaktrade_core.testing import ROUND_TRIP_ORDERS, OperatorShell
from peaktrade_core.testing.loopback import LoopbackVenue

pytestmark = pytest.mark.slow

#: the round trip, then an order over max_order_notional (1000): blocked by risk
ORDERS = ROUND_TRIP_ORDERS + "BTC/EUR,buy,1,40000\n"


@pytest.fixture
def shell(tmp_path):
    with LoopbackVenue() as venue:
        op = OperatorShell(tmp_path, venue)
        op.use_loopback_testnet()
        (tmp_path / "orders.csv").write_text(ORDERS)
        proc = op("session", "run", "--orders", "orders.csv", "--json")
        assert proc.returncode == 0, proc.stderr
        op.run_id = json.loads(proc.stdout)["run_id"]
        yield op


def test_orders_lists_every_order_newest_first_with_filters(shell):
    rows = json.loads(shell("runs", "orders", shell.run_id, "--json").stdout)
    assert [(r["side"], r["quantity"], r["status"]) for r in rows] == [
        ("buy", 1.0, "risk_blocked"), ("sell", 0.01, "filled"), ("buy", 0.01, "filled")]
    assert rows[0]["reasons"] and "max_order_notional" in rows[0]["reasons"][0]
    assert rows[2]["filled_quantity"] == pytest.approx(0.01) and rows[2]["fill_price"] > 0
    filled = json.loads(shell("runs", "orders", "--status", "filled", "--side", "sell", "--json").stdout)
    assert [r["side"] for r in filled] == ["sell"]
    assert json.loads(shell("runs", "orders", "--limit", "1", "--json").stdout)[0]["status"] == "risk_blocked"
    text = shell("runs", "orders", "--symbol", "ETH/EUR")
    assert text.returncode == 0 and text.stdout.strip() == "no orders match"
    assert "risk_blocked" in shell("runs", "orders").stdout


def test_export_csv_and_jsonl_carry_every_order_oldest_first(shell):
    proc = shell("runs", "export", shell.run_id, "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    table = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [(r["side"], r["status"]) for r in table] == [("buy", "filled"), ("sell", "filled"), ("buy", "risk_blocked")]
    assert float(table[0]["filled_quantity"]) == pytest.approx(0.01) and "max_order_notional" in table[2]["reasons"]
    proc = shell("runs", "export", "last", "--format", "jsonl", "--status", "filled", "--output", "out.jsonl")
    assert proc.returncode == 0 and "wrote 2 orders" in proc.stderr
    lines = (shell.tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(line)["side"] for line in lines] == ["buy", "sell"]


def test_export_needs_a_format_and_an_unknown_run_is_one_line(shell):
    assert shell("runs", "export", "last").returncode == 2
    proc = shell("runs", "export", "nope", "--format", "csv")
    assert proc.returncode == 2 and proc.stderr.startswith("RUN:") and proc.stderr.count("\n") == 1


def test_verify_all_checks_every_run_and_names_the_damaged_one(shell):
    assert shell("session", "run", "--orders", "orders.csv").returncode == 0
    ok = shell("runs", "verify", "--all")
    assert ok.returncode == 0 and "2 runs: 2 OK, 0 FAILED" in ok.stdout
    with sqlite3.connect(shell.data / STATE_FILE) as db:
        rid = db.execute("SELECT rid FROM runlog_runs WHERE run_id = ?", (shell.run_id,)).fetchone()[0]
        db.execute("UPDATE runlog_records SET payload = replace(payload, 'BTC/EUR', 'ETH/EUR') "
                   "WHERE rid = ? AND payload LIKE '[\"orders\"%'", (rid,))
    bad = shell("runs", "verify", "--all", "--json")
    assert bad.returncode == 1
    results = {r["run_id"]: r["ok"] for r in json.loads(bad.stdout)}
    assert results[shell.run_id] is False and list(results.values()).count(True) == 1
    assert f"{shell.run_id}: FAILED" in shell("runs", "verify", "--all").stdout
    assert shell("runs", "verify", shell.run_id, "--all").returncode == 2
