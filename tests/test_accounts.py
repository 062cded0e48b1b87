"""Paper/shadow accounts outlive a session: positions, average prices, cash and the day's
loss baseline continue in the state store (a real SQLite file), per account and mode."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from peaktrade_core.accounts import AccountStore
from peaktrade_core.cli import cli
from peaktrade_core.config import ExecutionConfig, PeakTradeConfig, load_config
from peaktrade_core.environment import EnvironmentConfig, TradingMode
from peaktrade_core.orders import OrderRequest
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.risk import LiveRiskConfig
from peaktrade_core.runlog import iter_run_events, list_runs
from peaktrade_core.state import StateStore
from peaktrade_core.testing import FillingExecutor, initialised_store

ROOT = Path(__file__).resolve().parents[1]
OFF = dict(max_orders_per_second=0, max_orders_per_minute=0, duplicate_window_seconds=0, runaway_max_executions=0)
DAY1 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC).timestamp()


def store() -> StateStore:
    return StateStore.in_dir(os.environ["PEAK_TRADE_DATA_DIR"])


def config(mode: str = "paper", account: str = "default", **limits) -> PeakTradeConfig:
    return PeakTradeConfig(
        environment=EnvironmentConfig(mode=TradingMode(mode)),
        live_risk=LiveRiskConfig(**{**OFF, **limits}),
        execution=ExecutionConfig(starting_cash=10_000.0, account=account),
    )


def session(cfg: PeakTradeConfig, orders: list[OrderRequest], clock: float = DAY1, **kwargs):
    s = store()
    p = ExecutionPipeline(cfg, store=s, executor=FillingExecutor(), clock=lambda: clock)
    summary = p.run(orders, **kwargs)
    s.close()
    return summary


def o(side="buy", qty=0.1, price=40_000.0, ref="r", symbol="BTC/EUR") -> OrderRequest:
    return OrderRequest(symbol, side, qty, reference_price=price, source_ref=ref)


def test_the_next_session_continues_positions_average_prices_and_cash():
    session(config(), [o(qty=0.1, price=40_000.0, ref="1")])
    summary = session(config(), [o(qty=0.1, price=42_000.0, ref="2")])
    assert summary.positions == {"BTC/EUR": pytest.approx(0.2)}
    assert summary.average_prices == {"BTC/EUR": pytest.approx(41_000.0)}
    assert summary.cash == pytest.approx(10_000 - 4_000 - 4_200)
    stored = AccountStore(store()).load("default", "paper")
    assert stored.run_id == summary.run_id and stored.portfolio.positions == {"BTC/EUR": pytest.approx(0.2)}


def test_the_daily_loss_of_an_earlier_session_today_still_counts():
    """Every session used to start at PnL 0, so a second session on a losing day passed."""
    limits = {"max_daily_loss_abs": 50.0}
    lost = session(config(**limits), [o(ref="1"), o(side="sell", price=39_000.0, ref="2")])
    assert lost.realized_pnl == pytest.approx(-100.0)
    later = session(config(**limits), [o(qty=0.01, ref="3")], clock=DAY1 + 3600)
    assert later.by_status == {"risk_blocked": 1}
    assert list(later.blocks_by_reason) == ["risk_blocked: max_daily_loss_abs"]
    tomorrow = session(config(**limits), [o(qty=0.01, ref="4")], clock=DAY1 + 86_400)
    assert tomorrow.by_status == {"filled": 1}  # a new day starts from its own baseline


def test_accounts_are_separate_per_name_and_per_mode():
    session(config(), [o(ref="1")])
    other = session(config(account="experiment"), [o(side="sell", qty=0.05, ref="2")])
    assert other.positions == {"BTC/EUR": pytest.approx(-0.05)}  # flat before: a short
    shadow = session(config(mode="shadow"), [o(side="sell", qty=0.02, ref="3")])
    assert shadow.positions == {"BTC/EUR": pytest.approx(-0.02)}
    assert AccountStore(store()).load("default", "paper").portfolio.positions == {"BTC/EUR": pytest.approx(0.1)}


def test_venue_modes_and_unrecorded_pipelines_keep_no_account():
    initialised_store().close()
    session(config(mode="testnet"), [o(ref="1")])
    s = store()
    ExecutionPipeline(config(), store=s, executor=FillingExecutor(), record=False).run([o(ref="2")])
    assert AccountStore(s).load("default", "testnet_dry_run") is None
    assert AccountStore(s).load("default", "paper") is None


def test_fresh_account_starts_over_and_the_run_log_says_what_it_discarded():
    first = session(config(), [o(ref="1")])
    fresh = session(config(), [o(side="sell", qty=0.05, ref="2")], fresh_account=True)
    assert fresh.fresh_account and fresh.positions == {"BTC/EUR": pytest.approx(-0.05)}
    [event] = [e.extra for e in iter_run_events(store(), fresh.run_id) if e.kind == "account"]
    assert event["fresh"] is True and event["last_written_by_run"] == first.run_id
    assert event["discarded"]["positions"] == {"BTC/EUR": pytest.approx(0.1)}
    assert event["start"] == {"cash": 10_000.0, "positions": {}, "realized_pnl": 0.0}


def _filling(monkeypatch):
    import peaktrade_core.cli_session as cli_session

    original = cli_session._make_pipeline
    monkeypatch.setattr(cli_session, "_make_pipeline", lambda env, record=True, executor=None: original(env, record=record, executor=executor or FillingExecutor()))


def test_a_damaged_account_refuses_the_session_in_one_line_and_fresh_account_recovers(tmp_path, monkeypatch):
    _filling(monkeypatch)
    session(config(), [o(ref="1")])
    s = store()
    with s.transaction() as conn:
        conn.execute("UPDATE accounts SET state = json_set(state, '$.cash', 'lots')")
    s.close()
    orders = tmp_path / "orders.csv"
    orders.write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\n")

    refused = CliRunner().invoke(cli, ["session", "run", "--orders", str(orders)])
    assert refused.exit_code == 2
    [line] = refused.output.strip().splitlines()
    assert "account 'default' (paper)" in line and "cash = 'lots' is not a finite number" in line and "--fresh-account" in line
    assert len(list_runs(store())) == 1  # nothing ran

    recovered = CliRunner().invoke(cli, ["session", "run", "--orders", str(orders), "--fresh-account", "--json"])
    assert recovered.exit_code == 0, recovered.output
    assert json.loads(recovered.stdout)["positions"] == {"BTC/EUR": 0.01}


def test_account_is_a_config_key_with_a_default_and_refuses_an_empty_name(tmp_path):
    assert load_config(None).execution.account == "default"
    bad = tmp_path / "bad.toml"
    bad.write_text('[execution]\naccount = " "\n')
    result = CliRunner().invoke(cli, ["--config", str(bad), "config", "validate"])
    assert result.exit_code == 2 and "account" in result.output


def test_the_documented_exit_codes_are_the_ones_session_run_uses():
    from peaktrade_core import cli_session

    text = (ROOT / "docs" / "operators.md").read_text()
    section = text[text.index("### `session run` exit codes and signals") :]
    documented = {int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", section, flags=re.M)}
    assert "kill switch engaged during the run" in documented[cli_session.EXIT_KILL_SWITCH]
    assert "ended in `error`" in documented[cli_session.EXIT_ORDER_ERROR]
    assert "SIGINT" in documented[cli_session.EXIT_SIGNAL["SIGINT"]] and "SIGTERM" in documented[cli_session.EXIT_SIGNAL["SIGTERM"]]
    from peaktrade_core.cli import EXIT_OUTPUT_ERROR

    assert "output could not be written" in documented[EXIT_OUTPUT_ERROR]
    summary = {"status": "finished", "by_status": {"error": 1, "filled": 2}, "kill_switch_engaged_during_run": True}
    assert cli_session.session_exit_code(summary) == 3  # the kill switch wins over errors
    assert cli_session.session_exit_code({**summary, "status": "interrupted", "interrupted_by": "SIGTERM"}) == 143


def test_a_session_stop_request_finishes_the_batch_in_hand_and_marks_the_run_interrupted():
    """What SIGTERM/SIGINT do (the signal handler only sets ``stop_requested``): a request
    arriving while a batch executes lets that batch finish, then no other batch starts."""
    s = store()
    cfg = PeakTradeConfig(live_risk=LiveRiskConfig(**OFF), execution=ExecutionConfig(batch_size=3))

    class SignalledMidBatch(FillingExecutor):
        def execute_orders(self, orders):
            pipeline.stop_requested = "SIGTERM"
            return super().execute_orders(orders)

    pipeline = ExecutionPipeline(cfg, store=s, executor=SignalledMidBatch())
    summary = pipeline.run(o(qty=0.001, ref=str(i)) for i in range(100))
    assert (summary.status, summary.interrupted_by, summary.orders, summary.by_status) == ("interrupted", "SIGTERM", 3, {"filled": 3})
    [run] = list_runs(s)
    assert run.status == "interrupted" and run.summary["orders"] == 3
    assert AccountStore(s).load("default", "paper").portfolio.positions == {"BTC/EUR": pytest.approx(0.003)}


@pytest.mark.parametrize("durability", ["batch", "group", "order"])
def test_after_every_batch_the_stored_account_is_the_one_of_the_batches_in_the_log(durability):
    """The account is written in the run log's commit transaction: whatever a crash leaves,
    the stored account holds exactly the fills of the orders the log holds."""
    from peaktrade_core.runlog import load_run_snapshot

    s = store()
    cfg = PeakTradeConfig(live_risk=LiveRiskConfig(**OFF), execution=ExecutionConfig(batch_size=2, durability=durability, starting_cash=10_000.0))
    pipeline = ExecutionPipeline(cfg, store=s, executor=FillingExecutor())
    seen = []

    def after_batch(_n: int) -> None:  # what another process would read now
        pipeline.runlog.flush()  # durability group: what is sealed, written now
        reader = StateStore.in_dir(os.environ["PEAK_TRADE_DATA_DIR"])
        logged = load_run_snapshot(reader, pipeline.run_id).orders
        seen.append((logged, AccountStore(reader).load("default", "paper").portfolio.positions))
        reader.close()

    pipeline.run((o(qty=0.001, ref=str(i)) for i in range(6)), progress=after_batch)
    assert [(n, p.get("BTC/EUR")) for n, p in seen] == [(n, pytest.approx(n * 0.001)) for n in (2, 4, 6)]
    s.close()


def test_a_statement_taken_at_a_commit_stores_the_account_as_it_was_then():
    """The ``group`` run log encodes a commit's account statement later, while the session
    goes on changing the account: the statement holds every field as it was at the commit."""
    from peaktrade_core.risk import PortfolioState

    s = store()
    accounts = AccountStore(s)
    portfolio = PortfolioState(cash=10_000.0)
    portfolio.apply_fill("BTC/EUR", 0.5, 40_000.0, 2.0)
    accounts.save("then", "paper", portfolio, "run-1")
    statement = accounts.statement_later("later", "paper", portfolio, "run-1")
    portfolio.apply_fill("BTC/EUR", 0.25, 42_000.0, 1.0)
    portfolio.apply_fill("ETH/EUR", 1.0, 2_000.0, 0.5)
    with s.transaction() as conn:
        conn.execute(*statement())
    then, later = accounts.load("then", "paper").portfolio, accounts.load("later", "paper").portfolio
    assert later == then
    assert later.positions == {"BTC/EUR": 0.5} and later.cash == pytest.approx(10_000.0 - 20_002.0)
    s.close()
