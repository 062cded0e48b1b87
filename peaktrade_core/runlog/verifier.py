"""Verifying the run log: the hash chain of each run and, with an audit key, the signed
heads and the signed run sequence."""

from __future__ import annotations

import hmac
import json
from typing import Any

from attrs import Factory, frozen

from peaktrade_core.runlog.audit import SEQUENCE_GENESIS, AuditKeys
from peaktrade_core.runlog.models import AUDIT_BEFORE_KEY, AUDIT_SIGNED, AUDIT_UNKEYED, VerifyResult
from peaktrade_core.runlog.reader import batches_of, run_row, summary_of
from peaktrade_core.runlog.records import (
    GENESIS,
    JSON_META,
    META_FIELDS,
    chain,
    count_orders,
    new_counts,
    unpack,
)
from peaktrade_core.state import StateStore
from peaktrade_core.store import store_errors
from peaktrade_core.store.runlog import RunLogRepository


@frozen
class SequenceCheck:
    """The signed run sequence, walked once. ``problems``: the sequence itself (entries
    deleted); ``run_problems``: per run id (a bad entry, a start of a run that is gone)."""

    entries: int
    #: ``(seq, hex of the newest signature)``: note it elsewhere to anchor the newest runs
    head: tuple[int, str] | None
    problems: list[str] = Factory(list)
    run_problems: dict[str, list[str]] = Factory(dict)
    #: run id -> its entries whose signature is good, ``(event, head_seq, head_hash)``
    signed: dict[str, list[tuple[str, int, bytes]]] = Factory(dict)
    #: run ids the sequence names that are not in the store
    deleted: list[str] = Factory(list)
    #: the oldest run (``rid``) in the sequence: unsigned runs after it are suspect
    first_rid: int | None = None


def verify_sequence(store: StateStore, audit: AuditKeys) -> SequenceCheck:
    """Walk the signed run sequence: every entry present (1, 2, 3 …), each signature good
    and chained to the one before, every run it names still there."""
    repo = RunLogRepository(store)
    rids = repo.run_rids()
    problems: list[str] = []
    run_problems: dict[str, list[str]] = {}
    signed: dict[str, list[tuple[str, int, bytes]]] = {}
    deleted: list[str] = []
    expected, previous, last = 1, SEQUENCE_GENESIS, None
    for row in repo.sequence():
        seq, run_id, event, head_seq, key_id = row[0], row[1], row[2], row[3], row[5]
        head_hash, sig = bytes(row[4]), bytes(row[6])
        gap = seq > expected
        if gap:
            problems.append(
                f"signed run sequence: entr{'y' if seq == expected + 1 else 'ies'} {expected}"
                f"{'' if seq == expected + 1 else f'..{seq - 1}'} deleted (whole runs deleted?)"
            )
        key = audit.by_id(key_id)
        if key is None:
            run_problems.setdefault(run_id, []).append(
                f"signed run sequence entry {seq}: signed with an audit key that is not configured "
                f"(key id {key_id}; the configured key's id is {audit.current.key_id})"
            )
        elif not gap and not hmac.compare_digest(key.sign_entry(seq, run_id, event, head_seq, head_hash, previous), sig):
            run_problems.setdefault(run_id, []).append(f"signed run sequence entry {seq} ({event} of the run): signature does not match (edited)")
        else:
            signed.setdefault(run_id, []).append((event, head_seq, head_hash))
        if event == "start" and run_id not in rids and run_id not in deleted:
            deleted.append(run_id)
            run_problems.setdefault(run_id, []).append(
                f"deleted: the signed run sequence records its start (entry {seq}) but the run is not in the store"
            )
        previous, expected, last = sig, seq + 1, (seq, sig.hex())
    started = [rids[r] for r, events in signed.items() if r in rids and any(e[0] == "start" for e in events)]
    return SequenceCheck(
        entries=expected - 1,
        head=last,
        problems=problems,
        run_problems=run_problems,
        signed=signed,
        deleted=deleted,
        first_rid=min(started) if started else None,
    )


def verify_run(store: StateStore, run_id: str, *, audit: AuditKeys | None = None, sequence: SequenceCheck | None = None) -> VerifyResult:
    """Walk the chain and report every record that was changed, deleted, reordered or
    appended out of chain, and a run row that disagrees with its records. Problems name
    the record (``record 12``); after a bad record the walk continues from its stored hash
    so each problem is reported where it is.

    With ``audit`` (the configured keys) the run's signed head and its entries in the
    signed run sequence are checked too (``sequence``: one walk shared by many runs)."""
    repo = RunLogRepository(store)
    row = run_row(repo, run_id)
    problems: list[str] = []
    prev = GENESIS
    expected = 0
    count = 0
    last_kind = None
    end: dict[str, Any] | None = None
    counts = new_counts()
    try:
        for seq, stored_payload, stored in repo.iter_records(row["rid"]):
            count += 1
            is_text = isinstance(stored_payload, str)
            payload = stored_payload.encode() if is_text else stored_payload
            if seq > expected:
                gap = f"record {expected}" if seq == expected + 1 else f"records {expected}..{seq - 1}"
                problems.append(f"{gap}: deleted (the chain jumps to record {seq})")
            if last_kind == "end":
                problems.append(f"record {seq}: appended after the end of the run")
            try:
                kind, inner_seq, _ts, *rest = json.loads(stored_payload if is_text else payload.decode(errors="replace"))
            except (ValueError, TypeError):
                kind, inner_seq, rest = None, None, []
            if chain(prev, payload) != stored:
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
                    fills = sum(unpack("I", columns["fill_count"]))
                    count_orders(counts, columns["status"], columns["reasons"], fills)
                except (LookupError, TypeError, ValueError):
                    problems.append(f"record {seq}: unreadable orders record")
            elif kind == "batches":
                try:
                    body = rest[0]
                    statuses = body["status"]
                    if sum(n for _, _, n in batches_of(body)) != len(statuses) or not isinstance(body["context"], dict):
                        raise ValueError("batch sizes differ from the orders")
                    count_orders(counts, statuses, body["reasons"], sum(unpack("I", body["fill_count"])))
                except (LookupError, TypeError, ValueError):
                    problems.append(f"record {seq}: unreadable batches record")
            elif kind == "order":
                try:
                    body = rest[1]
                    count_orders(counts, [body[5]], [body[6]], len(body[7]))
                except (LookupError, TypeError, ValueError):
                    problems.append(f"record {seq}: unreadable order record")
            elif kind == "end" and rest and isinstance(rest[0], dict):
                end = rest[0]
    except store_errors() as exc:
        problems.append(f"database file unreadable after record {expected - 1}: {exc}")
    if count == 0:
        problems.append("record 0: deleted (the run has no records)")
    head_seq = row["head_seq"]
    if expected - 1 < head_seq:
        problems.append(f"records {expected}..{head_seq}: deleted (the run's head is record {head_seq})")
    elif expected - 1 > head_seq:
        problems.append(f"records {head_seq + 1}..{expected - 1}: appended out of chain (the run's head is record {head_seq})")
    elif count and prev != bytes(row["head_hash"]):
        problems.append(f"record {head_seq}: does not match the run's head hash (records rewritten)")
    problems.extend(_check_end(row, end, last_kind))
    problems.extend(_check_counts(row, counts))
    status = AUDIT_UNKEYED
    if audit is not None:
        status, signature_problems = _check_signature(row, audit, sequence or verify_sequence(store, audit))
        problems.extend(signature_problems)
    return VerifyResult(run_id=run_id, ok=not problems, records=count, problems=problems, audit=status)


def _check_signature(row: Any, audit: AuditKeys, sequence: SequenceCheck) -> tuple[str, list[str]]:
    """What the audit key says about the run: its head signature, and its start and end in
    the signed run sequence."""
    run_id = row["run_id"]
    out = list(sequence.run_problems.get(run_id, []))
    entries = sequence.signed.get(run_id, [])
    key_id, sig = row["audit_key_id"], row["head_sig"]
    if key_id is None and sig is None:
        if entries:
            out.append("not signed, but the signed run sequence records it: its head signature was removed")
        elif sequence.first_rid is not None and row["rid"] > sequence.first_rid:
            out.append("not signed, but runs started before it are: its signature was removed, or a process without the audit key wrote it")
        else:
            return AUDIT_BEFORE_KEY, out
        return AUDIT_SIGNED, out
    key = audit.by_id(key_id)
    head_seq, head_hash = row["head_seq"], bytes(row["head_hash"])
    if key is None:
        out.append(
            f"signed with an audit key that is not configured (key id {key_id}; the configured key's id is "
            f"{audit.current.key_id}): a wrong [state] audit_key, or a retired key missing from retired_audit_keys"
        )
    elif sig is None:
        out.append("its newest records were written without the audit key (the head is not signed)")
    elif not hmac.compare_digest(key.sign_head(run_id, head_seq, head_hash), bytes(sig)):
        out.append("head signature does not match: the run was edited and its hash chain recomputed")
    if not any(event == "start" for event, _, _ in entries) and not sequence.run_problems.get(run_id):
        out.append("missing from the signed run sequence (its entry was deleted)")
    ends = [(s, h) for event, s, h in entries if event == "end"]
    if key is not None and (ends or row["status"] != "running"):
        if not ends and not sequence.run_problems.get(run_id):
            out.append("ended, but its end is not in the signed run sequence (the entry was deleted)")
        elif ends and ends[-1] != (head_seq, head_hash):
            out.append(
                f"the signed run sequence says it ended at record {ends[-1][0]}, but its head is record {head_seq}: "
                "rolled back or rewritten after its end"
            )
    return AUDIT_SIGNED, out


def _check_metadata(row: Any, kind: Any, rest: list[Any]) -> list[str]:
    if kind != "run" or not rest or not isinstance(rest[0], dict):
        return ["record 0: is not the run's metadata record"]
    recorded = rest[0]
    out = []
    for name in META_FIELDS:
        value = json.loads(row[name]) if name in JSON_META else row[name]
        if recorded.get(name) != value:
            out.append(f"run metadata changed: {name} is {value!r} but record 0 says {recorded.get(name)!r}")
    return out


def _check_end(row: Any, end: dict[str, Any] | None, last_kind: Any) -> list[str]:
    status = row["status"]
    if status == "running":
        return ["run is running but its last record is an end record"] if last_kind == "end" else []
    if end is None:
        return [f"run metadata changed: status is {status!r} but no end record exists"]
    out = []
    summary = summary_of(row)
    for name, value in (("status", status), ("ended_at", row["ended_at"]), ("summary", summary)):
        if end.get(name) != value:
            out.append(f"run metadata changed: {name} is {value!r} but the end record says {end.get(name)!r}")
    return out


def _check_counts(row: Any, counts: dict[str, Any]) -> list[str]:
    stored = json.loads(row["counts"])
    if stored == counts:
        return []
    diffs = [k for k in ("orders", "fills", "status", "reasons") if stored.get(k) != counts[k]]
    return [f"run counters differ from the records ({', '.join(diffs)}): the monitoring view was edited"]
