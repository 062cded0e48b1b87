"""One order per call (batch size 1): the default durability by mode, and the kill switch's
cheaper change check in sessions that send nothing (paper, shadow)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_core import killswitch
from peaktrade_core.config import ExecutionConfig, PeakTradeConfig
from peaktrade_core.environment import TradingMode
from peaktrade_core.killswitch import KillSwitch
from peaktrade_core.orders import OrderRequest, OrderStatus
from peaktrade_core.pipeline import KILL_SWITCH_MAX_AGE_SECONDS, ExecutionPipeline
from peaktrade_core.risk import LiveRiskConfig
from peaktrade_core.runlog import durability_for, load_run_snapshot, verify_run
from peaktrade_core.state import STATE_FILE, StateStore, init_identity
from peaktrade_core.testing import FillingExecutor, live_environment

LIMITS = LiveRiskConfig(max_orders_per_second=0, max_orders_per_minute=0, duplicate_window_seconds=0, runaway_max_executions=0)


def order(i: int = 0) -> OrderRequest:
    return OrderRequest("BTC/EUR", "buy", 0.001 * (i + 1), reference_price=40_000.0)


@pytest.mark.parametrize(
    ("mode", "expected"), [("paper", "group"), ("shadow", "group"), ("testnet", "batch"), ("live", "batch")]
)
def test_the_default_durability_groups_commits_only_where_nothing_reaches_a_venue(mode, expected):
    assert ExecutionConfig().durability == "auto"
    assert durability_for("auto", mode) == expected
    for chosen in ("batch", "order", "group"):  # a setting of the operator's is kept as it is
        assert durability_for(chosen, mode) == chosen


def test_a_paper_session_with_the_default_config_records_group_durability_and_verifies(tmp_path):
    store = StateStore(tmp_path / STATE_FILE)
    config = PeakTradeConfig(live_risk=LIMITS, execution=ExecutionConfig(batch_size=1))
    pipeline = ExecutionPipeline(config, store=store, executor=FillingExecutor())
    summary = pipeline.run(order(i) for i in range(50))
    snapshot = load_run_snapshot(store, summary.run_id)
    assert (snapshot.durability, snapshot.orders, snapshot.filled) == ("group", 50, 50)
    assert verify_run(store, summary.run_id).ok


def test_a_live_session_with_the_default_config_commits_every_batch(tmp_path):
    store = StateStore(tmp_path / STATE_FILE)
    init_identity(store, "a person checked it", kind="person")
    config = PeakTradeConfig(environment=live_environment(), live_risk=LIMITS, execution=ExecutionConfig(batch_size=1))
    pipeline = ExecutionPipeline(config, store=store, executor=FillingExecutor(sends_real_orders=True))
    assert pipeline.env.mode is TradingMode.LIVE
    assert pipeline.runlog.durability == "batch"


def test_a_kill_switch_engaged_by_this_process_through_another_store_is_seen_by_the_next_paper_batch(tmp_path):
    """The change check may be up to a millisecond old; an engage made here is not."""
    path = tmp_path / STATE_FILE
    executor = FillingExecutor()
    pipeline = ExecutionPipeline(PeakTradeConfig(live_risk=LIMITS), store=StateStore(path), executor=executor, record=False)
    elsewhere = KillSwitch(StateStore(path))  # its own connection, as a CLI command in this process would have
    for i in range(100):  # batches well inside one millisecond of each other's checks
        assert pipeline.process_batch([order(i)])[0].status is OrderStatus.FILLED
        elsewhere.engage(f"step {i}", operator="alice")
        result = pipeline.process_batch([order(i)])[0]
        assert result.status is OrderStatus.GATE_BLOCKED and f"step {i}" in result.reasons[0]
        elsewhere.release("go on", operator="alice")
    assert len(executor.received) == 100


def test_a_kill_switch_engaged_by_another_process_stops_a_running_paper_session(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    store = StateStore(data / STATE_FILE)
    executor = FillingExecutor()
    pipeline = ExecutionPipeline(PeakTradeConfig(live_risk=LIMITS), store=store, executor=executor, record=False)
    assert pipeline.process_batch([order()])[0].status is OrderStatus.FILLED
    env = dict(os.environ, PEAK_TRADE_DATA_DIR=str(data))
    done = subprocess.run([sys.executable, "-m", "peaktrade_core", "kill", "--reason", "from another process"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 30  # the check is at most 1 ms old; generous for a loaded machine
    while (result := pipeline.process_batch([order()])[0]).status is OrderStatus.FILLED and time.monotonic() < deadline:
        time.sleep(0.0005)
    assert result.status is OrderStatus.GATE_BLOCKED and "from another process" in result.reasons[0]


def test_testnet_and_live_sessions_do_not_use_the_aged_check(tmp_path):
    store = StateStore(tmp_path / STATE_FILE)
    init_identity(store, "a person checked it", kind="person")
    config = PeakTradeConfig(environment=live_environment(), live_risk=LIMITS)
    live = ExecutionPipeline(config, store=store, executor=FillingExecutor(), record=False)
    paper_sends = ExecutionPipeline(PeakTradeConfig(live_risk=LIMITS), store=store, executor=FillingExecutor(sends_real_orders=True), record=False)
    paper = ExecutionPipeline(PeakTradeConfig(live_risk=LIMITS), store=store, executor=FillingExecutor(), record=False)
    assert (live._kill_max_age, paper_sends._kill_max_age, paper._kill_max_age) == (0.0, 0.0, KILL_SWITCH_MAX_AGE_SECONDS)


# one step: ("here", switch 0/1) an engage or release by this process; ("other",) one by
# another process; ("wait", seconds) the clock moves on; ("read",) both paths read
STEPS = st.one_of(
    st.tuples(st.just("here"), st.integers(0, 1)),
    st.tuples(st.just("other")),
    st.tuples(st.just("wait"), st.sampled_from([0.0, 0.0004, KILL_SWITCH_MAX_AGE_SECONDS])),
    st.tuples(st.just("read")),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEPS, min_size=1, max_size=25))
def test_the_aged_check_reads_what_the_plain_read_does_except_another_process_change_within_the_age(tmp_path_factory, steps):
    """The fast path (``max_age``) against the plain read of every batch: equal after any
    change by this process and once the age has passed; otherwise the state it read last."""
    path = tmp_path_factory.mktemp("ks") / STATE_FILE
    store = StateStore(path)
    clock = [1000.0]
    fast = KillSwitch(store)
    fast._clock = lambda: clock[0]
    plain = KillSwitch(store)
    here = [KillSwitch(store), KillSwitch(StateStore(path))]
    other = KillSwitch(StateStore(path))
    changed_here, last_check, last_fast = True, None, None

    def flip(switch: KillSwitch) -> None:
        if plain.state().engaged:
            switch.release("go on", operator="bob")
        else:
            switch.engage("stop", operator="bob")

    for step in steps:
        if step[0] == "here":
            flip(here[step[1]])
            changed_here = True
        elif step[0] == "other":
            mine, killswitch._CHANGES_HERE = killswitch._CHANGES_HERE, [0]  # another process counts its own
            try:
                flip(other)
            finally:
                killswitch._CHANGES_HERE = mine
        elif step[0] == "wait":
            clock[0] += step[1]
        else:
            got, truth = fast.state(max_age=KILL_SWITCH_MAX_AGE_SECONDS), plain.state(fresh=True)
            if changed_here or last_check is None or clock[0] - last_check >= KILL_SWITCH_MAX_AGE_SECONDS:
                assert got == truth
                last_check = clock[0]
            else:
                assert got == last_fast
            changed_here, last_fast = False, got


def test_the_rate_windows_of_a_session_whose_orders_reach_no_venue_stay_empty(tmp_path):
    """Paper and shadow keep no order-rate throttle (it protects a venue's message limits):
    its sliding windows are never read, so they must not keep one entry per batch for the
    whole session (memory flat at one order per call). Where a throttle is in force its
    window holds the last second / minute only."""
    from peaktrade_core.risk import PreTradeControls

    # the default throttles (50/s, 1,000/min); no runaway throttle (it would stop at 500)
    config = PeakTradeConfig(live_risk=LiveRiskConfig(runaway_max_executions=0), execution=ExecutionConfig(batch_size=1))
    p = ExecutionPipeline(config, store=StateStore.in_dir(tmp_path), executor=FillingExecutor(), record=False)
    summary = p.run(OrderRequest("BTC/EUR", "buy", 0.001 + i * 1e-9, reference_price=400.0) for i in range(2_000))
    assert summary.by_status["filled"] == 2_000
    assert (len(p.controls._per_second.events), len(p.controls._per_minute.events)) == (0, 0)
    limited = PreTradeControls(config.live_risk, message_limits=True)
    for i in range(200):  # one order every half second
        now = 1000.0 + i / 2
        assert limited.check([OrderRequest("BTC/EUR", "buy", 0.001 + i * 1e-9, reference_price=400.0)], now) == []
    assert (len(limited._per_second.events), len(limited._per_minute.events)) == (2, 120)


def test_a_one_order_session_collects_garbage_between_batches_not_inside_them(tmp_path):
    """A collection the next few new objects would start runs between two batches (while
    the caller prepares the next order), not inside an order's decision; the young and
    middle generations are still collected as often as CPython would."""
    import gc

    p = ExecutionPipeline(PeakTradeConfig(live_risk=LIMITS, execution=ExecutionConfig(batch_size=1)), store=StateStore.in_dir(tmp_path), executor=FillingExecutor(), record=False)
    inside, collected = [False], []
    process = p.process_batch

    def process_batch(batch, batch_no=0):
        inside[0] = True
        try:
            return process(batch, batch_no)
        finally:
            inside[0] = False

    def seen(phase, info):
        if phase == "start":
            collected.append((info["generation"], inside[0]))

    p.process_batch = process_batch
    saved = gc.get_threshold()
    gc.callbacks.append(seen)
    try:
        gc.set_threshold(2_000, 2, 10**9)  # a full collection never due: CPython's own decision
        p.run(OrderRequest("BTC/EUR", "buy", 0.001 + i * 1e-9, reference_price=400.0) for i in range(12_000))
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*saved)
    assert {generation for generation, _ in collected} >= {0, 1}
    assert [c for c in collected if c[1]] == []


@pytest.mark.parametrize(
    ("counts", "enabled", "collected"),
    [
        ((629, 0, 0), True, []),  # not due within the headroom: the batch may allocate
        ((630, 0, 0), True, [0]),  # CPython's next: the young generation
        ((630, 10, 0), True, [0]),
        ((630, 11, 0), True, [1]),  # the young and the middle one
        ((630, 11, 10), True, [1]),
        ((630, 3, 11), True, []),  # a full collection may be due: CPython's own rule decides
        ((630, 11, 11), True, []),
        ((690, 0, 0), False, []),  # collection switched off by the program
    ],
)
def test_between_batches_the_collection_due_is_the_one_cpython_would_run(tmp_path, monkeypatch, counts, enabled, collected):
    from peaktrade_core import pipeline as pipeline_module

    class Collector:
        def __init__(self):
            self.collected = []

        def get_count(self):
            return counts

        def get_threshold(self):
            return (700, 10, 10)

        def isenabled(self):
            return enabled

        def collect(self, generation):
            self.collected.append(generation)

    p = ExecutionPipeline(PeakTradeConfig(live_risk=LIMITS), store=StateStore.in_dir(tmp_path), executor=FillingExecutor(), record=False)
    collector = Collector()
    monkeypatch.setattr(pipeline_module, "gc", collector)
    p._between_batches()
    assert collector.collected == collected
