"""Reading the run log: resolve a run, its metadata and snapshot, its events."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

from peaktrade_core.orders import OrderStatus
from peaktrade_core.runlog.liveness import process_alive
from peaktrade_core.runlog.models import LiveRunEvent, LiveRunMetadata, LiveRunSnapshot
from peaktrade_core.runlog.records import epoch, iso, unpack
from peaktrade_core.state import StateStore
from peaktrade_core.store.runlog import RunLogRepository


class RunNotFound(LookupError):
    """No run (or more than one) matches what the user typed."""


def run_row(repo: RunLogRepository, run_id: str) -> Any:
    row = repo.run_row(run_id)
    if row is None:
        raise RunNotFound(f"no run {run_id!r}")
    return row


def resolve_run_id(store: StateStore, ref: str) -> str:
    """``last`` (the most recently started run), a full run id or a unique prefix."""
    repo = RunLogRepository(store)
    if ref == "last":
        last = repo.last_run_id()
        if last is None:
            raise RunNotFound("no runs recorded yet")
        return last
    ids = repo.run_ids_like(ref, limit=6)
    if ref in ids:
        return ref
    if not ids:
        raise RunNotFound(f"no run matches {ref!r} (see `peaktrade runs list`)")
    if len(ids) > 1:
        shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
        raise RunNotFound(f"{ref!r} matches several runs: {shown}; type more of the id")
    return ids[0]


def summary_of(row: Any) -> dict[str, Any]:
    """A run row's summary (empty while the run has none: running, or ended by a crash)."""
    return json.loads(row["summary"]) if row["summary"] else {}


def metadata_of(row: Any) -> LiveRunMetadata:
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
        summary=summary_of(row),
    )


def list_runs(store: StateStore) -> list[LiveRunMetadata]:
    """Every run, oldest first."""
    return [metadata_of(r) for r in RunLogRepository(store).all_runs()]


def load_run_metadata(store: StateStore, run_id: str) -> LiveRunMetadata:
    return metadata_of(run_row(RunLogRepository(store), run_id))


def load_run_snapshot(store: StateStore, run_id: str) -> LiveRunSnapshot:
    row = run_row(RunLogRepository(store), run_id)
    counts = json.loads(row["counts"])
    by_status: dict[str, int] = counts["status"]
    started = epoch(row["started_at"]) or 0.0
    ended = epoch(row["ended_at"])
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
        last_heartbeat=iso(heartbeat) or "",
        heartbeat_age_s=max(now - heartbeat, 0.0),
        elapsed_s=elapsed,
        records=row["head_seq"] + 1,
        head_hash=bytes(row["head_hash"]).hex(),
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
        summary=summary_of(row),
    )


def order_rows(columns: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """The orders of one ``orders`` record, row by row."""
    fill_counts = unpack("I", columns["fill_count"])
    flat = unpack("d", columns["fills"])
    fills = []
    at = 0
    for n in fill_counts:
        fills.append([{"quantity": flat[i], "price": flat[i + 1], "fee": flat[i + 2]} for i in range(at, at + 3 * n, 3)])
        at += 3 * n
    return zip(
        columns["client_order_id"],
        columns["symbol"],
        columns["side"],
        unpack("d", columns["quantity"]),
        unpack("d", columns["price"]),
        columns["status"],
        columns["reasons"],
        fills,
        columns["venue_response"],
        columns["metadata"],
        strict=True,
    )


def batches_of(body: dict[str, Any]) -> Iterator[tuple[int, float, int]]:
    """``(batch_no, ts, orders)`` of each batch of a ``batches`` record, in order."""
    return zip(unpack("q", body["batch"]), unpack("d", body["batch_ts"]), unpack("I", body["batch_orders"]), strict=True)


def _order_event(seq: int, ts: float, row: Any, executor: str | None, batch_no: int | None) -> LiveRunEvent:
    """The ``order`` event of one order row (of an ``orders``, ``order`` or ``batches`` record)."""
    coid, symbol, side, qty, price, status, reasons, fills, venue, meta = row
    return LiveRunEvent(
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
        executor=executor,
        fills=[f if isinstance(f, dict) else dict(zip(("quantity", "price", "fee"), f, strict=True)) for f in fills],
        venue_response=venue,
        batch=batch_no,
        extra=meta or {},
    )


def iter_run_events(store: StateStore, run_id: str) -> Iterator[LiveRunEvent]:
    """Every recorded event of a run, oldest first (does not verify: see verify_run)."""
    repo = RunLogRepository(store)
    row = run_row(repo, run_id)
    executors: dict[int | None, str] = {}
    for _seq, payload, _hash in repo.iter_records(row["rid"]):
        kind, seq, ts, *rest = json.loads(payload)
        if kind in ("orders", "order"):
            batch_no, body = rest
            rows = order_rows(body) if kind == "orders" else [body]
            executor = executors.get(batch_no)
            for row in rows:
                yield _order_event(seq, ts, row, executor, batch_no)
        elif kind == "batches":
            body = rest[0]
            context = body["context"]
            executor = context.get("executor", "")
            rows = order_rows(body)
            for batch_no, at, n in batches_of(body):
                executors = {batch_no: executor}
                yield LiveRunEvent(seq=seq, kind="batch", timestamp=at, executor=executor, batch=batch_no, extra=context)
                for row in islice(rows, n):
                    yield _order_event(seq, at, row, executor, batch_no)
        elif kind == "batch":
            batch_no, context = rest
            executors = {batch_no: context.get("executor", "")}
            yield LiveRunEvent(seq=seq, kind="batch", timestamp=ts, executor=context.get("executor"), batch=batch_no, extra=context)
        else:
            yield LiveRunEvent(seq=seq, kind=kind, timestamp=ts, extra=rest[0] if rest else {})
