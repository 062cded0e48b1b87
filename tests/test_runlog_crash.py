"""A session process killed with SIGKILL mid-run: nothing committed is lost, the log still
verifies, and the next start marks the run aborted (while a live run is left alone)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from peaktrade_core.runlog import LiveRunLogger, load_run_metadata, load_run_snapshot, verify_run
from peaktrade_core.state import StateStore

WRITER = textwrap.dedent(
    """
    import sys, time
    from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderRequest, OrderStatus
    from peaktrade_core.runlog import LiveRunLogger
    from peaktrade_core.state import StateStore

    data_dir, durability = sys.argv[1], sys.argv[2]
    log = LiveRunLogger(StateStore.in_dir(data_dir), durability)
    run_id = log.start_run(mode="paper", effective_mode="paper", strategy="crash-test")
    batch = []
    for i in range(100):
        order = OrderRequest("ETH/EUR", "buy", 1.0 + i, reference_price=2000.0, source_ref=str(i))
        fill = OrderFill(order.client_order_id, order.symbol, order.side, order.quantity, 2000.0)
        batch.append(OrderExecutionResult(order, OrderStatus.FILLED, fills=[fill]))
    b = 0
    while True:  # until killed
        log.record_batch(run_id, b, {"mode": "paper"}, {"allowed": True})
        log.record_orders(run_id, batch)
        log.commit()
        b += 1
        print(run_id, b * 100, flush=True)
        if b >= 3:
            log.record_orders(run_id, batch)  # recorded, never committed: may be lost
            time.sleep(60)
    """
)


def run_writer(data_dir, durability: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(data_dir), durability],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


@pytest.mark.parametrize("durability", ["batch", "order"])
def test_sigkill_mid_run_loses_nothing_committed_and_the_next_start_marks_it_aborted(tmp_path, durability):
    data_dir = tmp_path / "data"
    proc = run_writer(data_dir, durability)
    try:
        lines = [proc.stdout.readline().split() for _ in range(3)]
        run_id, committed = lines[-1][0], int(lines[-1][1])
        store = StateStore.in_dir(data_dir)
        # while the writer lives, start-up in another process must not touch its run
        assert LiveRunLogger(store).mark_aborted_runs() == []
        assert load_run_metadata(store, run_id).status == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()

    assert load_run_snapshot(store, run_id).orders >= committed
    verdict = verify_run(store, run_id)
    assert verdict.ok, verdict.problems

    assert LiveRunLogger(store).mark_aborted_runs() == [run_id]
    meta = load_run_metadata(store, run_id)
    assert meta.status == "aborted" and f"process {proc.pid}" in meta.summary["reason"]
    after = verify_run(store, run_id)
    assert after.ok, after.problems
    assert after.records == verdict.records + 1  # the chained abort record
    assert LiveRunLogger(store).mark_aborted_runs() == []  # only once
