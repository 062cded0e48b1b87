"""Appending to the run log: :class:`LiveRunLogger` and the group-commit writer."""

from __future__ import annotations

import os
import secrets
import socket
import time
from array import array
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from attrs import Factory, define

from peaktrade_core.killswitch import current_operator
from peaktrade_core.log import logger
from peaktrade_core.orders import OrderExecutionResult
from peaktrade_core.runlog.audit import SEQUENCE_GENESIS, AuditKeys
from peaktrade_core.runlog.liveness import gone_runs, process_start
from peaktrade_core.runlog.models import LiveRunMetadata
from peaktrade_core.runlog.records import (
    DURABILITIES,
    END_STATUSES,
    GENESIS,
    GROUP_WINDOW_SECONDS,
    META_FIELDS,
    chain,
    count_orders,
    encode,
    encode_sorted,
    new_counts,
    now_iso,
    pack,
)
from peaktrade_core.secrets import redact
from peaktrade_core.state import StateStore
from peaktrade_core.store import StateError
from peaktrade_core.store.runlog import SEQUENCE_KEY, RunLogRepository, run_key

#: ``(rid, seq, payload, hash)``: one chain record as written
Record = tuple[int, int, str, bytes]
#: what ``on_commit`` returns: ``(sql, params)``, or a function making them when the
#: transaction is written (a snapshot, encoded once per write: with ``group`` once per window)
Statement = tuple[str, tuple[Any, ...]] | Callable[[], tuple[str, tuple[Any, ...]]]


_NO_VIOLATIONS = {"violations": []}


def _new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@define(slots=True)
class _RunState:
    """What the logger keeps per open run: the chain head, counters (bounded), and the
    uncommitted order buffer."""

    run_id: str
    rid: int
    seq: int
    head: bytes
    #: the batch the buffered results belong to
    orders_batch: int | None = None
    results: list[OrderExecutionResult] = Factory(list)
    #: ``group``: batches recorded since the last commit, each ``[batch_no, ts, encoded
    #: context, results]``; a window's batches become one ``batches`` record, the context
    #: stated once
    batches: list[list[Any]] = Factory(list)
    #: ``group``: the batches committed but not sealed yet (sealed when the window is
    #: written, by whichever thread writes it, under the writer's lock)
    committed: list[list[Any]] = Factory(list)
    counts: dict[str, Any] = Factory(new_counts)
    dirty: bool = False


class LiveRunLogger:
    """Appends to the run log. One logger per pipeline; not thread-safe except
    :meth:`heartbeat`, which only touches the store (itself thread-safe).

    Hot path: :meth:`record_order` / :meth:`record_orders` take the executor's
    :class:`~peaktrade_core.orders.OrderExecutionResult` as is and only buffer a tuple; the
    encoding, hashing and one ``executemany`` happen in :meth:`commit` (durability
    ``group``: once per window, for every batch committed in it).

    ``audit``: the configured audit keys (:func:`~peaktrade_core.runlog.audit.audit_keys_from`);
    with them every commit signs the run's head and each run start and end is appended to
    the signed run sequence.
    """

    def __init__(self, store: StateStore, durability: str = "batch", *, max_pending: int = 10_000, audit: AuditKeys | None = None):
        if durability not in DURABILITIES:
            raise ValueError(f"durability: must be one of {', '.join(DURABILITIES)}, not {durability!r}")
        self.store = store
        self.durability = durability
        self.max_pending = max_pending
        self.audit = audit
        self._sign = audit.current.sign_head if audit is not None else None
        self._per_order = durability == "order"
        self._runs: dict[str, _RunState] = {}
        self._pending: list[Record] = []
        self._pending_orders = 0
        #: called at every :meth:`commit`; its statement runs in the same transaction
        self.on_commit: Callable[[], Statement] | None = None
        #: the last batch context encoded: ``(gate report, executor, encoded)``; the pipeline
        #: hands the same gate report object while the gates stay as they are
        self._context: tuple[Any, str, str] | None = None
        self._group = _GroupWriter(self, GROUP_WINDOW_SECONDS) if durability == "group" else None
        #: ``group``: the batches committed in a window become one ``batches`` record (per
        #: context), encoded and chained when the window is written; ``batch`` and ``order``
        #: keep a ``batch`` record and an ``orders`` / ``order`` record per batch
        self._grouping = durability == "group"
        #: ``group``: some run has committed batches not sealed yet
        self._unsealed = False
        self._repo = RunLogRepository(store)
        #: the lock key of this logger's commits (its newest run's)
        self._key = "runlog"
        if self._per_order:
            store.require_durable_commits()

    # -- run lifecycle

    def start_run(
        self,
        *,
        mode: str,
        effective_mode: str,
        config_sha256: str = "",
        operator: str | None = None,
        strategy: str = "",
        strategy_params: dict[str, Any] | None = None,
        plugin_versions: dict[str, str] | None = None,
        run_id: str | None = None,
    ) -> str:
        """Create the run, chain its metadata as record 0 and commit. Returns the run id."""
        meta = LiveRunMetadata(
            run_id=run_id or _new_run_id(),
            mode=str(mode),
            effective_mode=str(effective_mode),
            config_sha256=config_sha256,
            operator=operator or current_operator(),
            strategy=strategy,
            strategy_params=dict(strategy_params or {}),
            plugin_versions=dict(plugin_versions or {}),
            started_at=now_iso(),
            pid=os.getpid(),
            host=socket.gethostname(),
        )
        record0 = {name: getattr(meta, name) for name in META_FIELDS}
        payload = encode_sorted(["run", 0, time.time(), record0])
        head = chain(GENESIS, payload.encode())
        counts = new_counts()
        columns = {
            "run_id": meta.run_id,
            "mode": meta.mode,
            "effective_mode": meta.effective_mode,
            "config_sha256": meta.config_sha256,
            "operator": meta.operator,
            "strategy": meta.strategy,
            "strategy_params": encode_sorted(meta.strategy_params),
            "plugin_versions": encode_sorted(meta.plugin_versions),
            "started_at": meta.started_at,
            "status": "running",
            "pid": meta.pid,
            "host": meta.host,
            "proc_start": process_start(meta.pid),
            "durability": self.durability,
            "heartbeat_at": time.time(),
            "head_seq": 0,
            "head_hash": head,
            "counts": encode(counts),
            "head_sig": self._sign(meta.run_id, 0, head) if self._sign else None,
            "audit_key_id": self.audit.current.key_id if self.audit else None,
        }
        repo = self._repo
        with repo.transaction(SEQUENCE_KEY if self.audit else run_key(meta.run_id)) as conn:
            rid = repo.insert_run(conn, columns)
            repo.insert_records(conn, [(rid, 0, payload, head)])
            self._sequence(conn, meta.run_id, "start", 0, head)
        self._runs[meta.run_id] = _RunState(run_id=meta.run_id, rid=rid, seq=0, head=head, counts=counts)
        self._key = run_key(meta.run_id)
        logger.info("run {} started ({} / {}, durability {})", meta.run_id, meta.mode, meta.effective_mode, self.durability)
        return meta.run_id

    def finish_run(self, run_id: str, status: str = "finished", summary: dict[str, Any] | None = None) -> None:
        """Commit what is pending, chain the ``end`` record, close the run."""
        if status not in END_STATUSES:
            raise ValueError(f"status: must be one of {', '.join(END_STATUSES)}, not {status!r}")
        state = self._state(run_id)
        self._flush_orders(state)
        ended_at = now_iso()
        summary = dict(summary or {})
        self._append(state, ["end", state.seq + 1, time.time(), {"status": status, "ended_at": ended_at, "summary": summary}])
        extra = self.on_commit() if self.on_commit is not None else None
        self._commit(end=(state, status, ended_at, encode_sorted(summary)), extra=extra)
        del self._runs[run_id]
        if self._group is not None and not self._runs:
            self._group.stop()
        logger.info("run {} {}", run_id, status)

    # -- records

    def record_batch(
        self,
        run_id: str,
        batch_no: int,
        gate_report: dict[str, Any],
        risk: dict[str, Any],
        *,
        executor: str = "",
    ) -> None:
        """The context shared by every order of a batch (gate report, risk result with the
        limits in force, executor), stored once. Orders recorded next belong to it."""
        state = self._state(run_id)
        if state.results:
            self._flush_orders(state)
        state.orders_batch = batch_no
        if risk == _NO_VIOLATIONS:  # the common case: encode the unchanged context once
            cached = self._context
            if cached is None or cached[0] is not gate_report or cached[1] != executor:
                context = encode({"executor": executor, "gate_report": gate_report, "risk": risk})
                self._context = cached = (gate_report, executor, context)
            context = cached[2]
        else:
            context = encode({"executor": executor, "gate_report": gate_report, "risk": risk})
        if self._grouping and type(batch_no) is int:  # encoded with its orders when its window is written
            state.batches.append([batch_no, time.time(), context, []])
            return
        self._flush_orders(state)
        # what encode(record) gives (a float's JSON is its repr)
        head = f'["batch",{state.seq + 1},{time.time()!r},{batch_no}' if type(batch_no) is int else encode(["batch", state.seq + 1, time.time(), batch_no])[:-1]
        self._append_encoded(state, f"{head},{context}]")
        if self._per_order:
            self._commit()

    def record_order(self, run_id: str, result: OrderExecutionResult, batch_no: int | None = None) -> None:
        """One order's outcome, belonging to ``batch_no`` (default: the last
        :meth:`record_batch`). The result is encoded at the next commit (durability
        ``group``: when its window is written): do not mutate it after recording it."""
        state = self._runs[run_id]
        if batch_no is not None and batch_no != state.orders_batch:
            self._flush_orders(state)
            state.orders_batch = batch_no
        if self._per_order:
            self._record_synced(state, result)
            return
        if state.batches:  # the batch recorded last (the orders after a commit start a record)
            state.batches[-1][3].append(result)
        else:
            state.results.append(result)
        self._pending_orders += 1
        if self._pending_orders >= self.max_pending:
            self.commit()

    def record_orders(self, run_id: str, results: list[OrderExecutionResult], batch_no: int | None = None) -> None:
        """:meth:`record_order` for a whole batch at once (the cheapest call)."""
        if self._per_order:
            for result in results:
                self.record_order(run_id, result, batch_no)
            return
        state = self._runs[run_id]
        if batch_no is not None and batch_no != state.orders_batch:
            self._flush_orders(state)
            state.orders_batch = batch_no
        if state.batches:
            state.batches[-1][3].extend(results)
        else:
            state.results.extend(results)
        self._pending_orders += len(results)
        if self._pending_orders >= self.max_pending:
            self.commit()

    def record_event(self, run_id: str, kind: str, data: dict[str, Any]) -> None:
        """Any other chained event (``"session"``, ``"alert"``, …)."""
        if kind in ("run", "batch", "batches", "orders", "order", "end"):
            raise ValueError(f"kind: {kind!r} is reserved; use the dedicated method")
        state = self._state(run_id)
        self._flush_orders(state)
        self._append(state, [kind, state.seq + 1, time.time(), data])
        if self._per_order:
            self._commit()

    def commit(self) -> None:
        """One transaction for everything recorded since the last commit (per batch); with
        durability ``"group"``, committed now (nothing recorded after it joins it) and
        sealed (encoded, hash-chained) and written within the window."""
        group = self._group
        if group is None:
            for state in self._runs.values():
                self._flush_orders(state)
            self._pending_orders = 0
            extra = self.on_commit() if self.on_commit is not None else None
            if self._pending or extra is not None:
                self._commit(extra=extra)
            return
        batches = []  # the runs whose batches are now committed: sealed when the window is written
        for state in self._runs.values():
            if state.results:
                self._flush_orders(state)
            elif state.batches:
                batches.append(state)
        self._pending_orders = 0  # everything recorded is committed now
        extra = self.on_commit() if self.on_commit is not None else None
        if batches or self._pending or self._unsealed or extra is not None:
            group.committed(extra, batches)

    def flush(self) -> None:
        """Durability ``"group"``: seal and write what is committed now, in this thread (no-op otherwise)."""
        if self._group is not None:
            self._group.drain()

    def write_due(self) -> None:
        """Durability ``"group"``: write what is committed if the oldest unwritten commit is
        70 % of a window old, in this thread (a session calls it between batches, so that a
        one-order batch's decision seldom pays for the write; no-op otherwise)."""
        if self._group is not None:
            self._group.write_if_due()

    def heartbeat(self, run_id: str) -> None:
        """"Still alive", for monitors and for abort detection from other hosts."""
        self._repo.heartbeat(run_id, self._state(run_id).rid, time.time())

    def mark_aborted_runs(self, stale_after: float = 600.0) -> list[str]:
        """Mark every run whose process is gone as ``aborted`` (see
        :func:`~peaktrade_core.runlog.liveness.gone_runs`), with a chained ``end`` record.
        Returns the run ids marked."""
        gone = gone_runs(self._repo.running_runs(), stale_after, skip=self._runs)
        return [run_id for run_id, why in gone if self._abort(run_id, why)]

    # -- internals

    def _state(self, run_id: str) -> _RunState:
        try:
            return self._runs[run_id]
        except KeyError:
            raise KeyError(f"run {run_id!r} is not open in this logger") from None

    def _sequence(self, conn: Any, run_id: str, event: str, head_seq: int, head_hash: bytes) -> None:
        """With an audit key: append ``event`` of the run to the signed run sequence."""
        if self.audit is None:
            return
        repo = self._repo
        last = repo.last_sequence_entry(conn)
        seq, previous = (last[0] + 1, last[1]) if last else (1, SEQUENCE_GENESIS)
        key = self.audit.current
        sig = key.sign_entry(seq, run_id, event, head_seq, head_hash, previous)
        repo.append_sequence(conn, (seq, run_id, event, head_seq, head_hash, key.key_id, sig))

    def _append(self, state: _RunState, record: list[Any]) -> None:
        self._append_encoded(state, encode(record))

    def _append_encoded(self, state: _RunState, payload: str) -> None:
        payload = redact(payload)  # a venue's error text may echo a key or a token
        seq = state.seq + 1
        state.head = chain(state.head, payload.encode())
        state.seq = seq
        state.dirty = True
        self._pending.append((state.rid, seq, payload, state.head))

    def _record_synced(self, state: _RunState, result: OrderExecutionResult) -> None:
        """Per-order durability: one small ``order`` record, its own synced transaction."""
        self._append_order(state, result)
        self._commit()

    def _append_order(self, state: _RunState, result: OrderExecutionResult) -> None:
        """One order as its own ``order`` record (cheaper than a one-row ``orders`` record)."""
        order = result.order
        fills = result.fills
        row = [
            order.client_order_id,
            order.symbol,
            order.side,
            order.quantity,
            order.price,
            result.status,
            result.reasons,
            [[f.quantity, f.price, f.fee] for f in fills],
            result.venue_response,
            result.metadata or None,
        ]
        count_orders(state.counts, [result.status], [result.reasons], len(fills))
        self._append(state, ["order", state.seq + 1, time.time(), state.orders_batch, row])

    def _flush_orders(self, state: _RunState) -> None:
        """Everything ``state`` holds in Python into sealed records, in order: the batches
        committed (of every run: they come first), the batches recorded since, the orders
        recorded without a batch."""
        if self._unsealed:
            assert self._group is not None
            with self._group._lock:
                self._seal_committed()
        if state.batches:
            batches, state.batches = state.batches, []
            self._pending_orders -= sum(len(b[3]) for b in batches)
            self._append_batches(state, batches)
        results = state.results
        if not results:
            return
        state.results = []
        self._pending_orders -= len(results)
        if len(results) == 1:  # one order at a time: no columns to pack
            self._append_order(state, results[0])
            return
        self._append(state, ["orders", state.seq + 1, time.time(), state.orders_batch, self._order_columns(state, results)])

    def _seal_committed(self) -> None:
        """``group``, holding the writer's lock, in whichever thread gets there first: every
        run's committed batches into records; what the background writer may write then
        ends after them, with the heads as of them."""
        group = self._group
        assert group is not None
        sealed = False
        for state in self._runs.values():
            if state.committed:
                self._append_batches(state, state.committed)
                state.committed = []
                sealed = True
        mark = group._mark
        if sealed and mark is not None:
            group._mark = (len(self._pending), self._heads(), mark[2])
        self._unsealed = False  # last: the caller's thread reads the chain once this is clear

    def _heads(self) -> list[tuple[int, str, int, bytes, dict[str, Any]]]:
        return [(s.rid, s.run_id, s.seq, s.head, _copy_counts(s.counts)) for s in self._runs.values()]

    def _append_batches(self, state: _RunState, batches: list[list[Any]]) -> None:
        """``["batches", seq, ts, {"context": …, order columns, "batch", "batch_ts",
        "batch_orders"}]``: consecutive batches with the same context, one record."""
        start, n = 0, len(batches)
        while start < n:
            context = batches[start][2]
            end = start + 1
            while end < n and batches[end][2] == context:
                end += 1
            part = batches[start:end] if start or end < n else batches
            results = [r for b in part for r in b[3]] if len(part) > 1 else part[0][3]
            columns = self._order_columns(state, results)
            columns["batch"] = pack("q", [b[0] for b in part])
            columns["batch_ts"] = pack("d", [b[1] for b in part])
            columns["batch_orders"] = pack("I", [len(b[3]) for b in part])
            self._append_encoded(state, f'["batches",{state.seq + 1},{time.time()!r},{{"context":{context},{encode(columns)[1:]}]')
            start = end

    def _order_columns(self, state: _RunState, results: list[OrderExecutionResult]) -> dict[str, Any]:
        """The orders as columns (numbers packed), counted into the run's counters."""
        orders = [r.order for r in results]
        statuses = [r.status for r in results]
        reasons = [r.reasons for r in results]
        fills = [r.fills for r in results]
        fill_counts = array("I", map(len, fills))
        columns = {
            "client_order_id": [o.client_order_id for o in orders],
            "symbol": [o.symbol for o in orders],
            "side": [o.side for o in orders],
            "status": statuses,
            "reasons": reasons,
            "venue_response": [r.venue_response for r in results],
            "metadata": [r.metadata or None for r in results],
            "quantity": pack("d", [o.quantity for o in orders]),
            "price": pack("d", [o.price for o in orders]),
            "fill_count": pack("I", fill_counts),
            "fills": pack("d", [x for fs in fills for f in fs for x in (f.quantity, f.price, f.fee)]),
        }
        count_orders(state.counts, statuses, reasons, sum(fill_counts))
        return columns

    def _seal(self) -> tuple[list[Record], list[tuple[Any, ...]]]:
        """Take the pending records and the run rows they move (heads, signatures, counts,
        heartbeat)."""
        now = time.time()
        sign = self._sign
        rows = [
            (s.seq, s.head, sign(s.run_id, s.seq, s.head) if sign else None, encode(s.counts), now, s.rid)
            for s in self._runs.values()
            if s.dirty
        ]
        for s in self._runs.values():
            s.dirty = False
        records, self._pending = self._pending, []
        return records, rows

    def _head_rows(self, heads: list[tuple[int, str, int, bytes, dict[str, Any]]]) -> list[tuple[Any, ...]]:
        """The run rows of ``(rid, run id, seq, head, counts)`` as of a commit (group writes)."""
        now = time.time()
        sign = self._sign
        return [(seq, head, sign(run_id, seq, head) if sign else None, encode(counts), now, rid) for rid, run_id, seq, head, counts in heads]

    def _commit(self, end: tuple[_RunState, str, str, str] | None = None, extra: Statement | None = None) -> None:
        if self._group is not None:  # what is sealed goes first: the chain stays in order
            self._group.drain()
        sealed = self._seal()
        try:
            self._write([sealed], extra, end)
        except BaseException:  # the records stay, so a retried commit writes them in order
            self._pending[:0] = sealed[0]
            for s in self._runs.values():
                s.dirty = True
            raise

    def _write(
        self,
        sealed: list[tuple[list[Record], list[tuple[Any, ...]]]],
        extra: Statement | None,
        end: tuple[_RunState, str, str, str] | None = None,
        repo: RunLogRepository | None = None,
    ) -> None:
        records = [r for part, _ in sealed for r in part] if len(sealed) > 1 else sealed[0][0] if sealed else []
        heads = {row[-1]: row for _, rows in sealed for row in rows}  # per run, the newest head counts
        repo = repo or self._repo
        key = SEQUENCE_KEY if end is not None and self.audit is not None else self._key
        with repo.transaction(key) as conn:
            repo.insert_records(conn, records)
            repo.move_heads(conn, heads.values())
            if extra is not None:
                conn.execute(*(extra() if callable(extra) else extra))
            if end is not None:
                state, status, ended_at, summary = end
                repo.end_run(conn, state.rid, status, ended_at, summary)
                self._sequence(conn, state.run_id, "end", state.seq, state.head)

    def _abort(self, run_id: str, why: str) -> bool:
        repo = self._repo
        with repo.transaction(SEQUENCE_KEY if self.audit else run_key(run_id)) as conn:
            row = repo.head_for_update(conn, run_id)
            if row is None or row[1] != "running":
                return False  # another process got there first
            rid, _status, head_seq, head_hash, key_id = row
            ended_at = now_iso()
            summary = {"reason": why}
            seq = head_seq + 1
            payload = encode(["end", seq, time.time(), {"status": "aborted", "ended_at": ended_at, "summary": summary}])
            head = chain(head_hash, payload.encode())
            repo.insert_records(conn, [(rid, seq, payload, head)])
            # a run from before the key stays unsigned; a signed one without the key here
            # keeps its key id with no signature (verify says so)
            signed = key_id is not None and self.audit is not None
            sig = self.audit.current.sign_head(run_id, seq, head) if signed else None
            key_id = self.audit.current.key_id if signed else key_id
            repo.abort_run(conn, rid, ended_at, encode_sorted(summary), seq, head, sig, key_id)
            if signed:
                self._sequence(conn, run_id, "end", seq, head)
        logger.warning("run {} marked aborted: {}", run_id, why)
        return True


class _GroupWriter:
    """Durability ``"group"``: what :meth:`LiveRunLogger.commit` committed is sealed
    (encoded into ``batches`` records and hash-chained, in order, under ``_lock``) and
    written in one transaction per window instead of one per commit. The caller seals and
    writes it itself at a commit once 80 % of the window has passed since the oldest
    unwritten commit (no thread hand-off while orders keep coming); a daemon thread seals
    and writes what a caller that went quiet left, once the window has passed. A
    failed write keeps its records and is raised in the logger's thread at the next commit
    (fail closed)."""

    def __init__(self, log: LiveRunLogger, window: float):
        import threading

        # the caller writes a little before the window ends, so the background writer (whose
        # every wake-up costs the caller a thread switch) seldom has to; a session between
        # batches earlier still, so that the commit inside a decision seldom does
        self._log, self._window, self._early, self._between = log, window, window * 0.8, window * 0.7
        #: guards what the two threads share: the mark, the oldest time, the error
        self._lock = threading.Lock()
        #: held for each write: one at a time, in order
        self._writing = threading.Lock()
        #: the newest commit: ``(records sealed up to it, heads as of it, its extra
        #: statement)``; ``(None, None, extra)`` while committed batches wait to be sealed
        #: (the writer seals them first: then everything pending is committed)
        self._mark: tuple[int | None, list[tuple[Any, ...]] | None, Statement | None] | None = None
        #: ``time.monotonic()`` of the oldest commit not written yet
        self._oldest: float | None = None
        #: the same of what the background writer is writing now (not readable until it is done)
        self._in_flight: float | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._threading = threading
        #: the background writer's own connection (a write never waits for the caller's)
        self._store: StateStore | None = None
        self._repo: RunLogRepository | None = None

    def committed(self, extra: Statement | None, runs: list[_RunState]) -> None:
        """The caller's :meth:`LiveRunLogger.commit` (``runs``: those with batches to
        commit): write now if the oldest unwritten commit is 80 % of a window old, else mark
        what the background writer may write. Once it is a whole window old, wait for a
        write in flight instead of committing more: a caller that kept going while the
        background writer sealed a window would grow the next one without bound (what a
        crash loses, and memory)."""
        log = self._log
        if self._error is not None:
            self._raise()
        now = time.monotonic()
        oldest = self._in_flight or self._oldest
        if (
            oldest is not None
            and now - oldest >= self._early
            and self._writing.acquire(blocking=now - oldest >= self._window)
        ):
            try:
                if self._error is not None:  # the write it waited for failed: that is the news
                    self._raise()
                if runs:
                    with self._lock:
                        _commit_batches(log, runs)
                self._write_all(extra)
            finally:
                self._writing.release()
            return
        with self._lock:
            if runs:
                _commit_batches(log, runs)
            extra = extra if extra is not None else self._mark[2] if self._mark else None
            # committed batches not sealed yet: the writer seals them, then writes it all
            self._mark = (None, None, extra) if log._unsealed else (len(log._pending), log._heads(), extra)
            if self._oldest is None:
                self._oldest = now
        if self._thread is None:
            with self._lock:  # a retiring thread clears it under the same lock
                start = self._thread is None
                if start:
                    self._thread = self._threading.Thread(target=self._run, name="peaktrade-runlog", daemon=True)
            if start:
                self._thread.start()

    def drain(self) -> None:
        """Write everything sealed now, in this thread, with the heads as they are (a
        failure here raises; one the background writer met before is retried, not
        reported twice)."""
        with self._writing:
            with self._lock:
                self._error = None
                mark, self._mark = self._mark, None
            if self._log._pending or self._log._unsealed or mark is not None:
                self._write_all(mark[2] if mark is not None else None)

    def write_if_due(self) -> None:
        """:meth:`LiveRunLogger.write_due`: never waits for a write in flight, and leaves a
        failure the background writer met to the next commit, which raises it."""
        oldest = self._oldest
        if oldest is None or time.monotonic() - oldest < self._between or self._error is not None:
            return
        if self._writing.acquire(blocking=False):
            try:
                if self._error is None:
                    self._write_all(None)
            finally:
                self._writing.release()

    def stop(self) -> None:
        self.drain()
        self._stopping = True
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        self._stopping = False
        if self._store is not None and self._store is not self._log.store:
            self._store.close()
        self._store = self._repo = None

    def _write_all(self, extra: Statement | None) -> None:
        """Caller's thread, holding ``_writing``: every pending record, heads as they are."""
        log = self._log
        with self._lock:
            if log._unsealed:
                log._seal_committed()
            records = log._pending[:]
            del log._pending[: len(records)]
            mark, self._mark, self._oldest = self._mark, None, None
        if extra is None and mark is not None:
            extra = mark[2]
        heads = [(s.rid, s.run_id, s.seq, s.head, s.counts) for s in log._runs.values()]
        try:
            log._write([(records, log._head_rows(heads))], extra)
        except BaseException:  # raised to the caller; its next commit marks them again
            with self._lock:
                log._pending[:0] = records
                self._oldest = self._oldest or time.monotonic()
            raise

    def _write_marked(self) -> None:
        """Background thread: the records up to the newest commit, heads as of it."""
        log = self._log
        with self._writing:
            with self._lock:
                if self._mark is None or self._error is not None:
                    return
                if log._unsealed:  # encoded and chained here: the caller went quiet
                    log._seal_committed()
                mark, self._mark = self._mark, None
                count, heads, extra = mark
                records = log._pending[:count]
                del log._pending[:count]
                self._in_flight, self._oldest = self._oldest, None
            try:
                if self._repo is None:
                    own = log.store
                    self._store = own if own.in_memory else own.reopen()
                    self._repo = RunLogRepository(self._store)
                log._write([(records, log._head_rows(heads))], extra, repo=self._repo)
            except BaseException as exc:  # kept for the logger's thread; nothing is lost
                with self._lock:
                    log._pending[:0] = records
                    if self._mark is None:
                        self._mark = (count, heads, extra)
                    else:  # a newer commit came meanwhile: its mark now covers these too
                        newer = self._mark[0]  # None: counted when its batches are sealed
                        self._mark = (None if newer is None else newer + count, self._mark[1], self._mark[2] or extra)
                    self._error = exc
            finally:
                self._in_flight = None

    def _raise(self) -> None:
        with self._lock:
            error, self._error = self._error, None
        if error is None:
            return
        if isinstance(error, StateError):  # the store is gone or broken: the session's own handling
            raise type(error)(f"the run log could not be written: {error}") from error
        raise RuntimeError(f"the run log could not be written: {error}") from error

    def _run(self) -> None:
        # polls instead of being woken per commit: waking a thread costs the caller more
        # than the write it saves
        idle = 0
        while not self._stopping:
            oldest = self._oldest
            if oldest is None:
                idle += 1
                if idle >= _IDLE_POLLS and self._retire():
                    return
                time.sleep(self._window)
                continue
            idle = 0
            wait = oldest + self._window - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, self._window))
                continue
            self._write_marked()
            if self._error is not None and self._retire(force=True):
                return  # the caller raises it at its next commit and writes there

    def _retire(self, force: bool = False) -> bool:
        """End this thread when nothing waits to be written (or a write failed): an
        abandoned logger leaves no thread behind; the next commit starts a new one."""
        with self._lock:
            if force or (self._oldest is None and self._mark is None):
                if self._thread is self._threading.current_thread():
                    self._thread = None
                return True
        return False


#: polls of the window with nothing to write before the background writer ends (~1 s)
_IDLE_POLLS = 100


def _commit_batches(log: LiveRunLogger, runs: list[_RunState]) -> None:
    """Holding the writer's lock: the runs' batches recorded since the last commit join
    the committed ones (sealed by whichever thread writes the window)."""
    for state in runs:
        state.committed += state.batches
        state.batches = []
    log._unsealed = True


def _copy_counts(counts: dict[str, Any]) -> dict[str, Any]:
    return {"orders": counts["orders"], "fills": counts["fills"], "status": dict(counts["status"]), "reasons": dict(counts["reasons"])}
