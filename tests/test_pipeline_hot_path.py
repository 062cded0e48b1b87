"""The pipeline's hot path reuses the gate report between batches: only while the kill
switch and the confirm token read the same, both read again for every batch."""

from __future__ import annotations

from peaktrade_core.config import ExecutionConfig, PeakTradeConfig
from peaktrade_core.environment import LIVE_CONFIRM_TOKEN
from peaktrade_core.killswitch import KillSwitch
from peaktrade_core.orders import OrderExecutionResult, OrderRequest, OrderStatus
from peaktrade_core.pipeline import ExecutionPipeline
from peaktrade_core.risk import LiveRiskConfig
from peaktrade_core.secrets import SecretRef
from peaktrade_core.state import StateStore, init_identity
from peaktrade_core.testing import live_environment


class Recorder:
    name = "recorder"
    sends_real_orders = True

    def __init__(self) -> None:
        self.received: list[OrderRequest] = []

    def execute_orders(self, orders):
        self.received.extend(orders)
        return [OrderExecutionResult(o, OrderStatus.ACCEPTED) for o in orders]

    def cancel_order(self, client_order_id: str) -> bool:
        return False


def _pipeline(tmp_path, record: bool = False, **env) -> ExecutionPipeline:
    limits = LiveRiskConfig(max_orders_per_second=0, max_orders_per_minute=0, duplicate_window_seconds=0, runaway_max_executions=0)
    config = PeakTradeConfig(environment=live_environment(**env), live_risk=limits, execution=ExecutionConfig(batch_size=1))
    store = StateStore(tmp_path / "state.sqlite3")
    init_identity(store, "a person checked it", kind="person")  # live refuses an uninitialised store
    return ExecutionPipeline(config, store=store, executor=Recorder(), record=record)


def _one(p: ExecutionPipeline, i: int) -> OrderStatus:
    return p.process_batch([OrderRequest("BTC/EUR", "buy", 0.001 * (i + 1), reference_price=40_000.0)], i)[0].status


def test_the_recorded_gates_follow_a_confirm_token_withdrawn_and_restored_between_batches(tmp_path, monkeypatch):
    """Gate plugins and the run log get the gates as they are for each batch."""
    from peaktrade_core.runlog import iter_run_events

    monkeypatch.setenv("PT_TEST_CONFIRM", LIVE_CONFIRM_TOKEN)
    p = _pipeline(tmp_path, record=True, confirm_token=SecretRef(env="PT_TEST_CONFIRM"))
    tokens = [LIVE_CONFIRM_TOKEN, LIVE_CONFIRM_TOKEN, None, "not the token", LIVE_CONFIRM_TOKEN]

    def orders():
        for i, token in enumerate(tokens):
            if token is None:
                monkeypatch.delenv("PT_TEST_CONFIRM")
            else:
                monkeypatch.setenv("PT_TEST_CONFIRM", token)
            yield OrderRequest("BTC/EUR", "buy", 0.001 * (i + 1), reference_price=40_000.0)

    summary = p.run(orders())
    batches = [e.extra["gate_report"] for e in iter_run_events(p.store, summary.run_id) if e.kind == "batch"]
    assert [b["gates"]["confirm_token"] for b in batches] == ["SET (valid)", "SET (valid)", "NOT SET", "INVALID", "SET (valid)"]
    assert [b["live_allowed"] for b in batches] == [True, True, False, False, True]


def test_a_kill_switch_engaged_and_released_elsewhere_between_batches_is_seen_by_the_next(tmp_path):
    p = _pipeline(tmp_path)
    other = KillSwitch(StateStore(tmp_path / "state.sqlite3"))
    assert _one(p, 0) is OrderStatus.ACCEPTED
    other.engage("stop", operator="bob")
    assert _one(p, 1) is OrderStatus.GATE_BLOCKED
    assert _one(p, 2) is OrderStatus.GATE_BLOCKED
    other.release("go on", operator="bob")
    assert _one(p, 3) is OrderStatus.ACCEPTED
    assert len(p.executor.received) == 2
