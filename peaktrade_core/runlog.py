"""The tamper-evident run log (RUN-1 … RUN-4): what a run did, order by order, provably.

Layout (two tables in the :class:`~peaktrade_core.state.StateStore`, SQLite WAL):

``runlog_records`` (rid, seq, payload, hash)
    The append-only chain. ``payload`` is compact JSON text whose first two elements are
    the record kind and its ``seq``; ``hash = blake2b(previous hash + payload, 32 bytes)``
    (the previous hash of record 0 is 32 zero bytes; record 0 names the run id, so records
    cannot be spliced between runs). Record kinds:

    - ``["run", 0, ts, {metadata}]`` — the run's :class:`LiveRunMetadata` as started;
    - ``["batch", seq, ts, batch_no, {"executor", "gate_report", "risk"}]`` — per-batch
      context, stored once per batch (RUN-2: which gates and limits were in force);
    - ``["orders", seq, ts, batch_no, [entry, …]]`` — order outcomes, one entry per order:
      ``[client_order_id, symbol, side, quantity, price, status, reasons,
      [[fill_qty, fill_price, fee], …], venue_response, metadata]``: one record holds
      every order of a commit (durability ``"batch"`` / ``"group"``);
    - ``["order", seq, ts, batch_no, entry]`` — one order: every order with durability
      ``"order"``, and a commit that holds a single order in the other modes;
    - ``[kind, seq, ts, {data}]`` — anything else (``"session"``, ``"alert"`` …) via
      :meth:`LiveRunLogger.record_event`;
    - ``["end", seq, ts, {"status", "ended_at", "summary"}]`` — finish, failure or abort.

``runlog_runs`` (one row per run)
    The metadata as columns (compared with record 0 by :func:`verify_run`), plus the
    mutable monitoring state updated in the *same transaction* as the records: chain head
    (``head_seq``, ``head_hash`` — so deleting the newest records is detected too),
    counters, heartbeat, status, pid/host/process start time (abort detection).

Why one record per commit rather than per order: the hot path budget is ~3 µs per order;
one executemany row per order plus per-order JSON and hashing costs about three times
that. Orders are buffered as tuples and encoded with the C JSON encoder at commit; one
byte changed anywhere still fails :func:`verify_run` naming the record (its ``seq``) and
the batch it belongs to. Memory stays flat: only the uncommitted buffer and a few counters
live in Python (a buffer reaching ``max_pending`` orders is committed on its own).

Durability: ``"batch"`` (default) — the pipeline calls :meth:`LiveRunLogger.commit` once
per batch, one transaction each. ``"order"`` — every record is its own transaction and the
store's connection is switched to ``PRAGMA synchronous=FULL`` (this affects every user of
that ``StateStore``). ``"group"`` — :meth:`~LiveRunLogger.commit` seals the batch's records
(encoded and hash-chained at once, in order) and a background writer stores everything
sealed within ``GROUP_WINDOW_SECONDS`` in one transaction: the caller never waits for the
disk, and a process that dies loses at most the batches sealed in the last window (and the
one being written). SIGKILL never loses a committed transaction in any mode (WAL); the
difference is power loss and how much is uncommitted when the process dies.

:attr:`LiveRunLogger.on_commit` adds one statement to the transaction of every batch's
commit (the pipeline writes the paper account there, so the account and the log agree).

Aborted runs: a run left ``running`` is marked ``aborted`` by :meth:`mark_aborted_runs`
(call it at start-up) when its process is gone — same host: the pid no longer exists, is a
zombie, or now belongs to a different process (start time differs); other host: its
heartbeat is older than ``stale_after`` seconds. A live process on this host is never
marked aborted, however old its heartbeat. Marking appends a chained ``end`` record.

The counters behind :func:`load_run_snapshot` are a monitoring cache; :func:`verify_run`
recomputes them from the records and reports any difference.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
import sqlite3
import sys
import time
from array import array
from base64 import b64decode, b64encode
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from hashlib import blake2b
from pathlib import Path
from typing import Any

from attrs import Factory, asdict, define, frozen

from peaktrade_core.killswitch import current_operator
from peaktrade_core.log import logger
from peaktrade_core.orders import OrderExecutionResult, OrderStatus
from peaktrade_core.secrets import redact
from peaktrade_core.state import StateStore

DURABILITIES = ("batch", "order", "group")
#: durability "group": the longest a committed batch waits before a background writer puts
#: it (with every other batch of the window) into the store in one transaction
GROUP_WINDOW_SECONDS = 0.01
RUN_STATUSES = ("running", "finished", "failed", "aborted", "interrupted")
#: interrupted: stopped by SIGTERM/SIGINT after the batch in hand, with its summary
END_STATUSES = ("finished", "failed", "aborted", "interrupted")
#: distinct "blocks by reason" keys kept per run; the rest count as OTHER_REASON
MAX_REASON_KEYS = 100
OTHER_REASON = "(other reasons)"
GENESIS = bytes(32)
_BIG_ENDIAN = sys.byteorder == "big"
#: statuses whose reasons are counted as "blocks by reason"
_BLOCKED = frozenset({OrderStatus.RISK_BLOCKED.value, OrderStatus.GATE_BLOCKED.value})
#: metadata fields that live in record 0 and as columns of ``runlog_runs``
_META_FIELDS = (
    "run_id",
    "mode",
    "effective_mode",
    "config_sha256",
    "operator",
    "strategy",
    "strategy_params",
    "plugin_versions",
    "started_at",
    "pid",
    "host",
)
_JSON_META = ("strategy_params", "plugin_versions")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runlog_runs (
    rid INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    mode TEXT NOT NULL,
    effective_mode TEXT NOT NULL,
    config_sha256 TEXT NOT NULL,
    operator TEXT NOT NULL,
    strategy TEXT NOT NULL,
    strategy_params TEXT NOT NULL,
    plugin_versions TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    proc_start TEXT NOT NULL,
    durability TEXT NOT NULL,
    summary TEXT,
    heartbeat_at REAL NOT NULL,
    head_seq INTEGER NOT NULL,
    head_hash BLOB NOT NULL,
    counts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runlog_runs_status ON runlog_runs (status);
CREATE TABLE IF NOT EXISTS runlog_records (
    rid INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    payload TEXT NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (rid, seq)
) WITHOUT ROWID;
"""


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "__attrs_attrs__"):
        return asdict(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


# Built once: json.dumps with options builds a new encoder per call (slow on the hot path).
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False, default=_json_default).encode
_encode_sorted = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, sort_keys=True, default=_json_default
).encode


def _chain(prev: bytes, payload: bytes) -> bytes:
    return blake2b(prev + payload, digest_size=32).digest()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _epoch(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


def _new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _process_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (Linux), so a reused pid is not mistaken for the
    run's process. Empty where /proc does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid: int, proc_start: str = "") -> bool:
    """Is the process that started a run still there (on this host)?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS, BSD): existence is all we can tell
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # killed, not yet reaped: gone for our purposes
        return False
    return not proc_start or fields[19] == proc_start


def reason_key(reason: str) -> str:
    """Blocks are counted by the reason's leading code (``max_order_notional: 1200 > 1000``
    counts as ``max_order_notional``) so numbers in messages do not explode the table."""
    return reason.split(":", 1)[0].strip()[:80] or "(no reason)"


# -- models -------------------------------------------------------------------------------


@frozen
class LiveRunMetadata:
    """Who ran what, how, when. Everything but ``ended_at``, ``status`` and ``summary`` is
    fixed at start and chained as record 0."""

    run_id: str
    mode: str
    effective_mode: str
    config_sha256: str
    operator: str
    strategy: str
    strategy_params: dict[str, Any] = Factory(dict)
    plugin_versions: dict[str, str] = Factory(dict)
    started_at: str = ""
    ended_at: str | None = None
    status: str = "running"
    pid: int = 0
    host: str = ""
    summary: dict[str, Any] = Factory(dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@frozen
class LiveRunEvent:
    """One recorded event as read back by :func:`iter_run_events`. ``seq`` is the chain
    record holding it (all orders of one commit share it); for orders, ``executor`` comes
    from the batch record and ``timestamp`` is when the record was written."""

    seq: int
    kind: str
    timestamp: float
    client_order_id: str | None = None
    symbol: str | None = None
    side: str | None = None
    quantity: float | None = None
    price: float | None = None
    status: str | None = None
    reasons: list[str] = Factory(list)
    executor: str | None = None
    fills: list[dict[str, float]] = Factory(list)
    venue_response: dict[str, Any] | None = None
    batch: int | None = None
    extra: dict[str, Any] = Factory(dict)


@frozen
class VerifyResult:
    run_id: str
    ok: bool
    records: int
    problems: list[str]


@define(slots=True)
class LiveRunSnapshot:
    """Monitoring view of one run (RUN-3/RUN-4). Rates are per second over the run's
    elapsed time (start to end, or to the last heartbeat while running)."""

    run_id: str
    mode: str
    effective_mode: str
    status: str
    strategy: str
    operator: str
    started_at: str
    ended_at: str | None
    last_heartbeat: str
    heartbeat_age_s: float
    elapsed_s: float
    records: int
    #: hex hash of the newest record: note it somewhere else to anchor the chain
    head_hash: str
    orders: int
    fills: int
    filled: int
    accepted: int
    rejected: int
    risk_blocked: int
    gate_blocked: int
    errors: int
    orders_per_s: float
    fills_per_s: float
    risk_blocks_per_s: float
    gate_blocks_per_s: float
    errors_per_s: float
    status_counts: dict[str, int]
    blocks_by_reason: dict[str, int]
    durability: str
    pid: int
    host: str
    #: ``False``: the run says running but its process on this host is gone
    process_alive: bool | None
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _new_counts() -> dict[str, Any]:
    return {"orders": 0, "fills": 0, "status": {}, "reasons": {}}


def _count_orders(counts: dict[str, Any], statuses: list[str], reasons: list[list[str]], fills: int) -> None:
    """Add one orders record to the counters (the logger and verify_run share this)."""
    counts["orders"] += len(statuses)
    counts["fills"] += fills
    by_status = counts["status"]
    for status, n in Counter(statuses).items():
        by_status[status] = by_status.get(status, 0) + n
    by_reason = counts["reasons"]
    for status, why in zip(statuses, reasons, strict=True):
        if why and status in _BLOCKED:
            for reason in why:
                key = reason_key(reason)
                if key not in by_reason and len(by_reason) >= MAX_REASON_KEYS:
                    key = OTHER_REASON
                by_reason[key] = by_reason.get(key, 0) + 1


def _pack(typecode: str, values: Iterable[Any]) -> str:
    """Numbers as base64 of little-endian ``array`` bytes: repr() of floats would be most
    of the cost of an order's record. ``None`` (market order without a price) is NaN."""
    try:
        packed = array(typecode, values)
    except TypeError:
        packed = array(typecode, [math.nan if v is None else v for v in values])
    if _BIG_ENDIAN:
        packed.byteswap()
    return b64encode(packed.tobytes()).decode()


def _unpack(typecode: str, text: str) -> list[Any]:
    packed = array(typecode, b64decode(text))
    if _BIG_ENDIAN:
        packed.byteswap()
    return [None if v != v else v for v in packed] if typecode == "d" else packed.tolist()


@define(slots=True)
class _RunState:
    """What the logger keeps per open run: the chain head, counters (bounded), and the
    uncommitted order buffer."""

    rid: int
    seq: int
    head: bytes
    #: the batch the buffered results belong to
    orders_batch: int | None = None
    results: list[OrderExecutionResult] = Factory(list)
    counts: dict[str, Any] = Factory(_new_counts)
    dirty: bool = False


# -- the logger ---------------------------------------------------------------------------


class LiveRunLogger:
    """Appends to the run log. One logger per pipeline; not thread-safe except
    :meth:`heartbeat`, which only touches the store (itself thread-safe).

    Hot path: :meth:`record_order` / :meth:`record_orders` take the executor's
    :class:`~peaktrade_core.orders.OrderExecutionResult` as is and only buffer a tuple; the
    encoding, hashing and one ``executemany`` happen in :meth:`commit`.
    """

    def __init__(self, store: StateStore, durability: str = "batch", *, max_pending: int = 10_000):
        if durability not in DURABILITIES:
            raise ValueError(f"durability: must be one of {', '.join(DURABILITIES)}, not {durability!r}")
        self.store = store
        self.durability = durability
        self.max_pending = max_pending
        self._per_order = durability == "order"
        self._runs: dict[str, _RunState] = {}
        self._pending: list[tuple[int, int, str, bytes]] = []
        self._pending_orders = 0
        #: called at every :meth:`commit`; its ``(sql, params)`` runs in the same transaction
        self.on_commit: Callable[[], tuple[str, tuple[Any, ...]]] | None = None
        self._group = _GroupWriter(self, GROUP_WINDOW_SECONDS) if durability == "group" else None
        store.ensure_schema("runlog", _SCHEMA)
        if self._per_order:
            store.query("PRAGMA synchronous=FULL")

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
            started_at=_now_iso(),
            pid=os.getpid(),
            host=socket.gethostname(),
        )
        record0 = {name: getattr(meta, name) for name in _META_FIELDS}
        payload = _encode_sorted(["run", 0, time.time(), record0])
        head = _chain(GENESIS, payload.encode())
        counts = _new_counts()
        with self.store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runlog_runs (run_id, mode, effective_mode, config_sha256, operator, strategy,"
                " strategy_params, plugin_versions, started_at, status, pid, host, proc_start, durability,"
                " heartbeat_at, head_seq, head_hash, counts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, 0, ?, ?)",
                (
                    meta.run_id,
                    meta.mode,
                    meta.effective_mode,
                    meta.config_sha256,
                    meta.operator,
                    meta.strategy,
                    _encode_sorted(meta.strategy_params),
                    _encode_sorted(meta.plugin_versions),
                    meta.started_at,
                    meta.pid,
                    meta.host,
                    _process_start(meta.pid),
                    self.durability,
                    time.time(),
                    head,
                    _encode(counts),
                ),
            )
            rid = cur.lastrowid
            conn.execute("INSERT INTO runlog_records (rid, seq, payload, hash) VALUES (?, 0, ?, ?)", (rid, payload, head))
        self._runs[meta.run_id] = _RunState(rid=rid, seq=0, head=head, counts=counts)
        logger.info("run {} started ({} / {}, durability {})", meta.run_id, meta.mode, meta.effective_mode, self.durability)
        return meta.run_id

    def finish_run(self, run_id: str, status: str = "finished", summary: dict[str, Any] | None = None) -> None:
        """Commit what is pending, chain the ``end`` record, close the run."""
        if status not in END_STATUSES:
            raise ValueError(f"status: must be one of {', '.join(END_STATUSES)}, not {status!r}")
        state = self._state(run_id)
        self._flush_orders(state)
        ended_at = _now_iso()
        summary = dict(summary or {})
        self._append(state, ["end", state.seq + 1, time.time(), {"status": status, "ended_at": ended_at, "summary": summary}])
        extra = self.on_commit() if self.on_commit is not None else None
        self._commit(end=(state, status, ended_at, _encode_sorted(summary)), extra=extra)
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
        self._flush_orders(state)
        state.orders_batch = batch_no
        self._append(
            state,
            ["batch", state.seq + 1, time.time(), batch_no, {"executor": executor, "gate_report": gate_report, "risk": risk}],
        )
        if self._per_order:
            self._commit()

    def record_order(self, run_id: str, result: OrderExecutionResult, batch_no: int | None = None) -> None:
        """One order's outcome, belonging to ``batch_no`` (default: the last
        :meth:`record_batch`). The result is encoded at the next commit: do not mutate it
        after recording it."""
        state = self._runs[run_id]
        if batch_no is not None and batch_no != state.orders_batch:
            self._flush_orders(state)
            state.orders_batch = batch_no
        if self._per_order:
            self._record_synced(state, result)
            return
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
        state.results.extend(results)
        self._pending_orders += len(results)
        if self._pending_orders >= self.max_pending:
            self.commit()

    def record_event(self, run_id: str, kind: str, data: dict[str, Any]) -> None:
        """Any other chained event (``"session"``, ``"alert"``, …)."""
        if kind in ("run", "batch", "orders", "order", "end"):
            raise ValueError(f"kind: {kind!r} is reserved; use the dedicated method")
        state = self._state(run_id)
        self._flush_orders(state)
        self._append(state, [kind, state.seq + 1, time.time(), data])
        if self._per_order:
            self._commit()

    def commit(self) -> None:
        """One transaction for everything recorded since the last commit (per batch); with
        durability ``"group"``, sealed now and written within the window."""
        for state in self._runs.values():
            self._flush_orders(state)
        extra = self.on_commit() if self.on_commit is not None else None
        if self._group is not None:
            self._group.add(self._seal(), extra)
        elif self._pending or extra is not None:
            self._commit(extra=extra)

    def flush(self) -> None:
        """Durability ``"group"``: write what is sealed now, in this thread (no-op otherwise)."""
        if self._group is not None:
            self._group.drain()

    def heartbeat(self, run_id: str) -> None:
        """"Still alive", for monitors and for abort detection from other hosts."""
        rid = self._state(run_id).rid
        with self.store.transaction() as conn:
            conn.execute("UPDATE runlog_runs SET heartbeat_at = ? WHERE rid = ?", (time.time(), rid))

    def mark_aborted_runs(self, stale_after: float = 600.0) -> list[str]:
        """Mark every run whose process is gone as ``aborted`` (see the module docstring).
        Returns the run ids marked."""
        here = socket.gethostname()
        now = time.time()
        marked = []
        rows = self.store.query(
            "SELECT run_id, pid, host, proc_start, heartbeat_at FROM runlog_runs WHERE status = 'running'"
        )
        for row in rows:
            if row["run_id"] in self._runs:
                continue
            if row["host"] == here:
                if process_alive(row["pid"], row["proc_start"]):
                    continue
                why = f"process {row['pid']} on {here} is gone"
            else:
                age = now - row["heartbeat_at"]
                if age <= stale_after:
                    continue
                why = f"no heartbeat from {row['host']} for {age:.0f} s"
            if self._abort(row["run_id"], why):
                marked.append(row["run_id"])
        return marked

    # -- internals

    def _state(self, run_id: str) -> _RunState:
        try:
            return self._runs[run_id]
        except KeyError:
            raise KeyError(f"run {run_id!r} is not open in this logger") from None

    def _append(self, state: _RunState, record: list[Any]) -> None:
        payload = redact(_encode(record))  # a venue's error text may echo a key or a token
        seq = state.seq + 1
        state.head = _chain(state.head, payload.encode())
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
        _count_orders(state.counts, [result.status], [result.reasons], len(fills))
        self._append(state, ["order", state.seq + 1, time.time(), state.orders_batch, row])

    def _flush_orders(self, state: _RunState) -> None:
        results = state.results
        if not results:
            return
        state.results = []
        self._pending_orders -= len(results)
        if len(results) == 1:  # one order at a time: no columns to pack
            self._append_order(state, results[0])
            return
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
            "quantity": _pack("d", [o.quantity for o in orders]),
            "price": _pack("d", [o.price for o in orders]),
            "fill_count": _pack("I", fill_counts),
            "fills": _pack("d", [x for fs in fills for f in fs for x in (f.quantity, f.price, f.fee)]),
        }
        _count_orders(state.counts, statuses, reasons, sum(fill_counts))
        self._append(state, ["orders", state.seq + 1, time.time(), state.orders_batch, columns])

    def _seal(self) -> tuple[list[tuple[int, int, str, bytes]], list[tuple[Any, ...]]]:
        """Take the pending records and the run rows they move (heads, counts, heartbeat)."""
        now = time.time()
        rows = [(s.seq, s.head, _encode(s.counts), now, s.rid) for s in self._runs.values() if s.dirty]
        for s in self._runs.values():
            s.dirty = False
        records, self._pending = self._pending, []
        return records, rows

    def _commit(self, end: tuple[_RunState, str, str, str] | None = None, extra: tuple[str, tuple[Any, ...]] | None = None) -> None:
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
        sealed: list[tuple[list[tuple[int, int, str, bytes]], list[tuple[Any, ...]]]],
        extra: tuple[str, tuple[Any, ...]] | None,
        end: tuple[_RunState, str, str, str] | None = None,
        store: StateStore | None = None,
    ) -> None:
        records = [r for part, _ in sealed for r in part] if len(sealed) > 1 else sealed[0][0] if sealed else []
        heads = {row[-1]: row for _, rows in sealed for row in rows}  # per run, the newest head counts
        with (store or self.store).transaction() as conn:
            conn.executemany("INSERT INTO runlog_records (rid, seq, payload, hash) VALUES (?, ?, ?, ?)", records)
            conn.executemany("UPDATE runlog_runs SET head_seq = ?, head_hash = ?, counts = ?, heartbeat_at = ? WHERE rid = ?", heads.values())
            if extra is not None:
                conn.execute(*extra)
            if end is not None:
                state, status, ended_at, summary = end
                conn.execute(
                    "UPDATE runlog_runs SET status = ?, ended_at = ?, summary = ? WHERE rid = ?",
                    (status, ended_at, summary, state.rid),
                )

    def _abort(self, run_id: str, why: str) -> bool:
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT rid, status, head_seq, head_hash FROM runlog_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None or row[1] != "running":
                return False  # another process got there first
            rid, _status, head_seq, head_hash = row
            ended_at = _now_iso()
            summary = {"reason": why}
            payload = _encode(["end", head_seq + 1, time.time(), {"status": "aborted", "ended_at": ended_at, "summary": summary}])
            head = _chain(head_hash, payload.encode())
            conn.execute(
                "INSERT INTO runlog_records (rid, seq, payload, hash) VALUES (?, ?, ?, ?)", (rid, head_seq + 1, payload, head)
            )
            conn.execute(
                "UPDATE runlog_runs SET status = 'aborted', ended_at = ?, summary = ?, head_seq = ?, head_hash = ?"
                " WHERE rid = ?",
                (ended_at, _encode_sorted(summary), head_seq + 1, head, rid),
            )
        logger.warning("run {} marked aborted: {}", run_id, why)
        return True


class _GroupWriter:
    """Durability ``"group"``: writes what :meth:`LiveRunLogger.commit` sealed, in order,
    one transaction per window, from a daemon thread. A failed write keeps its records
    and is raised in the logger's thread at the next commit (fail closed)."""

    def __init__(self, log: LiveRunLogger, window: float):
        import threading

        self._log, self._window = log, window
        #: a connection of its own, so the pipeline's reads (kill switch) never wait for a write
        self._store: StateStore | None = None
        self._cond = threading.Condition()
        self._queue: list[Any] = []
        self._extra: tuple[str, tuple[Any, ...]] | None = None
        self._busy = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._threading = threading

    def add(self, sealed: Any, extra: tuple[str, tuple[Any, ...]] | None) -> None:
        with self._cond:
            self._queue.append(sealed)  # kept even when a write failed: the chain stays whole
            if extra is not None:  # only the newest account state matters
                self._extra = extra
            self._raise()
            if self._thread is None:
                self._thread = self._threading.Thread(target=self._run, name="peaktrade-runlog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def drain(self) -> None:
        """Wait for a write in progress, then write the rest here (a failure here raises;
        one the background writer met before is retried, not reported twice)."""
        with self._cond:
            while self._busy:
                self._cond.wait()
            self._error = None
            queue, extra = self._queue, self._extra
            self._queue, self._extra = [], None
            if queue or extra is not None:
                try:
                    self._write(queue, extra)
                except BaseException:
                    self._queue[:0], self._extra = queue, self._extra or extra
                    raise

    def stop(self) -> None:
        self.drain()
        with self._cond:
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        if thread is not None:
            thread.join()
        if self._store is not None and self._store is not self._log.store:
            self._store.close()
        self._store = None

    def _write(self, queue: list[Any], extra: tuple[str, tuple[Any, ...]] | None) -> None:
        if self._store is None:
            own = self._log.store
            self._store = own if own.in_memory else StateStore(own.path)
        self._log._write(queue, extra, store=self._store)

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"the run log could not be written: {error}") from error

    def _run(self) -> None:
        me = self._threading.current_thread()
        while True:
            with self._cond:
                while not self._queue and self._thread is me:
                    self._cond.wait()
                if self._thread is not me:
                    return
            time.sleep(self._window)  # let the window fill
            with self._cond:
                if not self._queue or self._error is not None:
                    continue
                queue, extra = self._queue, self._extra
                self._queue, self._extra, self._busy = [], None, True
            try:
                self._write(queue, extra)
            except BaseException as exc:  # kept for the logger's thread; nothing is lost
                with self._cond:
                    self._queue[:0], self._extra, self._error = queue, self._extra or extra, exc
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


# -- reading ------------------------------------------------------------------------------


class RunNotFound(LookupError):
    """No run (or more than one) matches what the user typed."""


def _ensure(store: StateStore) -> None:
    store.ensure_schema("runlog", _SCHEMA)


def _run_row(store: StateStore, run_id: str) -> sqlite3.Row:
    _ensure(store)
    rows = store.query("SELECT * FROM runlog_runs WHERE run_id = ?", (run_id,))
    if not rows:
        raise RunNotFound(f"no run {run_id!r}")
    return rows[0]


def resolve_run_id(store: StateStore, ref: str) -> str:
    """``last`` (the most recently started run), a full run id or a unique prefix."""
    _ensure(store)
    if ref == "last":
        rows = store.query("SELECT run_id FROM runlog_runs ORDER BY rid DESC LIMIT 1")
        if not rows:
            raise RunNotFound("no runs recorded yet")
        return rows[0]["run_id"]
    escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = store.query(
        "SELECT run_id FROM runlog_runs WHERE run_id = ? OR run_id LIKE ? ESCAPE '\\' ORDER BY rid LIMIT 6",
        (ref, escaped + "%"),
    )
    ids = [r["run_id"] for r in rows]
    if ref in ids:
        return ref
    if not ids:
        raise RunNotFound(f"no run matches {ref!r} (see `peaktrade runs list`)")
    if len(ids) > 1:
        shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
        raise RunNotFound(f"{ref!r} matches several runs: {shown}; type more of the id")
    return ids[0]


def _metadata(row: sqlite3.Row) -> LiveRunMetadata:
    return LiveRunMetadata(
        run_id=row["run_id"],
        mode=row["mode"],
        effective_mode=row["effective_mode"],
        config_sha256=row["config_sha256"],
        operator=row["operator"],
        strategy=row["strategy"],
        strategy_params=json.loads(row["strategy_params"]),
        plugin_versions=json.loads(row["plugin_versions"]),
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        status=row["status"],
        pid=row["pid"],
        host=row["host"],
        summary=json.loads(row["summary"]) if row["summary"] else {},
    )


def list_runs(store: StateStore) -> list[LiveRunMetadata]:
    """Every run, oldest first."""
    _ensure(store)
    return [_metadata(r) for r in store.query("SELECT * FROM runlog_runs ORDER BY rid")]


def load_run_metadata(store: StateStore, run_id: str) -> LiveRunMetadata:
    return _metadata(_run_row(store, run_id))


def load_run_snapshot(store: StateStore, run_id: str) -> LiveRunSnapshot:
    row = _run_row(store, run_id)
    counts = json.loads(row["counts"])
    by_status: dict[str, int] = counts["status"]
    started = _epoch(row["started_at"]) or 0.0
    ended = _epoch(row["ended_at"])
    heartbeat = row["heartbeat_at"]
    now = time.time()
    elapsed = max((ended if ended is not None else heartbeat) - started, 1e-9)
    alive = None
    if row["status"] == "running" and row["host"] == socket.gethostname():
        alive = process_alive(row["pid"], row["proc_start"])

    def n(status: OrderStatus) -> int:
        return by_status.get(status.value, 0)

    def rate(count: int) -> float:
        return count / elapsed

    return LiveRunSnapshot(
        run_id=row["run_id"],
        mode=row["mode"],
        effective_mode=row["effective_mode"],
        status=row["status"],
        strategy=row["strategy"],
        operator=row["operator"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        last_heartbeat=_iso(heartbeat) or "",
        heartbeat_age_s=max(now - heartbeat, 0.0),
        elapsed_s=elapsed,
        records=row["head_seq"] + 1,
        head_hash=row["head_hash"].hex(),
        orders=counts["orders"],
        fills=counts["fills"],
        filled=n(OrderStatus.FILLED) + n(OrderStatus.PARTIALLY_FILLED),
        accepted=n(OrderStatus.ACCEPTED),
        rejected=n(OrderStatus.REJECTED),
        risk_blocked=n(OrderStatus.RISK_BLOCKED),
        gate_blocked=n(OrderStatus.GATE_BLOCKED),
        errors=n(OrderStatus.ERROR),
        orders_per_s=rate(counts["orders"]),
        fills_per_s=rate(counts["fills"]),
        risk_blocks_per_s=rate(n(OrderStatus.RISK_BLOCKED)),
        gate_blocks_per_s=rate(n(OrderStatus.GATE_BLOCKED)),
        errors_per_s=rate(n(OrderStatus.ERROR)),
        status_counts=dict(sorted(by_status.items())),
        blocks_by_reason=dict(sorted(counts["reasons"].items(), key=lambda kv: (-kv[1], kv[0]))),
        durability=row["durability"],
        pid=row["pid"],
        host=row["host"],
        process_alive=alive,
        summary=json.loads(row["summary"]) if row["summary"] else {},
    )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def render_summary(snapshot: LiveRunSnapshot) -> str:
    """The operator's view of one run, plain text."""
    s = snapshot
    status = s.status
    if s.process_alive is False:
        status += f" (process {s.pid} is gone: marked aborted at the next start)"
    lines = [
        f"run            {s.run_id}",
        f"status         {status}",
        f"mode           {s.mode} (effective: {s.effective_mode})",
        f"strategy       {s.strategy or '-'}   operator {s.operator}",
        f"started        {s.started_at}",
        f"ended          {s.ended_at or '-'}   elapsed {_duration(s.elapsed_s)}",
        f"heartbeat      {s.last_heartbeat} ({_duration(s.heartbeat_age_s)} ago)",
        f"records        {s.records} (durability: {s.durability}), head {s.head_hash[:16]}",
        "",
        f"{'':14} {'count':>10} {'per s':>10}",
    ]
    for label, count, rate in (
        ("orders", s.orders, s.orders_per_s),
        ("fills", s.fills, s.fills_per_s),
        ("risk blocks", s.risk_blocked, s.risk_blocks_per_s),
        ("gate blocks", s.gate_blocked, s.gate_blocks_per_s),
        ("errors", s.errors, s.errors_per_s),
    ):
        lines.append(f"{label:14} {count:>10} {rate:>10.1f}")
    lines.append(f"filled {s.filled}, accepted {s.accepted}, rejected {s.rejected}")
    if s.blocks_by_reason:
        lines.append("blocks by reason:")
        lines.extend(f"  {count:>8}  {reason}" for reason, count in s.blocks_by_reason.items())
    if s.summary:
        lines.append("summary: " + ", ".join(f"{k}={v}" for k, v in s.summary.items()))
    return "\n".join(lines)


def _iter_records(store: StateStore, rid: int, page: int = 50) -> Iterator[sqlite3.Row]:
    """Records in seq order, a page at a time (a record can hold ``max_pending`` orders):
    millions of orders in flat memory. ``payload`` comes back as the exact stored bytes."""
    after = -1
    while True:
        rows = store.query(
            "SELECT seq, CAST(payload AS BLOB) AS payload, hash FROM runlog_records"
            " WHERE rid = ? AND seq > ? ORDER BY seq LIMIT ?",
            (rid, after, page),
        )
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1]["seq"]


def _order_rows(columns: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """The orders of one ``orders`` record, row by row."""
    fill_counts = _unpack("I", columns["fill_count"])
    flat = _unpack("d", columns["fills"])
    fills = []
    at = 0
    for n in fill_counts:
        fills.append([{"quantity": flat[i], "price": flat[i + 1], "fee": flat[i + 2]} for i in range(at, at + 3 * n, 3)])
        at += 3 * n
    return zip(
        columns["client_order_id"],
        columns["symbol"],
        columns["side"],
        _unpack("d", columns["quantity"]),
        _unpack("d", columns["price"]),
        columns["status"],
        columns["reasons"],
        fills,
        columns["venue_response"],
        columns["metadata"],
        strict=True,
    )


def iter_run_events(store: StateStore, run_id: str) -> Iterator[LiveRunEvent]:
    """Every recorded event of a run, oldest first (does not verify: see verify_run)."""
    row = _run_row(store, run_id)
    executors: dict[int | None, str] = {}
    for rec in _iter_records(store, row["rid"]):
        kind, seq, ts, *rest = json.loads(rec["payload"])
        if kind in ("orders", "order"):
            batch_no, body = rest
            rows = _order_rows(body) if kind == "orders" else [body]
            for coid, symbol, side, qty, price, status, reasons, fills, venue, meta in rows:
                yield LiveRunEvent(
                    seq=seq,
                    kind="order",
                    timestamp=ts,
                    client_order_id=coid,
                    symbol=symbol,
                    side=side,
                    quantity=qty,
                    price=price,
                    status=status,
                    reasons=reasons,
                    executor=executors.get(batch_no),
                    fills=[f if isinstance(f, dict) else dict(zip(("quantity", "price", "fee"), f, strict=True)) for f in fills],
                    venue_response=venue,
                    batch=batch_no,
                    extra=meta or {},
                )
        elif kind == "batch":
            batch_no, context = rest
            executors = {batch_no: context.get("executor", "")}
            yield LiveRunEvent(seq=seq, kind="batch", timestamp=ts, executor=context.get("executor"), batch=batch_no, extra=context)
        else:
            yield LiveRunEvent(seq=seq, kind=kind, timestamp=ts, extra=rest[0] if rest else {})


def verify_run(store: StateStore, run_id: str) -> VerifyResult:
    """Walk the chain and report every record that was changed, deleted, reordered or
    appended out of chain, and a run row that disagrees with its records. Problems name
    the record (``record 12``); after a bad record the walk continues from its stored hash
    so each problem is reported where it is."""
    row = _run_row(store, run_id)
    problems: list[str] = []
    prev = GENESIS
    expected = 0
    count = 0
    last_kind = None
    end: dict[str, Any] | None = None
    counts = _new_counts()
    try:
        for rec in _iter_records(store, row["rid"]):
            seq, payload, stored = rec["seq"], rec["payload"], rec["hash"]
            count += 1
            if seq > expected:
                gap = f"record {expected}" if seq == expected + 1 else f"records {expected}..{seq - 1}"
                problems.append(f"{gap}: deleted (the chain jumps to record {seq})")
            if last_kind == "end":
                problems.append(f"record {seq}: appended after the end of the run")
            try:
                kind, inner_seq, _ts, *rest = json.loads(payload.decode(errors="replace"))
            except (ValueError, TypeError):
                kind, inner_seq, rest = None, None, []
            if _chain(prev, payload) != stored:
                if inner_seq is not None and inner_seq != seq:
                    problems.append(f"record {seq}: reordered (its content is record {inner_seq})")
                else:
                    problems.append(f"record {seq}: changed or inserted out of chain (hash mismatch)")
            elif inner_seq != seq:
                problems.append(f"record {seq}: its content says record {inner_seq} (appended out of chain)")
            prev = stored
            expected = seq + 1
            last_kind = kind
            if seq == 0:
                problems.extend(_check_metadata(row, kind, rest))
            elif kind == "orders":
                try:
                    columns = rest[1]
                    fills = sum(_unpack("I", columns["fill_count"]))
                    _count_orders(counts, columns["status"], columns["reasons"], fills)
                except (LookupError, TypeError, ValueError):
                    problems.append(f"record {seq}: unreadable orders record")
            elif kind == "order":
                try:
                    body = rest[1]
                    _count_orders(counts, [body[5]], [body[6]], len(body[7]))
                except (LookupError, TypeError, ValueError):
                    problems.append(f"record {seq}: unreadable order record")
            elif kind == "end" and rest and isinstance(rest[0], dict):
                end = rest[0]
    except sqlite3.DatabaseError as exc:
        problems.append(f"database file unreadable after record {expected - 1}: {exc}")
    if count == 0:
        problems.append("record 0: deleted (the run has no records)")
    head_seq = row["head_seq"]
    if expected - 1 < head_seq:
        problems.append(f"records {expected}..{head_seq}: deleted (the run's head is record {head_seq})")
    elif expected - 1 > head_seq:
        problems.append(f"records {head_seq + 1}..{expected - 1}: appended out of chain (the run's head is record {head_seq})")
    elif count and prev != row["head_hash"]:
        problems.append(f"record {head_seq}: does not match the run's head hash (records rewritten)")
    problems.extend(_check_end(row, end, last_kind))
    problems.extend(_check_counts(row, counts))
    return VerifyResult(run_id=run_id, ok=not problems, records=count, problems=problems)


def _check_metadata(row: sqlite3.Row, kind: Any, rest: list[Any]) -> list[str]:
    if kind != "run" or not rest or not isinstance(rest[0], dict):
        return ["record 0: is not the run's metadata record"]
    recorded = rest[0]
    out = []
    for name in _META_FIELDS:
        value = json.loads(row[name]) if name in _JSON_META else row[name]
        if recorded.get(name) != value:
            out.append(f"run metadata changed: {name} is {value!r} but record 0 says {recorded.get(name)!r}")
    return out


def _check_end(row: sqlite3.Row, end: dict[str, Any] | None, last_kind: Any) -> list[str]:
    status = row["status"]
    if status == "running":
        return ["run is running but its last record is an end record"] if last_kind == "end" else []
    if end is None:
        return [f"run metadata changed: status is {status!r} but no end record exists"]
    out = []
    summary = json.loads(row["summary"]) if row["summary"] else {}
    for name, value in (("status", status), ("ended_at", row["ended_at"]), ("summary", summary)):
        if end.get(name) != value:
            out.append(f"run metadata changed: {name} is {value!r} but the end record says {end.get(name)!r}")
    return out


def _check_counts(row: sqlite3.Row, counts: dict[str, Any]) -> list[str]:
    stored = json.loads(row["counts"])
    if stored == counts:
        return []
    diffs = [k for k in ("orders", "fills", "status", "reasons") if stored.get(k) != counts[k]]
    return [f"run counters differ from the records ({', '.join(diffs)}): the monitoring view was edited"]
