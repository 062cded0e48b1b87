"""`peaktrade session run` and `orders preview` on orders files: bad rows are one line each
and nothing executes; `--skip-invalid` runs the rest and records what it skipped."""

from __future__ import annotations

import json

from click.testing import CliRunner

from peaktrade_core.cli import cli
from peaktrade_core.runlog import iter_run_events, list_runs
from peaktrade_core.state import StateStore
from peaktrade_core.testing import FillingExecutor

ROWS = "symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\nBTC/EUR,buy,-1,40000\nETH/EUR,hold,1,2000\nETH/EUR,sell,0.1,2000\n"


def test_a_bad_orders_file_names_every_bad_row_and_executes_nothing(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(ROWS)
    result = CliRunner().invoke(cli, ["session", "run", "--orders", str(orders)])
    assert result.exit_code == 2
    assert "orders.csv:3: quantity: must be > 0, got -1" in result.output
    assert "orders.csv:4: side: expected one of buy, sell, got 'hold'" in result.output
    assert "nothing was executed" in result.output
    db = tmp_path / "data" / "peaktrade.sqlite3"
    assert not db.exists() or list_runs(StateStore(db)) == []  # no session was started


def test_skip_invalid_runs_the_valid_rows_and_records_the_skipped_ones(tmp_path, monkeypatch):
    import peaktrade_core.cli_session as session

    monkeypatch.setattr(session, "_make_pipeline", _filling_pipeline(session._make_pipeline))
    orders = tmp_path / "orders.jsonl"
    orders.write_text('{"symbol": "BTC/EUR", "side": "buy", "quantity": 0.01, "reference_price": 40000}\n{"symbol": "BTC/EUR", "side": "buy"}\nnot json\n')
    result = CliRunner().invoke(cli, ["session", "run", "--orders", str(orders), "--skip-invalid", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # stderr: the new-state-store notice
    assert summary["by_status"] == {"filled": 1}
    assert summary["skipped_rows"] == ["orders.jsonl:2: quantity: missing", "orders.jsonl:3: invalid JSON: Expecting value"]
    store = StateStore(tmp_path / "data" / "peaktrade.sqlite3")
    events = [e for e in iter_run_events(store, summary["run_id"]) if e.kind == "skipped_rows"]
    assert events and events[0].extra["rows"] == summary["skipped_rows"]


def _filling_pipeline(original):
    def make(env, record=True, executor=None):
        return original(env, record=record, executor=executor or FillingExecutor())

    return make
