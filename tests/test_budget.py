"""The shared risk budget in one process: several pipelines on one SQLite file hold one set
of limits together; fills settle (signed), rejects and remainders release, orders still
working stay reserved until the session ends; the block is recorded; the keys are governed."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from attrs import evolve

from peaktrade_core.budget import SHARED_BUDGET, reset_settled
from peaktrade_core.config import (
    PACKAGED_DEFAULT,
    ConfigError,
    PeakTradeConfig,
    StateConfig,
    load_config,
    set_value,
)
from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderRequest, OrderStatus
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.risk import LiveRiskConfig
from peaktrade_core.state import StateStore
from peaktrade_core.store.budget import RiskBudgetRepository
from peaktrade_core.testing import FillingExecutor

OFF = dict(max_orders_per_second=0, max_orders_per_minute=0, duplicate_window_seconds=0, runaway_max_executions=0, price_collar_pct=0)
LIMITS = LiveRiskConfig(max_symbol_exposure_notional=1_000.0, max_total_exposure_notional=1_500.0, **OFF)


def config(shared: bool = True, lease: float = 30.0, limits: LiveRiskConfig = LIMITS) -> PeakTradeConfig:
    return PeakTradeConfig(live_risk=limits, state=StateConfig(shared_risk_budget=shared, budget_lease_seconds=lease))


def buy(symbol: str = "BTC/EUR", notional: float = 400.0, price: float = 100.0, side: str = "buy", **kw) -> OrderRequest:
    return OrderRequest(symbol, side, notional / price, order_type="limit", limit_price=price, **kw)


class Scripted:
    """Answers each order as its ``source_ref`` says: fill, half (partial), reject, rest."""

    name = "scripted"
    sends_real_orders = False

    def execute_orders(self, orders):
        out = []
        for o in orders:
            how = o.source_ref or "fill"
            if how == "reject":
                out.append(OrderExecutionResult(o, OrderStatus.REJECTED, reasons=["venue: insufficient funds"]))
            elif how == "rest":
                out.append(OrderExecutionResult(o, OrderStatus.ACCEPTED, metadata={"resting": True}))
            else:
                q = o.quantity if how == "fill" else o.quantity / 2
                status = OrderStatus.FILLED if how == "fill" else OrderStatus.PARTIALLY_FILLED
                out.append(OrderExecutionResult(o, status, [OrderFill(o.client_order_id, o.symbol, o.side, q, o.limit_price)]))
        return out

    def cancel_order(self, client_order_id):
        return False


def pipelines(data_dir, n: int, cfg: PeakTradeConfig | None = None, executor=Scripted) -> list[ExecutionPipeline]:
    return [ExecutionPipeline(cfg or config(), store=StateStore.in_dir(data_dir), executor=executor(), record=False) for _ in range(n)]


def statuses(results) -> list[str]:
    return [r.status.value for r in results]


def test_two_processes_share_one_symbol_limit_that_each_alone_would_respect(any_store_url, tmp_path):
    from peaktrade_core.store import open_store_url

    a, b = (ExecutionPipeline(config(), store=open_store_url(any_store_url, data_dir=tmp_path), executor=Scripted(), record=False) for _ in range(2))
    assert statuses(a.process_batch([buy(), buy()])) == ["filled", "filled"]  # 800 of 1,000
    blocked = b.process_batch([buy()])[0]  # b's own portfolio is empty: only the shared figure stops it
    assert blocked.status is OrderStatus.RISK_BLOCKED
    assert blocked.reasons == [
        "shared_risk_budget: BTC/EUR exposure 800.00 settled + 0.00 reserved + 400.00 this order = 1,200.00 > "
        "max_symbol_exposure_notional 1,000.00 (shared by every process on this state store)"
    ]
    assert statuses(b.process_batch([buy(notional=200.0)])) == ["filled"]  # exactly up to the limit
    assert RiskBudgetRepository(a.store).exposure("paper") == {"BTC/EUR": (pytest.approx(10.0), 100.0)}


def test_without_the_shared_budget_two_processes_reach_twice_the_limit(tmp_path):
    a, b = pipelines(tmp_path, 2, config(shared=False))
    for p in (a, b):
        assert statuses(p.process_batch([buy(), buy(), buy(notional=200.0)])) == ["filled"] * 3
    together = sum(p.portfolio.exposure("BTC/EUR") for p in (a, b))
    assert together == pytest.approx(2_000.0)  # 2x max_symbol_exposure_notional: what the budget prevents


def test_the_total_limit_counts_every_symbol_of_every_process(tmp_path):
    a, b = pipelines(tmp_path, 2)
    assert statuses(a.process_batch([buy("BTC/EUR", 900.0)])) == ["filled"]
    result = b.process_batch([buy("ETH/EUR", 700.0, price=50.0)])[0]
    assert result.status is OrderStatus.RISK_BLOCKED
    assert "total exposure 900.00 settled and reserved + 700.00 this order = 1,600.00 > max_total_exposure_notional 1,500.00" in result.reasons[0]


def test_a_sell_reduces_the_shared_exposure_and_a_reducing_order_passes_over_the_limit(tmp_path):
    a, b, c = pipelines(tmp_path, 3)
    a.process_batch([buy(notional=1_000.0)])
    assert statuses(b.process_batch([buy(notional=100.0)])) == ["risk_blocked"]
    # b sells what a bought (a desk-wide reduction): it lowers the shared figure however full it is
    assert statuses(b.process_batch([buy(notional=600.0, side="sell")])) == ["filled"]
    assert RiskBudgetRepository(a.store).exposure("paper")["BTC/EUR"][0] == pytest.approx(4.0)
    assert statuses(c.process_batch([buy(notional=600.0)])) == ["filled"]  # room again: 400 + 600
    # a sell larger than the whole long would open a short: it must fit like any increase
    assert statuses(b.process_batch([buy(notional=2_100.0, side="sell")])) == ["risk_blocked"]


def test_rejects_release_partial_fills_settle_their_filled_part_and_resting_orders_hold_until_the_session_ends(tmp_path):
    a, b = pipelines(tmp_path, 2)
    repo = RiskBudgetRepository(a.store)
    out = a.process_batch([buy(source_ref="reject"), buy(source_ref="half"), buy(notional=200.0, source_ref="rest")])
    assert statuses(out) == ["rejected", "partially_filled", "accepted"]
    assert repo.exposure("paper")["BTC/EUR"][0] == pytest.approx(2.0)  # 200 of the 400 filled
    held = repo.reservations("paper")
    assert [(r["batch"], r["amount"]) for r in held] == [(-1, pytest.approx(200.0))]  # the resting order only
    # 200 settled + 200 held: b has 600 left
    assert statuses(b.process_batch([buy(notional=700.0)])) == ["risk_blocked"]
    a.budget.close()  # what a session's end does
    assert repo.reservations("paper") == []
    assert statuses(b.process_batch([buy(notional=700.0)])) == ["filled"]


def test_a_process_whose_lease_expired_no_longer_blocks_the_desk_but_its_positions_still_count(tmp_path):
    a, b = pipelines(tmp_path, 2, config(lease=5.0))
    a.process_batch([buy(notional=300.0)])  # settled: real positions
    # a stops in the middle of a batch: reserved, never settled (a crash)
    passed, refused = a.budget.reserve([buy(notional=600.0)], [0], [None])
    assert passed == [0] and refused == []
    a.budget._pending.clear()  # its heartbeat stops as a dead process's would
    repo = RiskBudgetRepository(a.store)
    [lease] = [lease for lease in repo.leases() if lease["owner"] == a.budget.owner]
    b.budget.clock = lambda: lease["expires_at"] - 0.01  # still within a's lease
    assert statuses(b.process_batch([buy(notional=200.0)])) == ["risk_blocked"]  # 300 + 600 + 200 > 1,000
    b.budget.clock = lambda: lease["expires_at"] + 0.01  # past it
    assert statuses(b.process_batch([buy(notional=600.0)])) == ["filled"]  # the 600 were released, the 300 stay
    assert repo.exposure("paper")["BTC/EUR"][0] == pytest.approx(9.0)
    release = [r for r in repo.log("paper") if r["kind"] == "release"]
    assert len(release) == 1 and release[0]["reserved_total"] == pytest.approx(600.0)
    assert json.loads(release[0]["detail"])["released"]["owner"] == a.budget.owner


def test_a_live_process_renews_its_lease_while_an_order_rests(tmp_path):
    a, b = pipelines(tmp_path, 2, config(lease=0.3))
    a.process_batch([buy(notional=900.0, source_ref="rest")])
    repo = RiskBudgetRepository(a.store)

    def expiry() -> float:
        return next(lease["expires_at"] for lease in repo.leases() if lease["owner"] == a.budget.owner)

    first = expiry()
    deadline = time.monotonic() + 60
    while expiry() <= first:  # the heartbeat (every lease / 3) renews it without a batch
        assert time.monotonic() < deadline, "the lease was never renewed"
        time.sleep(0.05)
    b.budget.clock = lambda: first + 0.01  # past the lease a had when its batch ended
    assert statuses(b.process_batch([buy(notional=200.0)])) == ["risk_blocked"]
    a.budget.close()


def test_a_shared_budget_block_is_recorded_in_the_run_log_and_the_summary(tmp_path):
    from peaktrade_core.runlog import iter_run_events

    a, = pipelines(tmp_path, 1)
    a.process_batch([buy(notional=1_000.0)])
    b = ExecutionPipeline(config(), store=StateStore.in_dir(tmp_path), executor=Scripted())
    summary = b.run([buy(notional=100.0)])
    assert dict(summary.blocks_by_reason) == {f"risk_blocked: {SHARED_BUDGET}": 1}
    orders = [e for e in iter_run_events(b.store, summary.run_id) if e.kind == "order"]
    assert [(o.status, o.reasons[0].split(":")[0]) for o in orders] == [("risk_blocked", SHARED_BUDGET)]
    batch = [e for e in iter_run_events(b.store, summary.run_id) if e.kind == "batch"][0]
    [violation] = batch.extra["risk"]["violations"]
    assert (violation["code"], violation["limit"], violation["value"]) == (SHARED_BUDGET, 1_000.0, 1_100.0)
    assert b.budget.owner not in {lease["owner"] for lease in RiskBudgetRepository(b.store).leases()}  # the session ended


def test_an_operator_can_set_the_settled_position_after_reconciling_with_the_venue(tmp_path):
    a, b = pipelines(tmp_path, 2)
    a.process_batch([buy(notional=1_000.0)])
    assert statuses(b.process_batch([buy(notional=800.0)])) == ["risk_blocked"]
    reset_settled(a.store, "paper", "BTC/EUR", 2.0, 100.0, operator="ops", reason="closed by hand at the venue")
    assert statuses(b.process_batch([buy(notional=800.0)])) == ["filled"]
    reset = [r for r in RiskBudgetRepository(a.store).log("paper") if r["kind"] == "reset"][0]
    assert json.loads(reset["detail"])["before"] == [10.0, 100.0]
    with pytest.raises(ValueError):
        reset_settled(a.store, "paper", "BTC/EUR", float("nan"), 100.0, operator="ops", reason="x")


def test_with_the_budget_off_nothing_is_written(tmp_path):
    a, = pipelines(tmp_path, 1, config(shared=False))
    a.process_batch([buy()])
    assert a.budget is None
    names = {r[0] for r in a.store.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not any(n.startswith("risk_budget") for n in names)


def test_the_default_config_leaves_the_budget_off_with_a_30_second_lease():
    cfg = load_config(PACKAGED_DEFAULT)
    assert (cfg.state.shared_risk_budget, cfg.state.budget_lease_seconds) == (False, 30.0)


@pytest.mark.parametrize(("key", "value"), [("state.shared_risk_budget", "false"), ("state.shared_risk_budget", "true"), ("state.budget_lease_seconds", "1.0")])
def test_config_set_refuses_the_budget_keys(tmp_path, key, value):
    path = tmp_path / "config.toml"
    text = PACKAGED_DEFAULT.read_text().replace("shared_risk_budget = false", "shared_risk_budget = true")
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        set_value(path, key, value, plugin_sections={})
    assert f"{key}: is a governance key" in refused.value.lines[0]
    assert path.read_text() == text


def test_config_set_of_the_budget_is_one_line_exit_2(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(PACKAGED_DEFAULT.read_bytes().replace(b"shared_risk_budget = false", b"shared_risk_budget = true"))
    proc = subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "--config", str(path), "config", "set", "state.shared_risk_budget", "false"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "state.shared_risk_budget: is a governance key" in proc.stderr
    assert b"shared_risk_budget = true" in path.read_bytes()


def test_a_lease_of_zero_is_a_config_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(PACKAGED_DEFAULT.read_bytes().replace(b"budget_lease_seconds = 30.0", b"budget_lease_seconds = 0.0"))
    with pytest.raises(ConfigError) as bad:
        load_config(path)
    assert any("state.budget_lease_seconds" in line for line in bad.value.lines)


def test_a_store_that_cannot_be_reached_blocks_every_order_and_a_lost_settlement_is_retried(tmp_path):
    from peaktrade_core.budget import BudgetLimits, SharedRiskBudget

    store = StateStore.in_dir(tmp_path)
    budget = SharedRiskBudget(store, book="paper", limits=BudgetLimits(1_000.0, 1_500.0), lease_seconds=30.0)
    orders = [buy(notional=300.0)]
    assert budget.reserve(orders, [0], [None])[0] == [0]
    filled = Scripted().execute_orders(orders)
    gone = StateStore.in_dir(tmp_path)
    gone.close()  # a handle on a store that is no longer there
    budget.repo.store = gone
    budget.settle(orders, filled)  # the orders were executed: no exception, retried later
    results = [None]
    assert budget.reserve([buy(notional=100.0)], [0], results)[0] == []  # fail closed
    assert results[0].status is OrderStatus.RISK_BLOCKED
    assert results[0].reasons[0].startswith("shared_risk_budget: the shared risk budget cannot be reached (ProgrammingError")
    budget.repo.store = store  # back
    assert budget.reserve([buy(notional=100.0)], [0], [None])[0] == [0]
    repo = RiskBudgetRepository(store)
    assert repo.exposure("paper")["BTC/EUR"][0] == pytest.approx(3.0)  # the lost settlement, applied first
    assert {r["batch"] for r in repo.reservations("paper")} == {budget._batch}  # the first batch's reservation is gone


def test_in_live_mode_the_live_total_notional_is_shared_too(tmp_path):
    from peaktrade_core.state import init_identity
    from peaktrade_core.testing import live_environment

    init_identity(StateStore.in_dir(tmp_path), "live desk for the test")
    env = live_environment(max_live_notional_per_order=1_000.0, max_live_notional_total=800.0, live_allowed_symbols=("BTC/EUR",))
    cfg = evolve(config(limits=LiveRiskConfig(**OFF)), environment=env)
    a, b = pipelines(tmp_path, 2, cfg, executor=lambda: FillingExecutor(sends_real_orders=True))
    assert statuses(a.process_batch([buy(notional=500.0)])) == ["filled"]
    refused = b.process_batch([buy(notional=400.0)])[0]
    assert refused.status is OrderStatus.RISK_BLOCKED
    assert "live total notional 500.00 settled and reserved + 400.00 this order = 900.00 > max_live_notional_total 800.00" in refused.reasons[0]
    assert RiskBudgetRepository(a.store).exposure("live") == {"BTC/EUR": (pytest.approx(5.0), 100.0)}
    assert RiskBudgetRepository(a.store).exposure("paper") == {}
