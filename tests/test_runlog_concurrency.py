"""Several processes writing runs into one store at once, and a writer killed mid-run: each
run's hash chain (and, with an audit key, its signed head and the run sequence) stays intact
and nothing committed is lost. Real processes on one SQLite file, and on one PostgreSQL
database (a real server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from peaktrade_core.runlog import (
    AuditKeys,
    iter_run_events,
    list_runs,
    load_run_snapshot,
    verify_run,
    verify_sequence,
)
from peaktrade_core.store import open_store_url

KEY = "c" * 40

#: one writer: waits for the go file, then writes BATCHES batches of ORDERS orders into its
#: own run, printing "committed <batch>" after each commit returns
WRITER = r"""
import os, sys, time
from pathlib import Path
from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderRequest, OrderStatus
from peaktrade_core.runlog import AuditKeys, LiveRunLogger
from peaktrade_core.store import open_store_url

url, name, batches, orders, durability, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
key = os.environ.get("WRITER_AUDIT_KEY")
store = open_store_url(url)
log = LiveRunLogger(store, durability, audit=AuditKeys.from_texts(key) if key else None)
run_id = log.start_run(mode="paper", effective_mode="paper", strategy=name, run_id=name)
print("started", run_id, flush=True)
while not Path(go).exists():
    time.sleep(0.01)
b = 0
while batches < 0 or b < batches:
    log.record_batch(run_id, b, {"mode": "paper"}, {"allowed": True}, executor=name)
    for i in range(orders):
        order = OrderRequest("BTC/EUR", "buy" if i % 2 else "sell", 0.01, reference_price=100.0 + i, source_ref=f"{name}-{b}-{i}")
        fill = OrderFill(order.client_order_id, order.symbol, order.side, order.quantity, 100.0 + i, 0.01)
        log.record_order(run_id, OrderExecutionResult(order, OrderStatus.FILLED, fills=[fill]))
    log.commit()
    print("committed", b, flush=True)
    b += 1
log.finish_run(run_id, "finished", {"batches": b})
store.close()
"""


def start_writer(url: str, name: str, batches: int, orders: int, go: Path, durability: str = "batch", key: str | None = KEY):
    env = {**os.environ, **({"WRITER_AUDIT_KEY": key} if key else {})}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, name, str(batches), str(orders), durability, str(go)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert proc.stdout.readline().split() == ["started", name], proc.stderr.read()
    return proc


@pytest.mark.parametrize("key", [KEY, None], ids=["audit-key", "unkeyed"])
def test_four_processes_writing_four_runs_at_once_keep_every_chain_whole(tmp_path, any_store_url, key):
    go = tmp_path / "go"
    batches, orders = 40, 25
    writers = [start_writer(any_store_url, f"writer-{n}", batches, orders, go, key=key) for n in range(4)]
    go.touch()  # all four are started: write at once
    for proc in writers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert out.split("\n")[-2] == f"committed {batches - 1}"
    store = open_store_url(any_store_url)
    audit = AuditKeys.from_texts(key) if key else None
    runs = list_runs(store)
    assert sorted(r.run_id for r in runs) == [f"writer-{n}" for n in range(4)]
    sequence = verify_sequence(store, audit) if audit else None
    for run in runs:
        verdict = verify_run(store, run.run_id, audit=audit, sequence=sequence)
        assert verdict.ok, (run.run_id, verdict.problems)
        assert verdict.audit == ("signed" if key else "unkeyed")
        assert load_run_snapshot(store, run.run_id).orders == batches * orders
        # no record of another writer ended up in this run
        assert {e.executor for e in iter_run_events(store, run.run_id) if e.kind == "order"} == {run.run_id}
    if sequence is not None:
        assert sequence.entries == 8 and not sequence.problems  # 4 starts, 4 ends
    store.close()


@pytest.mark.parametrize("durability", ["batch", "order"])
def test_a_writer_killed_with_sigkill_loses_no_committed_batch(tmp_path, any_store_url, durability):
    go = tmp_path / "go"
    go.touch()
    proc = start_writer(any_store_url, "killed", -1, 10 if durability == "batch" else 2, go, durability=durability)
    committed = -1
    while committed < 15:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        committed = int(line.split()[1])
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()

    store = open_store_url(any_store_url)
    audit = AuditKeys.from_texts(KEY)
    verdict = verify_run(store, "killed", audit=audit)
    assert verdict.ok, verdict.problems
    batches = {e.batch for e in iter_run_events(store, "killed") if e.kind == "order"}
    assert set(range(committed + 1)) <= batches  # every batch reported committed is there
    assert load_run_snapshot(store, "killed").status == "running"
    store.close()

    # the next start marks it aborted with a signed end: still verifies, with the key
    from peaktrade_core.runlog import LiveRunLogger

    store = open_store_url(any_store_url)
    deadline = time.monotonic() + 60
    while not LiveRunLogger(store, audit=audit).mark_aborted_runs() and time.monotonic() < deadline:
        time.sleep(0.1)  # the pid may take a moment to be reaped
    assert load_run_snapshot(store, "killed").status == "aborted"
    assert verify_run(store, "killed", audit=audit).ok
    store.close()


def test_a_group_writer_killed_with_sigkill_leaves_a_verifying_prefix_with_all_but_the_window(tmp_path, any_store_url):
    """Durability ``group``: commits are written within the window without another call, so
    a writer killed mid-run loses at most the batches of its last window: every batch seen
    written before the kill is there, the rest of the log is a gapless prefix of what was
    committed, and the chain (and its signed head) verifies."""
    go = tmp_path / "go"
    go.touch()
    proc = start_writer(any_store_url, "grouped", -1, 10, go, durability="group")
    committed = -1
    while committed < 30:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        committed = int(line.split()[1])
    # batch `committed` reaches the store on its own (the background writer, or a later
    # commit), within the window; generous on a loaded machine
    watcher = open_store_url(any_store_url)
    deadline = time.monotonic() + 60
    while load_run_snapshot(watcher, "grouped").orders < (committed + 1) * 10 and time.monotonic() < deadline:
        time.sleep(0.005)
    written = load_run_snapshot(watcher, "grouped").orders
    watcher.close()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()
    assert written >= (committed + 1) * 10

    store = open_store_url(any_store_url)
    audit = AuditKeys.from_texts(KEY)
    verdict = verify_run(store, "grouped", audit=audit)
    assert verdict.ok, verdict.problems
    batches = sorted({e.batch for e in iter_run_events(store, "grouped") if e.kind == "order"})
    assert batches == list(range(len(batches)))  # a prefix: nothing missing in between
    assert len(batches) >= committed + 1
    snapshot = load_run_snapshot(store, "grouped")
    assert snapshot.orders == len(batches) * 10  # the counters agree with the records
    assert snapshot.status == "running"
    store.close()

    from peaktrade_core.runlog import LiveRunLogger

    store = open_store_url(any_store_url)
    deadline = time.monotonic() + 60
    while not LiveRunLogger(store, audit=audit).mark_aborted_runs() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert load_run_snapshot(store, "grouped").status == "aborted"
    assert verify_run(store, "grouped", audit=audit).ok
    store.close()
