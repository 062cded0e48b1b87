"""Durability ``group`` writes the batches of a window as one ``batches`` record (the batch
context stated once, encoded and hash-chained when the window is written): it reads back,
counts and verifies exactly as the per-batch records of durability ``batch`` do, and runs
recorded in the older layout (a ``batch`` and an ``order``/``orders`` record per batch)
still read and verify."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderRequest, OrderStatus
from peaktrade_core.runlog import LiveRunLogger, iter_run_events, load_run_snapshot, verify_run
from peaktrade_core.state import StateStore

GATES = {"mode": "paper", "effective_mode": "paper", "gates": {"kill_switch": "open"}}
OTHER_GATES = {"mode": "paper", "effective_mode": "paper", "gates": {"kill_switch": "open", "hours": "open"}}
CLEAN = {"violations": []}  # what the pipeline hands over when no limit was hit
BLOCKED = {"violations": [{"code": "max_order_notional", "index": 0}]}


def result(i: int) -> OrderExecutionResult:
    order = OrderRequest("BTC/EUR", "buy" if i % 2 else "sell", 0.01 + i / 1000, reference_price=100.0 + i, client_order_id=f"o-{i}")
    if i % 4 == 1:
        return OrderExecutionResult(order, OrderStatus.RISK_BLOCKED, reasons=[f"max_order_notional: {i}.0 > 500.0"])
    if i % 4 == 2:
        return OrderExecutionResult(order, OrderStatus.ERROR, reasons=["venue: timeout"], venue_response={"code": 504})
    fill = OrderFill(order.client_order_id, order.symbol, order.side, order.quantity, 100.5 + i, 0.01)
    return OrderExecutionResult(order, OrderStatus.FILLED, fills=[fill], metadata={"note": f"n{i}"} if i % 3 == 0 else {})


#: one step of a strategy driving the logger: a batch of n orders (with a context), an
#: order recorded without a new batch, an event, a commit, a flush, a session's write
#: between batches, a pause past the window
STEP = st.one_of(
    st.tuples(st.just("batch"), st.integers(0, 3), st.sampled_from(["clean", "blocked", "other gates"])),
    st.tuples(st.just("order"), st.just(1), st.just("")),
    st.tuples(st.just("event"), st.just(0), st.just("")),
    st.tuples(st.just("commit"), st.just(0), st.just("")),
    st.tuples(st.just("flush"), st.just(0), st.just("")),
    st.tuples(st.just("due"), st.just(0), st.just("")),
    st.tuples(st.just("pause"), st.just(0), st.just("")),
)


def drive(store: StateStore, durability: str, steps: list[tuple[str, int, str]], *, old_layout: bool = False) -> str:
    log = LiveRunLogger(store, durability)
    if old_layout:  # what this code wrote before the batches record existed
        log._grouping = False
    run_id = log.start_run(mode="paper", effective_mode="paper")
    n = batch_no = 0
    for kind, count, context in steps:
        if kind == "batch":
            gates, risk = {"clean": (GATES, CLEAN), "blocked": (GATES, BLOCKED), "other gates": (OTHER_GATES, CLEAN)}[context]
            log.record_batch(run_id, batch_no, gates, risk, executor="paper")
            batch_no += 1
            log.record_orders(run_id, [result(i) for i in range(n, n + count)])
            n += count
        elif kind == "order":
            log.record_order(run_id, result(n))
            n += 1
        elif kind == "event":
            log.record_event(run_id, "alert", {"message": f"after {n} orders"})
        elif kind == "commit":
            log.commit()
        elif kind == "flush":
            log.flush()
        elif kind == "due":
            log.write_due()
        else:
            time.sleep(0.015)  # longer than the window: the background writer may write
    log.commit()
    log.finish_run(run_id, "finished", {"orders": n})
    return run_id


def readable(store: StateStore, run_id: str) -> list[tuple]:
    """What a reader sees of each event, without where (seq) and when it was recorded."""
    return [
        (e.kind, e.batch, e.executor, e.client_order_id, e.side, e.quantity, e.price, e.status, e.reasons, e.fills, e.venue_response, e.extra)
        for e in iter_run_events(store, run_id)
        if e.kind not in ("run", "end")
    ]


def counts(store: StateStore, run_id: str) -> tuple:
    s = load_run_snapshot(store, run_id)
    return s.orders, s.fills, s.status_counts, s.blocks_by_reason


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, max_size=25))
def test_a_group_run_reads_counts_and_verifies_as_the_per_batch_records_do(tmp_path_factory, steps):
    root = tmp_path_factory.mktemp("group")
    stores = {d: StateStore(root / f"{d}.sqlite3") for d in ("batch", "group", "old group")}
    runs = {d: drive(s, d.split()[-1], steps, old_layout=d == "old group") for d, s in stores.items()}
    try:
        for durability, store in stores.items():
            verdict = verify_run(store, runs[durability])
            assert verdict.ok, (durability, verdict.problems)
        plain = readable(stores["batch"], runs["batch"])
        assert readable(stores["group"], runs["group"]) == plain
        assert readable(stores["old group"], runs["old group"]) == plain
        assert counts(stores["group"], runs["group"]) == counts(stores["batch"], runs["batch"])
    finally:
        for store in stores.values():
            store.close()


def test_one_order_per_batch_is_one_record_per_window_not_two_per_order(tmp_path):
    store = StateStore(tmp_path / "state.sqlite3")
    run_id = drive(store, "group", [("batch", 1, "clean"), ("commit", 0, "")] * 500)
    verdict = verify_run(store, run_id)
    # run, the batches of each window written (at most 500, usually a handful), end; the
    # older layout wrote 1,002 records
    assert verdict.ok and verdict.records <= 502
    assert load_run_snapshot(store, run_id).orders == 500
    batches = [e.batch for e in iter_run_events(store, run_id) if e.kind == "batch"]
    assert batches == list(range(500))
    store.close()


@pytest.mark.parametrize("edit", ["batch sizes", "context"])
def test_a_batches_record_rewritten_with_its_chain_recomputed_is_still_checked(tmp_path, edit):
    """The batch sizes must add up to the orders and the context must be a table, even when
    someone recomputed the hashes after editing."""
    import json
    import sqlite3

    from peaktrade_core.runlog.records import chain, encode, pack

    store = StateStore(tmp_path / "state.sqlite3")
    run_id = drive(store, "group", [("batch", 2, "clean"), ("batch", 1, "clean"), ("commit", 0, "")])
    store.close()
    conn = sqlite3.connect(tmp_path / "state.sqlite3")
    rows = conn.execute("SELECT seq, payload, hash FROM runlog_records ORDER BY seq").fetchall()
    (seq,) = [s for s, p, _ in rows if p.startswith('["batches"')]
    record = json.loads(rows[seq][1])
    if edit == "batch sizes":
        record[3]["batch_orders"] = pack("I", [3, 1])
    else:
        record[3]["context"] = "nothing"
    head = rows[seq - 1][2]
    for s, payload, _ in rows[seq:]:
        payload = encode(record) if s == seq else payload
        head = chain(head, payload.encode())
        conn.execute("UPDATE runlog_records SET payload = ?, hash = ? WHERE seq = ?", (payload, head, s))
    conn.execute("UPDATE runlog_runs SET head_hash = ?", (head,))
    conn.commit()
    conn.close()
    verdict = verify_run(StateStore(tmp_path / "state.sqlite3"), run_id)
    assert not verdict.ok and verdict.problems[0] == f"record {seq}: unreadable batches record"


def test_a_group_run_on_either_backend_reads_and_verifies_with_the_audit_key(any_store_url):
    """The same statements on SQLite and PostgreSQL: the windows written by the caller and
    by the background writer (a pause past the window), signed heads, the run sequence."""
    from peaktrade_core.runlog import AuditKeys
    from peaktrade_core.store import open_store_url

    audit = AuditKeys.from_texts("k" * 64)
    store = open_store_url(any_store_url)
    log = LiveRunLogger(store, "group", audit=audit)
    run_id = log.start_run(mode="paper", effective_mode="paper")
    for b in range(40):
        log.record_batch(run_id, b, GATES, BLOCKED if b % 7 == 3 else CLEAN, executor="paper")
        log.record_orders(run_id, [result(b)])
        log.commit()
        if b % 10 == 9:
            time.sleep(0.05)  # the caller goes quiet: the background writer writes the window
    log.finish_run(run_id, "finished", {"orders": 40})
    store.close()
    store = open_store_url(any_store_url)
    verdict = verify_run(store, run_id, audit=audit)
    assert verdict.ok, verdict.problems
    events = list(iter_run_events(store, run_id))
    assert [e.client_order_id for e in events if e.kind == "order"] == [f"o-{b}" for b in range(40)]
    assert [e.extra["risk"] for e in events if e.kind == "batch"] == [BLOCKED if b % 7 == 3 else CLEAN for b in range(40)]
    assert load_run_snapshot(store, run_id).orders == 40
    store.close()


def test_runs_orders_and_verify_read_a_group_run_order_by_order():
    """What an operator runs on a paper session's log: every order, in order, with its
    executor and fills; the chain verifies."""
    import json
    import os

    from click.testing import CliRunner

    from peaktrade_core.cli import cli

    store = StateStore.in_dir(os.environ["PEAK_TRADE_DATA_DIR"])
    run_id = drive(store, "group", [("batch", 1, "clean"), ("commit", 0, ""), ("batch", 1, "blocked"), ("commit", 0, "")] * 5)
    store.close()
    verified = CliRunner().invoke(cli, ["runs", "verify", run_id], catch_exceptions=False)
    # run, one record per batch (the contexts alternate, so no two batches share one), end:
    # the record per batch and the record per order before it made 22
    assert verified.exit_code == 0 and "OK, 12 records verified" in verified.output
    out = CliRunner().invoke(cli, ["runs", "orders", run_id, "--json"], catch_exceptions=False)
    assert out.exit_code == 0
    rows = json.loads(out.output)
    assert sorted(r["client_order_id"] for r in rows) == sorted(f"o-{i}" for i in range(10))
    by_id = {r["client_order_id"]: r for r in rows}
    assert all(r["executor"] == "paper" for r in rows)
    assert by_id["o-0"]["status"] == "filled" and by_id["o-0"]["filled_quantity"] == pytest.approx(0.01)
    assert by_id["o-1"]["status"] == "risk_blocked" and by_id["o-1"]["reasons"] == ["max_order_notional: 1.0 > 500.0"]


@pytest.mark.parametrize("kind", ["run", "batch", "batches", "orders", "order", "end"])
def test_an_event_cannot_take_the_kind_of_a_record_the_reader_interprets(tmp_path, kind):
    """A plugin's or strategy's event named like an order record would be read as orders."""
    store = StateStore.in_dir(tmp_path)
    log = LiveRunLogger(store, "group")
    run_id = log.start_run(mode="paper", effective_mode="paper")
    with pytest.raises(ValueError, match=f"kind: '{kind}' is reserved"):
        log.record_event(run_id, kind, {"status": ["filled"]})
    log.finish_run(run_id, "finished", {"orders": 0})
    assert verify_run(store, run_id).ok
    store.close()


def test_a_commit_returns_only_when_what_was_committed_a_window_before_it_is_written(tmp_path, monkeypatch):
    """The bound of durability ``group`` (what a crash can lose) holds while the background
    writer is slow: a caller that kept committing during a long background write used to
    let the unwritten part grow without limit (1.5 s of a file session's orders)."""
    import threading

    from peaktrade_core.runlog import writer as runlog_writer

    window = runlog_writer.GROUP_WINDOW_SECONDS
    write, background_writing = LiveRunLogger._write, threading.Event()

    def slow_in_the_background(self, *args, **kwargs):
        if threading.current_thread().name == "peaktrade-runlog":
            background_writing.set()
            time.sleep(10 * window)  # a write that takes ten windows (a loaded disk or core)
        return write(self, *args, **kwargs)

    monkeypatch.setattr(LiveRunLogger, "_write", slow_in_the_background)
    store = StateStore.in_dir(tmp_path)
    reader = StateStore.in_dir(tmp_path)
    log = LiveRunLogger(store, "group")
    run_id = log.start_run(mode="paper", effective_mode="paper")
    returned: list[float] = []  # when each order's commit returned

    def commit_one(i: int) -> None:
        log.record_batch(run_id, i, GATES, CLEAN, executor="paper")
        log.record_orders(run_id, [result(i)])
        log.commit()
        returned.append(time.monotonic())

    commit_one(0)
    assert background_writing.wait(timeout=60)  # the caller went quiet: the background writer took it
    for i in range(1, 60):
        started = time.monotonic()
        commit_one(i)
        readable = sum(event.kind == "order" for event in iter_run_events(reader, run_id))
        due = sum(at < started - window for at in returned)
        assert readable >= due, f"commit {i}: {due - readable} order(s) committed over a window ago are not written"
        time.sleep(window / 10)
    log.finish_run(run_id, "finished", {"orders": 60})
    assert sum(event.kind == "order" for event in iter_run_events(reader, run_id)) == 60
    assert verify_run(reader, run_id).ok
    reader.close()
    store.close()


def test_between_batches_a_session_writes_a_nearly_due_window_itself_and_never_waits(tmp_path, monkeypatch):
    """``write_due`` (a session calls it between batches): once the oldest unwritten commit
    is 70 % of a window old, it writes in the caller's thread, so the next decision's commit
    seldom has to; it never waits for a write in flight, and a failure the background writer
    met is left to the next commit, which raises it."""
    import threading

    from peaktrade_core.runlog import writer as runlog_writer

    window = runlog_writer.GROUP_WINDOW_SECONDS
    monkeypatch.setattr(runlog_writer._GroupWriter, "_run", lambda self: None)  # no background writer
    store, reader = StateStore.in_dir(tmp_path), StateStore.in_dir(tmp_path)
    log = LiveRunLogger(store, "group")
    run_id = log.start_run(mode="paper", effective_mode="paper")

    def commit(i: int) -> None:
        log.record_batch(run_id, i, GATES, CLEAN, executor="paper")
        log.record_orders(run_id, [result(i)])
        log.commit()

    def written() -> int:
        return sum(event.kind == "order" for event in iter_run_events(reader, run_id))

    commit(0)
    time.sleep(0.75 * window)
    log.write_due()
    assert written() == 1

    commit(1)
    time.sleep(0.75 * window)
    held, release = threading.Event(), threading.Event()

    def write_in_flight() -> None:
        with log._group._writing:
            held.set()
            release.wait(60)

    other = threading.Thread(target=write_in_flight)
    other.start()
    assert held.wait(60)
    started = time.monotonic()
    log.write_due()  # returns at once, writes nothing
    assert time.monotonic() - started < 10 * window and written() == 1
    release.set()
    other.join()

    log._group._error = OSError("disk full")  # as the background writer keeps it
    log.write_due()
    assert written() == 1
    with pytest.raises(RuntimeError, match="the run log could not be written: disk full"):
        commit(2)
    log.finish_run(run_id, "finished", {"orders": 3})
    assert written() == 3 and verify_run(reader, run_id).ok
    reader.close()
    store.close()
