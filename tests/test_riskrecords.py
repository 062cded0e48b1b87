"""Risk records (RISK-3/4, PORT-3): every violation is stored with its run, order, limit and
value in a real SQLite file; portfolio snapshots form a time series."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core.config import PeakTradeConfig
from peaktrade_core.orders import OrderRequest
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.portfolio import LivePortfolioMonitor
from peaktrade_core.risk import (
    ALWAYS_BLOCKING,
    LiveRiskConfig,
    PortfolioState,
    RiskViolation,
    ViolationCode,
)
from peaktrade_core.riskrecords import RiskRecords
from peaktrade_core.state import StateStore
from peaktrade_core.testing import FillingExecutor

OFF = dict(max_orders_per_second=0, max_orders_per_minute=0, duplicate_window_seconds=0, runaway_max_executions=0, price_collar_pct=0)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


Filler = FillingExecutor


def order(symbol="BTC/EUR", qty=0.01, price=40_000.0, ref="row") -> OrderRequest:
    return OrderRequest(symbol, "buy", qty, reference_price=price, source_ref=ref)


def notional_violation(index: int, value: float = 400.0) -> RiskViolation:
    return RiskViolation(
        ViolationCode.ORDER_NOTIONAL.value, f"max_order_notional: order notional {value:.2f} > limit 300.00",
        index, "BTC/EUR", 300.0, value, plugin="risk-limits",
    )


def test_violations_survive_a_restart_with_run_order_limit_and_value(tmp_path):
    orders = [order(ref="a"), order("ETH/EUR", ref="b")]
    violations = [
        notional_violation(0),
        RiskViolation("max_daily_loss_abs", "max_daily_loss_abs: daily loss 600.00 > limit 500.00", None, None, 500.0, 600.0, "risk-limits"),
    ]
    store = StateStore.in_dir(tmp_path)
    RiskRecords(store, clock=Clock()).record_violations("run-1", 3, orders, violations, blocked=True)
    store.close()

    rows = RiskRecords(StateStore.in_dir(tmp_path)).query()
    assert [r["code"] for r in rows] == ["max_daily_loss_abs", "max_order_notional"]  # newest first
    loss, notional = rows
    assert notional == {
        "time": "2023-11-14T22:13:20.000+00:00",
        "timestamp": 1_700_000_000.0,
        "run_id": "run-1",
        "batch": 3,
        "client_order_id": orders[0].client_order_id,
        "symbol": "BTC/EUR",
        "code": "max_order_notional",
        "limit": 300.0,
        "value": 400.0,
        "message": "max_order_notional: order notional 400.00 > limit 300.00",
        "plugin": "risk-limits",
        "blocked": True,
    }
    # a whole-batch violation names no order
    assert (loss["client_order_id"], loss["symbol"], loss["limit"], loss["value"]) == (None, None, 500.0, 600.0)


def test_symbol_comes_from_the_order_when_the_violation_has_none():
    records = RiskRecords(StateStore(":memory:"))
    records.record_violations(None, 0, [order("ETH/EUR")], [RiskViolation("custom", "custom: no", 0, plugin="mine")], blocked=True)
    assert records.query()[0]["symbol"] == "ETH/EUR"


def test_warn_only_violations_are_recorded_as_not_blocking_but_a_failed_plugin_always_blocks():
    records = RiskRecords(StateStore(":memory:"))
    plugin_failed = RiskViolation(ViolationCode.PLUGIN.value, "plugin_failed: risk plugin x failed", plugin="x")
    records.record_violations("r", 0, [order()], [notional_violation(0), plugin_failed], blocked=False)
    by_code = {r["code"]: r["blocked"] for r in records.query()}
    assert by_code == {"max_order_notional": False, "plugin_failed": True}


def test_query_filters_by_time_code_and_limit():
    clock = Clock()
    records = RiskRecords(StateStore(":memory:"), clock=clock)
    for batch in range(3):
        records.record_violations("r", batch, [order()], [notional_violation(0, 400.0 + batch)], blocked=True)
        clock.now += 60
    records.record_violations("r", 3, [order()], [RiskViolation("max_order_quantity", "max_order_quantity: q", 0)], blocked=True)

    assert [r["batch"] for r in records.query(since=1_700_000_060.0)] == [3, 2, 1]
    assert [r["value"] for r in records.query(code="max_order_notional")] == [402.0, 401.0, 400.0]
    assert [r["batch"] for r in records.query(limit=2)] == [3, 2]
    assert records.query(code="stale_reference_price") == []


def test_no_violations_write_nothing():
    records = RiskRecords(StateStore(":memory:"))
    records.record_violations("r", 0, [order()], [], blocked=True)
    assert records.query() == []


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([c.value for c in ViolationCode]),
            st.one_of(st.none(), st.integers(0, 4)),
            st.one_of(st.none(), st.floats(0, 1e12)),
            st.one_of(st.none(), st.floats(-1e12, 1e12)),
        ),
        max_size=12,
    ),
    st.booleans(),
)
def test_every_violation_is_recorded_exactly_once_and_unchanged(items, blocked):
    orders = [order(ref=str(i)) for i in range(5)]
    violations = [RiskViolation(code, f"{code}: #{n}", index, None, limit, value) for n, (code, index, limit, value) in enumerate(items)]
    records = RiskRecords(StateStore(":memory:"))
    records.record_violations("run", 7, orders, violations, blocked=blocked)
    rows = list(reversed(records.query()))
    assert len(rows) == len(violations)
    for row, v in zip(rows, violations, strict=True):
        assert (row["code"], row["message"], row["limit"], row["value"]) == (v.code, v.message, v.limit, v.value)
        assert row["client_order_id"] == (None if v.order_index is None else orders[v.order_index].client_order_id)
        assert row["blocked"] == (blocked or v.code in ALWAYS_BLOCKING)


def test_a_session_records_its_blocks_under_its_run_id_and_the_order_never_executes(tmp_path):
    config = PeakTradeConfig(live_risk=LiveRiskConfig(**OFF, max_order_notional=300.0))
    executor = Filler()
    pipeline = ExecutionPipeline(config, store=StateStore.in_dir(tmp_path), executor=executor)
    big, small = order(qty=0.01, ref="big"), order(qty=0.005, ref="small")
    summary = pipeline.run([small, big, order(qty=0.001, ref="ok")])

    rows = RiskRecords(StateStore.in_dir(tmp_path)).query()
    assert [(r["run_id"], r["client_order_id"], r["code"], r["limit"], r["value"], r["blocked"]) for r in rows] == [
        (summary.run_id, big.client_order_id, "max_order_notional", 300.0, 400.0, True)
    ]
    assert big not in executor.received and small in executor.received


def test_a_grouped_session_writes_its_violations_within_the_window_and_every_one_by_its_end(tmp_path):
    """Paper (run log ``group``): a session gathers its violations and writes them once
    the oldest is a window old (between batches, or at the next violation), the rest when
    it ends; each exactly once, in order. A strategy stuck on a limit paid a transaction
    per blocked order before."""
    import time

    from peaktrade_core.config import ExecutionConfig
    from peaktrade_core.runlog import GROUP_WINDOW_SECONDS

    config = PeakTradeConfig(live_risk=LiveRiskConfig(**OFF, max_order_notional=300.0), execution=ExecutionConfig(batch_size=1))
    pipeline = ExecutionPipeline(config, store=StateStore.in_dir(tmp_path), executor=Filler())
    reader = RiskRecords(StateStore.in_dir(tmp_path))
    over = [order(qty=0.01 + i / 1000, ref=f"over {i}") for i in range(8)]
    within = [order(qty=0.001 + i / 10_000, ref=f"within {i}") for i in range(4)]
    seen: list[int] = []

    def after_batch(_count: int) -> None:
        seen.append(len(reader.query()))
        if len(seen) == 4:  # a quiet spell after four violations: due before the next batch
            time.sleep(2 * GROUP_WINDOW_SECONDS)

    # no violation after the fourth: only the session's own write between batches is left
    summary = pipeline.run([*over[:4], *within, *over[4:]], progress=after_batch)
    assert seen[4:8] == [4, 4, 4, 4], seen
    rows = list(reversed(reader.query()))
    assert [r["client_order_id"] for r in rows] == [o.client_order_id for o in over]
    assert {r["run_id"] for r in rows} == {summary.run_id}


def test_a_failed_write_of_gathered_violations_keeps_them_for_the_next(tmp_path):
    records = RiskRecords(StateStore.in_dir(tmp_path), window=60.0)
    write, failures = records.repository.add_violations, [OSError("disk full")]

    def flaky(rows):
        if failures:
            raise failures.pop()
        write(rows)

    records.repository.add_violations = flaky
    records.record_violations("run-1", 0, [order()], [notional_violation(0, 400.0)], blocked=True)
    records.record_violations("run-1", 1, [order()], [notional_violation(0, 401.0)], blocked=True)
    assert records.query() == []  # gathered: the oldest is not a window old
    try:
        records.flush()
    except OSError:
        pass
    else:
        raise AssertionError("the failed write was not raised")
    records.record_violations("run-1", 2, [order()], [notional_violation(0, 402.0)], blocked=True)
    records.flush()
    assert [r["value"] for r in reversed(records.query())] == [400.0, 401.0, 402.0]


def test_portfolio_snapshots_form_a_time_series():
    clock = Clock()
    records = RiskRecords(StateStore(":memory:"), clock=clock)
    state = PortfolioState(cash=10_000.0, starting_equity=10_000.0)
    monitor = LivePortfolioMonitor(state, clock=clock)
    records.record_portfolio(monitor.snapshot(), run_id="r1")
    state.apply_fill("BTC/EUR", -0.1, 40_000.0)
    clock.now += 3600
    records.record_portfolio(monitor.snapshot(), run_id="r1", source="cli")

    latest, first = records.portfolio_history()
    assert first["open_positions"] == 0 and first["source"] == "state" and first["equity"] == 10_000.0
    assert latest["source"] == "cli" and latest["run_id"] == "r1"
    assert latest["positions"] == [{"symbol": "BTC/EUR", "size": -0.1, "mark_price": 40_000.0, "average_price": 40_000.0}]
    assert (latest["cash"], latest["total_exposure"], latest["equity"]) == (14_000.0, 4_000.0, 10_000.0)
    assert [r["timestamp"] for r in records.portfolio_history(since=clock.now)] == [clock.now]
    assert len(records.portfolio_history(limit=1)) == 1


def test_the_risk_records_hold_no_sql_their_repository_does():
    import re
    from pathlib import Path

    import peaktrade_core.riskrecords as records
    import peaktrade_core.store.riskrecords as repository

    sql = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA)\b")
    assert not sql.findall(Path(records.__file__).read_text())
    text = Path(repository.__file__).read_text()
    assert sql.findall(text)
    # portable: no SQLite-only statements or functions
    for sqlite_only in ("PRAGMA", "sqlite_master", "rowid", "OR IGNORE", "OR REPLACE", "lastrowid", "executescript", "datetime(", "strftime("):
        assert sqlite_only not in text.replace("WITHOUT ROWID", "")


# -- both backends: the same records on SQLite and PostgreSQL ------------------------------


def test_violations_and_snapshots_round_trip_on_both_backends(any_store_url, tmp_path):
    from peaktrade_core.store import open_store_url

    clock = Clock()
    records = RiskRecords(open_store_url(any_store_url, data_dir=tmp_path), clock=clock)
    orders = [order(ref="a"), order("ETH/EUR", ref="b")]
    plugin_failed = RiskViolation(ViolationCode.PLUGIN.value, "plugin_failed: risk plugin x failed", plugin="x")
    records.record_violations("run-1", 0, orders, [notional_violation(0), notional_violation(1, 450.5)], blocked=False)
    clock.now += 60
    records.record_violations("run-1", 1, orders, [plugin_failed], blocked=False)

    again = RiskRecords(open_store_url(any_store_url, data_dir=tmp_path))  # another process's view
    rows = again.query()
    assert [(r["batch"], r["code"], r["symbol"], r["value"], r["blocked"]) for r in rows] == [
        (1, "plugin_failed", None, None, True),
        (0, "max_order_notional", "BTC/EUR", 450.5, False),
        (0, "max_order_notional", "BTC/EUR", 400.0, False),
    ]
    assert [r["client_order_id"] for r in rows] == [None, orders[1].client_order_id, orders[0].client_order_id]
    assert rows[2]["time"] == "2023-11-14T22:13:20.000+00:00" and rows[2]["timestamp"] == 1_700_000_000.0
    assert [r["batch"] for r in again.query(since=1_700_000_060.0)] == [1]
    assert [r["value"] for r in again.query(code="max_order_notional", limit=1)] == [450.5]

    state = PortfolioState(cash=10_000.0, starting_equity=10_000.0)
    state.apply_fill("BTC/EUR", 0.1, 40_000.0, fee=1.25)
    snapshot = LivePortfolioMonitor(state, clock=clock).snapshot()
    records.record_portfolio(snapshot, run_id="run-1")
    (history,) = again.portfolio_history()
    assert (history["run_id"], history["cash"], history["total_exposure"], history["open_positions"]) == ("run-1", 5_998.75, 4_000.0, 1)
    assert history["positions"] == [{"symbol": "BTC/EUR", "size": 0.1, "mark_price": 40_000.0, "average_price": 40_000.0}]


def test_the_ramp_up_reads_the_signed_stage_from_either_backend(any_store_url, tmp_path):
    from peaktrade_core.store import open_store_url
    from tests.test_risk_capital import o, pipeline, sign_stages

    store = open_store_url(any_store_url, data_dir=tmp_path)
    schedule = {"0": 500.0, "1": 1_000.0}
    p, _ = pipeline({"ramp_up_max_capital": schedule}, store=store)
    assert [r.status.value for r in p.process_batch([o(), o(qty=0.011)])] == ["filled", "risk_blocked"]
    sign_stages(store, 1)
    p, _ = pipeline({"ramp_up_max_capital": schedule}, store=open_store_url(any_store_url, data_dir=tmp_path))
    assert p.capital.in_force()["stage"] == 1
    assert [r.status.value for r in p.process_batch([o(), o(qty=0.011)])] == ["filled", "filled"]


def test_a_pipeline_driven_batch_by_batch_outside_a_session_writes_each_batchs_violations_at_once(tmp_path):
    """Only a session (``run``) writes what it gathered between batches and at its end:
    a caller driving ``process_batch`` itself must find each batch's violations written."""
    config = PeakTradeConfig(live_risk=LiveRiskConfig(**OFF, max_order_notional=300.0))
    pipeline = ExecutionPipeline(config, store=StateStore.in_dir(tmp_path), executor=Filler())
    reader = RiskRecords(StateStore.in_dir(tmp_path))
    pipeline.process_batch([order(qty=0.01, ref="first")])
    assert [r["value"] for r in reader.query()] == [400.0]
    pipeline.process_batch([order(qty=0.011, ref="second")], 1)
    assert [r["value"] for r in reader.query()] == [440.0, 400.0]
