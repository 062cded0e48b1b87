"""`peaktrade risk history` and `peaktrade portfolio [history]` against a real state file,
filled by real pipeline sessions."""

from __future__ import annotations

import json
import os
import time

import pytest
from click.testing import CliRunner

from peaktrade_core.cli import cli
from peaktrade_core.config import load_config
from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderRequest, OrderStatus
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.risk import RiskViolation
from peaktrade_core.riskrecords import RiskRecords
from peaktrade_core.state import StateStore
from peaktrade_core.testing import initialised_store

CONTROLS_OFF = """
max_orders_per_second = 0
max_orders_per_minute = 0
duplicate_window_seconds = 0
runaway_max_executions = 0
"""


class Filler:
    """Fills every order at its reference price."""

    name, sends_real_orders = "filler", False

    def execute_orders(self, orders):
        return [
            OrderExecutionResult(o, OrderStatus.FILLED, fills=[OrderFill(o.client_order_id, o.symbol, o.side, o.quantity, o.price)])
            for o in orders
        ]

    def cancel_order(self, client_order_id):
        return False


#: the documented defaults apply to every key a file leaves out: these tests lift them
WIDE_LIMITS = {
    "max_order_notional": 1e9,
    "max_total_exposure_notional": 1e9,
    "max_symbol_exposure_notional": 1e9,
    "max_open_positions": 1000,
    "max_daily_loss_abs": 1e9,
    "max_daily_loss_pct": 100.0,
}


def write_config(path, live_risk: str = "", starting_cash: float = 100_000.0) -> str:
    wide = "".join(f"{k} = {v}\n" for k, v in WIDE_LIMITS.items() if f"{k} =" not in live_risk)
    path.write_text(f"[live_risk]\n{CONTROLS_OFF}{wide}{live_risk}\n[execution]\nstarting_cash = {starting_cash}\n")
    return str(path)


def session(config_path: str, orders: list[OrderRequest]) -> str:
    store = StateStore.in_dir(os.environ["PEAK_TRADE_DATA_DIR"])
    summary = ExecutionPipeline(load_config(config_path), store=store, executor=Filler()).run(orders)
    store.close()
    return summary.run_id


def order(symbol="BTC/EUR", side="buy", qty=0.01, price=40_000.0, ref="row") -> OrderRequest:
    return OrderRequest(symbol, side, qty, reference_price=price, source_ref=ref)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def records_json(*args: str) -> list[dict]:
    out = invoke(*args, "--json")
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


# -- risk history ---------------------------------------------------------------------------


def test_risk_history_lists_each_block_of_a_session_with_run_code_limit_and_value(tmp_path):
    config = write_config(tmp_path / "tight.toml", 'max_order_notional = 300.0\nmax_order_quantity = { "ETH/EUR" = 0.5 }\n')
    big, heavy = order(ref="big"), order("ETH/EUR", qty=1.0, price=100.0, ref="heavy")
    run_id = session(config, [order(qty=0.001, ref="ok"), big, heavy])

    rows = records_json("risk", "history")
    assert sorted((r["code"], r["client_order_id"], r["limit"], r["value"], r["run_id"], r["blocked"]) for r in rows) == [
        ("max_order_notional", big.client_order_id, 300.0, 400.0, run_id, True),
        ("max_order_quantity", heavy.client_order_id, 0.5, 1.0, run_id, True),
    ]
    only = records_json("risk", "history", "--code", "max_order_quantity")
    assert [r["symbol"] for r in only] == ["ETH/EUR"]

    text = invoke("risk", "history").output
    assert f"BLOCKED  run {run_id}  batch 0  {big.client_order_id}  BTC/EUR" in text
    assert "max_order_notional: order notional 400.00 > limit 300.00" in text


def test_risk_history_since_a_duration_or_an_iso_time():
    records = RiskRecords(StateStore.in_dir(os.environ["PEAK_TRADE_DATA_DIR"]), clock=lambda: time.time() - 7200)
    violation = RiskViolation("max_order_notional", "max_order_notional: old", 0, "BTC/EUR", 1.0, 2.0)
    records.record_violations("old-run", 0, [order()], [violation], blocked=True)
    records.clock = time.time
    records.record_violations("new-run", 0, [order()], [violation], blocked=True)

    assert [r["run_id"] for r in records_json("risk", "history", "--since", "1h")] == ["new-run"]
    assert [r["run_id"] for r in records_json("risk", "history", "--since", "3h")] == ["new-run", "old-run"]
    assert records_json("risk", "history", "--since", "2999-01-01T00:00:00") == []


def test_risk_history_without_records_says_so():
    out = invoke("risk", "history", "--code", "max_order_notional")
    assert out.exit_code == 0 and out.output.strip() == "no risk violations recorded with code max_order_notional"


def test_risk_history_rejects_a_bad_since_in_one_line():
    out = CliRunner().invoke(cli, ["risk", "history", "--since", "yesterday"])
    assert out.exit_code == 2
    assert out.output.strip().splitlines() == ["--since: expected an ISO date/time or a duration such as 30m, 1h, 2d; got 'yesterday'"]


# -- portfolio --------------------------------------------------------------------------------


def test_portfolio_without_a_run_is_empty_with_the_starting_cash(tmp_path):
    data = records_json("portfolio", "--starting-cash", "2500")
    assert data["run_id"] is None
    snapshot = data["snapshot"]
    assert (snapshot["cash"], snapshot["equity"], snapshot["positions"], snapshot["source"]) == (2500.0, 2500.0, [], "empty")
    assert data["risk"] == {"allowed": True, "violations": []}
    # the portfolio's own --config wins over the global one (and over the defaults)
    small = write_config(tmp_path / "small.toml", starting_cash=5000.0)
    assert records_json("--config", "nowhere.toml", "portfolio", "--config", small)["snapshot"]["cash"] == 5000.0
    assert "no run recorded yet (empty portfolio)" in invoke("portfolio").output


def test_portfolio_shows_the_account_that_sessions_continue(tmp_path):
    config = write_config(tmp_path / "c.toml", starting_cash=10_000.0)
    session(config, [order("ETH/EUR", qty=1.0, price=2_000.0)])  # an earlier session: kept
    run_id = session(config, [order(qty=0.1, ref="1"), order(side="sell", qty=0.1, price=39_000.0, ref="2"), order(side="sell", qty=0.05, price=39_000.0, ref="3")])

    data = records_json("portfolio", "--config", config)
    snap = data["snapshot"]
    assert data["run_id"] == run_id and snap["source"] == "account:default:paper"
    assert data["account"]["name"] == "default" and data["account"]["mode"] == "paper"
    assert [(p["symbol"], p["side"], p["size"], p["mark_price"]) for p in snap["positions"]] == [
        ("BTC/EUR", "short", -0.05, 39_000.0),
        ("ETH/EUR", "long", 1.0, 2_000.0),
    ]
    assert snap["total_exposure"] == pytest.approx(3_950.0)
    assert snap["realized_pnl"] == pytest.approx(-100.0)
    assert snap["daily_pnl"] == pytest.approx(-100.0)  # both sessions ran today
    assert snap["equity"] == pytest.approx(9_900.0)
    assert snap["cash"] == pytest.approx(9_850.0)  # 10,000 - 2,000 - 4,000 + 3,900 + 1,950

    text = invoke("portfolio", "--config", config).output
    assert f"portfolio of account default (paper), as run {run_id} left it" in text
    assert "BTC/EUR  short  -0.05  39,000.00  1,950.00" in text
    assert "risk: within every portfolio limit" in text


def test_portfolio_checks_the_portfolio_limits_unless_no_risk(tmp_path):
    run_config = write_config(tmp_path / "run.toml")
    session(run_config, [order(qty=0.1, ref="1"), order(side="sell", qty=0.05, price=38_000.0, ref="2")])
    tight = write_config(tmp_path / "tight.toml", "max_symbol_exposure_notional = 1000.0\nmax_daily_loss_abs = 50.0\n")

    risk = records_json("portfolio", "--config", tight)["risk"]
    assert risk["allowed"] is False
    found = {v["code"]: (v["symbol"], v["limit"], v["value"]) for v in risk["violations"]}
    assert found["max_symbol_exposure_notional"] == ("BTC/EUR", 1000.0, pytest.approx(1_900.0))
    assert found["max_daily_loss_abs"] == (None, 50.0, pytest.approx(200.0))  # 100 realized + 100 unrealized

    text = invoke("portfolio", "--config", tight).output
    assert "risk: 2 violation(s), BLOCKING" in text
    assert "BTC/EUR exposure 1900.00 > limit 1000.00" in text
    assert records_json("portfolio", "--config", tight, "--no-risk")["risk"] is None
    assert "risk: not checked (--no-risk)" in invoke("portfolio", "--config", tight, "--no-risk").output


def test_portfolio_record_builds_the_history(tmp_path):
    config = write_config(tmp_path / "c.toml")
    assert "no portfolio snapshots recorded" in invoke("portfolio", "history").output
    assert records_json("portfolio", "--record")["recorded"] is True  # before any run
    run_id = session(config, [order(qty=0.02)])
    assert "recorded in the portfolio history" in invoke("portfolio", "--config", config, "--record").output

    latest, first = records_json("portfolio", "history")
    assert (first["source"], first["run_id"], first["open_positions"]) == ("empty", None, 0)
    assert (latest["source"], latest["run_id"], latest["total_exposure"]) == ("account:default:paper", run_id, 800.0)
    assert latest["positions"] == [{"symbol": "BTC/EUR", "size": 0.02, "mark_price": 40_000.0, "average_price": 40_000.0}]
    assert len(records_json("portfolio", "history", "--limit", "1")) == 1

    misplaced = CliRunner().invoke(cli, ["portfolio", "--json", "history"])
    assert misplaced.exit_code == 2 and "give `history` its own options after its name" in misplaced.output

    lines = invoke("portfolio", "history").output.splitlines()
    assert lines[0].split()[:3] == ["TIME", "SOURCE", "EQUITY"] and "account:default:paper" in lines[1]


def test_portfolio_with_a_missing_config_fails_in_one_line():
    out = CliRunner().invoke(cli, ["portfolio", "--config", "missing.toml"])
    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1 and "missing.toml" in out.output


def test_portfolio_of_a_venue_mode_is_the_last_finished_run_and_skips_a_newer_one(tmp_path):
    """Venue modes keep no account here (the venue holds the positions): the last run's
    final state, as before."""
    from peaktrade_core.runlog import LiveRunLogger

    testnet = tmp_path / "testnet.toml"
    testnet.write_text(f"[environment]\nmode = \"testnet\"\n[live_risk]\n{CONTROLS_OFF}")
    store = initialised_store()
    finished = ExecutionPipeline(load_config(testnet), store=store, executor=Filler()).run([order(qty=0.02)]).run_id
    running = LiveRunLogger(store).start_run(mode="testnet", effective_mode="testnet_dry_run")
    store.close()

    data = records_json("portfolio", "--config", str(testnet))
    assert data["run_id"] == finished and data["snapshot"]["total_exposure"] == 800.0 and data["account"] is None
    assert data["note"] == f"the newest run {running} (running) has no final state; it is not included"
    assert invoke("portfolio", "--config", str(testnet)).output.splitlines()[-1].startswith(f"note: the newest run {running}")


def test_a_session_that_fails_midway_keeps_its_committed_batches_in_the_account(tmp_path):
    config = write_config(tmp_path / "c.toml")
    (tmp_path / "c.toml").write_text((tmp_path / "c.toml").read_text() + "batch_size = 1\n")
    store = StateStore.in_dir(os.environ["PEAK_TRADE_DATA_DIR"])
    pipeline = ExecutionPipeline(load_config(config), store=store, executor=Filler())

    def crash_after_first_batch(_n):
        raise RuntimeError("the strategy process died")

    with pytest.raises(RuntimeError):
        pipeline.run([order(qty=0.02, ref="1"), order(qty=0.03, ref="2")], progress=crash_after_first_batch)
    store.close()
    snap = records_json("portfolio", "--config", config)["snapshot"]
    assert [(p["symbol"], p["size"]) for p in snap["positions"]] == [("BTC/EUR", 0.02)]


def test_portfolio_never_says_within_limits_when_a_number_is_not_finite(tmp_path):
    """Accounts refuse non-finite numbers now, but a run recorded before (NaN cash from a
    1e308 fill) must not read as healthy, and --json must stay valid JSON."""
    from peaktrade_core.runlog import LiveRunLogger

    testnet = tmp_path / "testnet.toml"
    testnet.write_text('[environment]\nmode = "testnet"\n')
    store = StateStore.in_dir(os.environ["PEAK_TRADE_DATA_DIR"])
    log = LiveRunLogger(store)
    run_id = log.start_run(mode="testnet", effective_mode="testnet_dry_run")
    inf, nan = float("inf"), float("nan")
    log.finish_run(run_id, "finished", {"positions": {"BTC/EUR": 1e308}, "marks": {"BTC/EUR": 50_000.0}, "average_prices": {"BTC/EUR": 50_000.0},
                                        "exposure_by_symbol": {"BTC/EUR": inf}, "cash": -inf, "starting_cash": 100_000.0, "realized_pnl": nan, "unrealized_pnl": 0.0})
    store.close()

    out = invoke("portfolio", "--config", str(testnet))
    assert "within every portfolio limit" not in out.output
    assert "non_finite_number: not finite: cash = -inf" in out.output and "BLOCKING" in out.output
    as_json = CliRunner().invoke(cli, ["portfolio", "--config", str(testnet), "--json"])
    assert as_json.exit_code == 1 and "NaN" not in as_json.stdout and "Infinity" not in as_json.stdout
    [line] = as_json.output.strip().splitlines()
    assert line.startswith("error: refusing to print invalid JSON: Out of range float values are not JSON compliant")
