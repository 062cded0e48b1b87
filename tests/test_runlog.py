"""Run log: what is recorded reads back, and any tampering with the SQLite file is named."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderRequest, OrderStatus
from peaktrade_core.runlog import (
    LiveRunLogger,
    RunNotFound,
    iter_run_events,
    list_runs,
    load_run_metadata,
    load_run_snapshot,
    render_summary,
    resolve_run_id,
    verify_run,
)
from peaktrade_core.state import StateStore

GATES = {"mode": "paper", "effective_mode": "paper", "closed": ["enable_live_trading"]}
RISK = {"allowed": True, "violations": [], "limits": {"max_order_notional": 500.0}}


def result(i: int, status: OrderStatus = OrderStatus.FILLED, **kw) -> OrderExecutionResult:
    order = OrderRequest("BTC/EUR", "buy" if i % 2 else "sell", 0.01 + i / 1000, reference_price=100.0 + i, source_ref=f"row {i}", client_order_id=f"row-{i}")
    fills = []
    if status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED):
        fills = [OrderFill(order.client_order_id, order.symbol, order.side, order.quantity, 100.5 + i, 0.01)]
    return OrderExecutionResult(order, status, fills=fills, **kw)


def mixed_batch(start: int, n: int) -> list[OrderExecutionResult]:
    out = []
    for i in range(start, start + n):
        if i % 5 == 1:
            out.append(result(i, OrderStatus.RISK_BLOCKED, reasons=[f"max_order_notional: {i}.0 > 500.0"]))
        elif i % 5 == 2:
            out.append(result(i, OrderStatus.GATE_BLOCKED, reasons=["kill_switch: engaged by ops"]))
        elif i % 5 == 3:
            out.append(result(i, OrderStatus.ERROR, reasons=["venue: timeout"], venue_response={"code": 504}))
        else:
            out.append(result(i))
    return out


@pytest.fixture
def store(tmp_path):
    s = StateStore.in_dir(tmp_path / "data")
    yield s
    s.close()


def write_run(store: StateStore, batches: int = 3, per_batch: int = 5, durability: str = "batch", finish: bool = True) -> str:
    log = LiveRunLogger(store, durability)
    run_id = log.start_run(
        mode="paper",
        effective_mode="paper",
        config_sha256="ab" * 32,
        operator="alice",
        strategy="ma_cross",
        strategy_params={"fast": 5, "slow": 20},
        plugin_versions={"paper": "0.1.0"},
    )
    for b in range(batches):
        log.record_batch(run_id, b, GATES, RISK, executor="paper")
        for r in mixed_batch(b * per_batch, per_batch):
            log.record_order(run_id, r)
        log.commit()
    if finish:
        log.finish_run(run_id, "finished", {"orders": batches * per_batch})
    return run_id


def tamper(path, sql: str, params=()) -> None:
    """Edit the file behind the logger's back, as an attacker with sqlite3 would."""
    conn = sqlite3.connect(path)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def first_problem(store: StateStore, run_id: str) -> str:
    verdict = verify_run(store, run_id)
    assert not verdict.ok
    return verdict.problems[0]


# -- what is recorded ---------------------------------------------------------------------


def test_a_run_reads_back_with_its_metadata_orders_and_batch_context(store):
    run_id = write_run(store)
    meta = load_run_metadata(store, run_id)
    assert (meta.mode, meta.operator, meta.strategy, meta.status) == ("paper", "alice", "ma_cross", "finished")
    assert meta.strategy_params == {"fast": 5, "slow": 20} and meta.plugin_versions == {"paper": "0.1.0"}
    assert meta.pid == os.getpid() and meta.host == socket.gethostname() and meta.ended_at

    events = list(iter_run_events(store, run_id))
    orders = [e for e in events if e.kind == "order"]
    assert len(orders) == 15
    expected = mixed_batch(0, 15)
    for event, r in zip(orders, expected, strict=True):
        assert event.client_order_id == r.order.client_order_id
        assert (event.symbol, event.side, event.quantity, event.price) == ("BTC/EUR", r.order.side, r.order.quantity, r.order.price)
        assert event.status == r.status and event.reasons == r.reasons and event.executor == "paper"
        assert event.fills == [{"quantity": f.quantity, "price": f.price, "fee": f.fee} for f in r.fills]
        assert event.venue_response == r.venue_response
    batches = [e for e in events if e.kind == "batch"]
    assert [b.batch for b in batches] == [0, 1, 2]
    # RUN-2: the gate report and the limits in force are recorded, once per batch
    assert batches[0].extra["risk"]["limits"] == {"max_order_notional": 500.0}
    assert batches[0].extra["gate_report"] == GATES
    assert events[-1].kind == "end" and events[-1].extra["status"] == "finished"


def test_an_intact_run_verifies(store):
    run_id = write_run(store)
    verdict = verify_run(store, run_id)
    assert verdict.ok, verdict.problems
    # run + 3 x (batch + orders) + end
    assert verdict.records == 8


def test_snapshot_counts_rates_and_blocks_by_reason(store):
    run_id = write_run(store, batches=2, per_batch=10)
    snap = load_run_snapshot(store, run_id)
    assert (snap.orders, snap.fills, snap.filled) == (20, 8, 8)
    assert (snap.risk_blocked, snap.gate_blocked, snap.errors) == (4, 4, 4)
    # numbers in messages do not split the reason
    assert snap.blocks_by_reason == {"kill_switch": 4, "max_order_notional": 4}
    assert snap.orders_per_s > 0 and snap.status == "finished"
    text = render_summary(snap)
    for needle in (run_id, "finished", "paper (effective: paper)", "risk blocks", "max_order_notional", "heartbeat"):
        assert needle in text


def test_per_order_durability_commits_every_order(store, tmp_path):
    log = LiveRunLogger(store, "order")
    assert store.query("PRAGMA synchronous")[0][0] == 2  # FULL
    run_id = log.start_run(mode="paper", effective_mode="paper")
    log.record_batch(run_id, 0, GATES, RISK)
    log.record_order(run_id, result(1))
    # visible to another connection without any commit() call
    other = StateStore.in_dir(tmp_path / "data")
    assert load_run_snapshot(other, run_id).orders == 1
    log.record_order(run_id, result(2))
    assert load_run_snapshot(other, run_id).orders == 2
    assert verify_run(other, run_id).records == 4  # run, batch, 2 orders
    events = [e for e in iter_run_events(other, run_id) if e.kind == "order"]
    assert [(e.client_order_id, e.quantity, e.fills[0]["price"]) for e in events] == [
        (r.order.client_order_id, r.order.quantity, r.fills[0].price) for r in (result(1), result(2))
    ]


def test_batch_durability_writes_nothing_before_commit(store, tmp_path):
    log = LiveRunLogger(store)
    run_id = log.start_run(mode="paper", effective_mode="paper")
    log.record_batch(run_id, 0, GATES, RISK)
    log.record_orders(run_id, mixed_batch(0, 10))
    other = StateStore.in_dir(tmp_path / "data")
    assert load_run_snapshot(other, run_id).orders == 0
    log.commit()
    assert load_run_snapshot(other, run_id).orders == 10
    assert verify_run(other, run_id).ok


def test_group_durability_writes_each_commit_within_the_window_without_another_call(store, tmp_path):
    import time

    log = LiveRunLogger(store, "group")
    run_id = log.start_run(mode="paper", effective_mode="paper")
    other = StateStore.in_dir(tmp_path / "data")
    for b in range(3):
        log.record_batch(run_id, b, GATES, RISK)
        log.record_orders(run_id, mixed_batch(b * 10, 10))
        log.commit()  # sealed: hash-chained now, written by the background writer
    deadline = time.monotonic() + 30  # the window is 10 ms; generous for a loaded machine
    while load_run_snapshot(other, run_id).orders < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert load_run_snapshot(other, run_id).orders == 30  # no further call was needed
    assert verify_run(other, run_id).ok
    log.finish_run(run_id, "finished", {"orders": 30})
    verdict = verify_run(other, run_id)
    # run, the 3 batches with their orders in one record per window written (1 to 3), end
    assert verdict.ok and 3 <= verdict.records <= 5


def test_group_durability_writes_what_was_committed_never_a_batch_in_progress(store, tmp_path):
    """The background writer writes up to the newest commit, with the heads and counters as
    of it: a batch recorded but not committed stays out, and the log verifies meanwhile."""
    import time

    log = LiveRunLogger(store, "group")
    run_id = log.start_run(mode="paper", effective_mode="paper")
    other = StateStore.in_dir(tmp_path / "data")
    log.record_batch(run_id, 0, GATES, RISK)
    log.record_orders(run_id, mixed_batch(0, 10))
    log.commit()
    log.record_batch(run_id, 1, GATES, RISK)
    log.record_orders(run_id, mixed_batch(10, 5))  # in progress: no commit yet
    deadline = time.monotonic() + 30
    while load_run_snapshot(other, run_id).orders < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # several windows: the batch in progress must not follow
    snapshot, verdict = load_run_snapshot(other, run_id), verify_run(other, run_id)
    assert snapshot.orders == 10 and verdict.ok and verdict.records == 2  # run, the batch with its orders
    log.commit()
    log.finish_run(run_id, "finished", {})
    verdict = verify_run(other, run_id)
    assert verdict.ok and load_run_snapshot(other, run_id).orders == 15


def test_group_durability_a_run_finished_at_once_is_complete_and_verifies(store):
    run_id = write_run(store, batches=20, per_batch=7, durability="group")
    assert load_run_snapshot(store, run_id).orders == 140
    assert verify_run(store, run_id).ok


def test_a_failed_group_write_keeps_its_records_and_fails_the_next_commit(store, tmp_path):
    log = LiveRunLogger(store, "group")
    run_id = log.start_run(mode="paper", effective_mode="paper")
    path = tmp_path / "data" / "peaktrade.sqlite3"
    tamper(path, "CREATE TRIGGER refuse BEFORE INSERT ON runlog_records BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    log.record_batch(run_id, 0, GATES, RISK)
    log.record_orders(run_id, mixed_batch(0, 5))
    log.commit()
    with pytest.raises(RuntimeError, match="the run log could not be written: disk says no"):
        for batch_no in range(1, 3000):  # the writer's failure reaches the caller (fail closed)
            log.record_batch(run_id, batch_no, GATES, RISK)
            log.commit()
            __import__("time").sleep(0.01)
    tamper(path, "DROP TRIGGER refuse")
    log.finish_run(run_id, "failed", {})
    verdict = verify_run(store, run_id)
    assert verdict.ok, verdict.problems  # nothing sealed was lost or reordered
    assert load_run_snapshot(store, run_id).orders == 5


def test_unfinished_and_generic_events_verify(store):
    log = LiveRunLogger(store)
    run_id = log.start_run(mode="live", effective_mode="live_dry_run")
    log.record_event(run_id, "alert", {"level": "critical", "message": "daily loss"})
    log.commit()
    assert verify_run(store, run_id).ok
    with pytest.raises(ValueError, match="reserved"):
        log.record_event(run_id, "end", {})
    with pytest.raises(ValueError, match="durability"):
        LiveRunLogger(store, "sometimes")


def test_run_ids_resolve_by_prefix_and_last(store):
    first = write_run(store, batches=1)
    second = write_run(store, batches=1)
    assert resolve_run_id(store, "last") == second
    assert resolve_run_id(store, second) == second
    assert resolve_run_id(store, second[:-1]) == second
    with pytest.raises(RunNotFound, match="no run matches"):
        resolve_run_id(store, "nope")
    with pytest.raises(RunNotFound, match="several runs"):
        resolve_run_id(store, "2")
    assert [m.run_id for m in list_runs(store)] == [first, second]


# -- tampering with the file --------------------------------------------------------------


def test_one_changed_byte_in_one_record_names_that_record(store):
    run_id = write_run(store)
    (payload,) = store.query("SELECT payload FROM runlog_records WHERE seq = 4")[0]
    changed = payload.replace("BTC/EUR", "BTC/EUS", 1)
    assert len(changed) == len(payload) and changed != payload
    tamper(store.path, "UPDATE runlog_records SET payload = ? WHERE seq = 4", (changed,))
    assert first_problem(store, run_id).startswith("record 4: changed")


def test_one_flipped_byte_in_the_raw_file_names_the_record(tmp_path):
    store = StateStore.in_dir(tmp_path / "data")
    run_id = write_run(store)
    needle = mixed_batch(5, 1)[0].order.client_order_id.encode()  # in batch 1 = record 4
    store.close()  # checkpoints the WAL into the main file
    raw = bytearray(store.path.read_bytes())
    at = raw.index(needle)
    raw[at + 5] ^= 0x01
    store.path.write_bytes(bytes(raw))
    reopened = StateStore.in_dir(tmp_path / "data")
    assert first_problem(reopened, run_id).startswith("record 4: changed")


def test_a_deleted_record_is_named(store):
    run_id = write_run(store)
    tamper(store.path, "DELETE FROM runlog_records WHERE seq = 3")
    assert first_problem(store, run_id).startswith("record 3: deleted")


def test_deleting_the_newest_records_is_detected(store):
    run_id = write_run(store)
    tamper(store.path, "DELETE FROM runlog_records WHERE seq >= 6")
    assert "records 6..7: deleted" in first_problem(store, run_id)


def test_swapped_records_are_reported_as_reordered(store):
    run_id = write_run(store)
    tamper(store.path, "UPDATE runlog_records SET seq = -seq WHERE seq IN (3, 5)")
    tamper(store.path, "UPDATE runlog_records SET seq = CASE seq WHEN -3 THEN 5 ELSE 3 END WHERE seq < 0")
    assert first_problem(store, run_id) == "record 3: reordered (its content is record 5)"


def test_a_record_appended_out_of_chain_is_named(store):
    run_id = write_run(store, finish=False)
    rid = store.query("SELECT rid FROM runlog_runs WHERE run_id = ?", (run_id,))[0][0]
    payload = json.dumps(["alert", 7, 0.0, {"forged": True}])
    tamper(store.path, "INSERT INTO runlog_records VALUES (?, 7, ?, ?)", (rid, payload, bytes(32)))
    problems = verify_run(store, run_id).problems
    assert problems[0].startswith("record 7: changed or inserted out of chain")
    assert "records 7..7: appended out of chain" in problems[1]


def test_changed_run_metadata_is_detected(store):
    run_id = write_run(store)
    tamper(store.path, "UPDATE runlog_runs SET operator = 'mallory' WHERE run_id = ?", (run_id,))
    assert first_problem(store, run_id) == "run metadata changed: operator is 'mallory' but record 0 says 'alice'"


def test_a_finished_run_rewritten_as_aborted_is_detected(store):
    run_id = write_run(store)
    tamper(store.path, "UPDATE runlog_runs SET status = 'aborted' WHERE run_id = ?", (run_id,))
    assert "status is 'aborted' but the end record says 'finished'" in first_problem(store, run_id)


def test_edited_monitoring_counters_are_detected(store):
    run_id = write_run(store)
    counts = json.loads(store.query("SELECT counts FROM runlog_runs")[0][0])
    counts["status"]["risk_blocked"] = 0
    tamper(store.path, "UPDATE runlog_runs SET counts = ?", (json.dumps(counts),))
    assert "run counters differ from the records (status)" in first_problem(store, run_id)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), batches=st.integers(1, 4), per_batch=st.integers(1, 6), durability=st.sampled_from(["batch", "group"]))
def test_any_single_byte_change_fails_naming_that_record(tmp_path_factory, data, batches, per_batch, durability):
    store = StateStore(tmp_path_factory.mktemp("prop") / "state.sqlite3")
    run_id = write_run(store, batches=batches, per_batch=per_batch, durability=durability)
    n = verify_run(store, run_id).records
    seq = data.draw(st.integers(0, n - 1), label="record")
    (payload,) = store.query("SELECT payload FROM runlog_records WHERE seq = ?", (seq,))[0]
    # drawn independently of the payload, whose length varies with the timestamps in it
    at = data.draw(st.integers(0, 10**6), label="offset") % len(payload)
    shift = data.draw(st.integers(1, 94), label="shift")
    old = ord(payload[at])
    assert 32 <= old < 127
    changed = payload[:at] + chr((old - 32 + shift) % 95 + 32) + payload[at + 1 :]
    tamper(store.path, "UPDATE runlog_records SET payload = ? WHERE seq = ?", (changed, seq))
    verdict = verify_run(store, run_id)
    assert not verdict.ok
    assert verdict.problems[0].startswith(f"record {seq}:")
    store.close()


# -- aborted runs -------------------------------------------------------------------------


def _force(store: StateStore, run_id: str, **columns) -> None:
    sets = ", ".join(f"{k} = ?" for k in columns)
    tamper(store.path, f"UPDATE runlog_runs SET {sets} WHERE run_id = ?", (*columns.values(), run_id))


def test_a_run_of_a_live_process_is_never_marked_aborted(store):
    owner = LiveRunLogger(store)
    run_id = owner.start_run(mode="paper", effective_mode="paper")
    _force(store, run_id, heartbeat_at=0.0)  # ancient heartbeat, but this process is alive
    assert LiveRunLogger(store).mark_aborted_runs() == []
    assert load_run_metadata(store, run_id).status == "running"


def test_a_run_whose_pid_was_reused_is_marked_aborted(store):
    run_id = LiveRunLogger(store).start_run(mode="paper", effective_mode="paper")
    _force(store, run_id, proc_start="1")  # our pid, but a different process start time
    assert LiveRunLogger(store).mark_aborted_runs() == [run_id]
    assert load_run_metadata(store, run_id).status == "aborted"
    assert verify_run(store, run_id).ok


def test_runs_from_other_hosts_are_aborted_only_when_their_heartbeat_is_stale(store):
    import time

    fresh = LiveRunLogger(store).start_run(mode="paper", effective_mode="paper")
    stale = LiveRunLogger(store).start_run(mode="paper", effective_mode="paper")
    _force(store, fresh, host="elsewhere", heartbeat_at=time.time())
    _force(store, stale, host="elsewhere", heartbeat_at=time.time() - 3600)
    assert LiveRunLogger(store).mark_aborted_runs(stale_after=600) == [stale]
    meta = load_run_metadata(store, stale)
    assert meta.status == "aborted" and "no heartbeat from elsewhere" in meta.summary["reason"]


# -- scale --------------------------------------------------------------------------------


def test_memory_stays_flat_over_many_orders(store):
    log = LiveRunLogger(store)
    run_id = log.start_run(mode="paper", effective_mode="paper")
    batch = mixed_batch(0, 500)

    def run(batches: int, start: int) -> None:
        for b in range(start, start + batches):
            log.record_batch(run_id, b, GATES, RISK)
            log.record_orders(run_id, batch)
            log.commit()

    run(5, 0)  # warm-up: caches, statement cache
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run(80, 5)  # 40,000 orders
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after - before < 256 * 1024, f"{after - before} bytes retained over 40,000 orders"
    assert peak - before < 4 * 1024 * 1024
    assert load_run_snapshot(store, run_id).orders == 42_500


def test_an_unbounded_buffer_commits_itself(store):
    log = LiveRunLogger(store, max_pending=100)
    run_id = log.start_run(mode="paper", effective_mode="paper")
    log.record_orders(run_id, mixed_batch(0, 60))
    assert load_run_snapshot(store, run_id).orders == 0
    log.record_orders(run_id, mixed_batch(60, 60))
    assert load_run_snapshot(store, run_id).orders == 120
    assert verify_run(store, run_id).ok
