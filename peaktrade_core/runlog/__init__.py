"""The tamper-evident run log (RUN-1 … RUN-4): what a run did, order by order, provably.

The package: :mod:`~peaktrade_core.runlog.writer` (:class:`LiveRunLogger`, the group-commit
writer), :mod:`~peaktrade_core.runlog.reader` (list, resolve, snapshot, events),
:mod:`~peaktrade_core.runlog.verifier` (:func:`verify_run`, the signed run sequence),
:mod:`~peaktrade_core.runlog.render` (the operator's text view),
:mod:`~peaktrade_core.runlog.liveness` (process identity, which runs are gone),
:mod:`~peaktrade_core.runlog.audit` (the HMAC audit key), with the record format in
:mod:`~peaktrade_core.runlog.records`. Every SQL statement is in
:mod:`peaktrade_core.store.runlog`.

Layout (tables in the :class:`~peaktrade_core.state.StateStore`):

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
      ``"order"``, and a commit that holds a single order with ``"batch"``;
    - ``["batches", seq, ts, {"context": {...}, columns…, "batch", "batch_ts",
      "batch_orders"}]`` — durability ``"group"``: the batches of one window that share a
      context, with their orders as columns (as in ``orders``) and each batch's number,
      time and order count packed; the reader gives them back as ``batch`` and ``order``
      events, the same as the per-batch records;
    - ``[kind, seq, ts, {data}]`` — anything else (``"session"``, ``"alert"`` …) via
      :meth:`LiveRunLogger.record_event`;
    - ``["end", seq, ts, {"status", "ended_at", "summary"}]`` — finish, failure or abort.

``runlog_runs`` (one row per run)
    The metadata as columns (compared with record 0 by :func:`verify_run`), plus the
    mutable monitoring state updated in the *same transaction* as the records: chain head
    (``head_seq``, ``head_hash`` — so deleting the newest records is detected too), with an
    audit key its signature (``head_sig``, ``audit_key_id``), counters, heartbeat, status,
    pid/host/process start time (abort detection).

``runlog_sequence`` (with an audit key)
    The signed run sequence: one entry per run start and end, each an HMAC over the entry
    and the previous entry's signature, so a deleted whole run leaves a gap or a dangling
    entry (see :mod:`~peaktrade_core.runlog.audit`).

Why one record per commit rather than per order: the hot path budget is ~3 µs per order;
one executemany row per order plus per-order JSON and hashing costs about three times
that. Orders are buffered as tuples and encoded with the C JSON encoder at commit; one
byte changed anywhere still fails :func:`verify_run` naming the record (its ``seq``) and
the batch it belongs to. Memory stays flat: only the uncommitted buffer and a few counters
live in Python (a buffer reaching ``max_pending`` orders is committed on its own).

Durability: ``"batch"`` (default) — the pipeline calls :meth:`LiveRunLogger.commit` once
per batch, one transaction each. ``"order"`` — every record is its own transaction and the
store is asked for durable (synced) commits (this affects every user of that store).
``"group"`` — :meth:`~LiveRunLogger.commit` hands the batch over as it is; everything
committed within ``GROUP_WINDOW_SECONDS`` is sealed (encoded into one ``batches`` record
per context, hash-chained) and stored in one transaction, by the caller at a commit once
80 % of the window passed or by a background writer once it passed: a process that dies
loses at most the batches committed in the last window (and the one being written). SIGKILL never loses a committed transaction in any mode; the difference is power
loss and how much is uncommitted when the process dies.

Concurrent writers: each run's commits take the lock of that run only (where the store
can tell keys apart), so processes writing different runs into one store do not wait on
each other and each run's chain stays whole; run starts and ends with an audit key also
take the sequence's lock.

:attr:`LiveRunLogger.on_commit` adds one statement to the transaction of every batch's
commit (the pipeline writes the paper account there, so the account and the log agree).

Aborted runs: a run left ``running`` is marked ``aborted`` by
:meth:`LiveRunLogger.mark_aborted_runs` (call it at start-up) when its process is gone —
same host: the pid no longer exists, is a zombie, or now belongs to a different process
(start time differs); other host: its heartbeat is older than ``stale_after`` seconds. A
live process on this host is never marked aborted, however old its heartbeat. Marking
appends a chained ``end`` record.

The counters behind :func:`load_run_snapshot` are a monitoring cache; :func:`verify_run`
recomputes them from the records and reports any difference.
"""

from __future__ import annotations

from peaktrade_core.runlog.audit import AuditKey, AuditKeyError, AuditKeys, audit_keys_from
from peaktrade_core.runlog.liveness import process_alive
from peaktrade_core.runlog.models import (
    AUDIT_BEFORE_KEY,
    AUDIT_SIGNED,
    AUDIT_UNKEYED,
    LiveRunEvent,
    LiveRunMetadata,
    LiveRunSnapshot,
    VerifyResult,
)
from peaktrade_core.runlog.reader import (
    RunNotFound,
    iter_run_events,
    list_runs,
    load_run_metadata,
    load_run_snapshot,
    resolve_run_id,
)
from peaktrade_core.runlog.records import (
    DURABILITIES,
    END_STATUSES,
    GENESIS,
    GROUP_WINDOW_SECONDS,
    MAX_REASON_KEYS,
    OTHER_REASON,
    RUN_STATUSES,
    durability_for,
    reason_key,
)
from peaktrade_core.runlog.render import render_summary
from peaktrade_core.runlog.verifier import SequenceCheck, verify_run, verify_sequence
from peaktrade_core.runlog.writer import LiveRunLogger

__all__ = [
    "AUDIT_BEFORE_KEY",
    "AUDIT_SIGNED",
    "AUDIT_UNKEYED",
    "DURABILITIES",
    "durability_for",
    "END_STATUSES",
    "GENESIS",
    "GROUP_WINDOW_SECONDS",
    "MAX_REASON_KEYS",
    "OTHER_REASON",
    "RUN_STATUSES",
    "AuditKey",
    "AuditKeyError",
    "AuditKeys",
    "LiveRunEvent",
    "LiveRunLogger",
    "LiveRunMetadata",
    "LiveRunSnapshot",
    "RunNotFound",
    "SequenceCheck",
    "VerifyResult",
    "audit_keys_from",
    "iter_run_events",
    "list_runs",
    "load_run_metadata",
    "load_run_snapshot",
    "process_alive",
    "reason_key",
    "render_summary",
    "resolve_run_id",
    "verify_run",
    "verify_sequence",
]
