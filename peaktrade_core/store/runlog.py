"""Every SQL statement of the run log (portable: SQLite and PostgreSQL run the same text).

Tables (see :mod:`peaktrade_core.runlog` for what the rows mean):

``runlog_runs``      one row per run: its metadata as columns, the chain head and, with an
                     audit key, the head's signature (``head_sig``) and the key's id;
``runlog_records``   the append-only hash chain, ``(rid, seq)``;
``runlog_sequence``  with an audit key: the signed run sequence, one entry per run start
                     and end, each signing the one before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from peaktrade_core.store.base import add_column

#: version 1: the tables as they were before schema versions (older stores have them)
_TABLES = """
CREATE TABLE IF NOT EXISTS runlog_runs (
    rid INTEGER PRIMARY KEY AUTOINCREMENT,
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

_SEQUENCE = """
CREATE TABLE IF NOT EXISTS runlog_sequence (
    seq INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    event TEXT NOT NULL,
    head_seq INTEGER NOT NULL,
    head_hash BLOB NOT NULL,
    key_id TEXT NOT NULL,
    sig BLOB NOT NULL,
    PRIMARY KEY (seq)
);
"""

#: the run log's schema, version by version (see StateStore.migrate): 2 adds the audit key
MIGRATIONS = (
    _TABLES,
    add_column("runlog_runs", "head_sig", "BLOB"),
    add_column("runlog_runs", "audit_key_id", "TEXT"),
    _SEQUENCE,
)

#: the lock key of writes to the signed run sequence (run starts and ends)
SEQUENCE_KEY = "runlog:sequence"

_INSERT_RECORD = "INSERT INTO runlog_records (rid, seq, payload, hash) VALUES (?, ?, ?, ?)"
_MOVE_HEAD = (
    "UPDATE runlog_runs SET head_seq = ?, head_hash = ?, head_sig = ?, counts = ?, heartbeat_at = ? WHERE rid = ?"
)


def run_key(run_id: str) -> str:
    """The lock key of one run's commits: writers of different runs do not wait on each
    other where the backend can tell keys apart."""
    return f"runlog:{run_id}"


class RunLogRepository:
    """The run log's tables behind named operations. Methods taking ``conn`` run inside a
    :meth:`transaction` of the caller; the others open their own."""

    def __init__(self, store: Any):
        self.store = store
        store.migrate("runlog", MIGRATIONS)

    def transaction(self, key: str) -> AbstractContextManager[Any]:
        return self.store.transaction(key=key)

    def require_durable_commits(self) -> None:
        self.store.require_durable_commits()

    # -- writing

    def insert_run(self, conn: Any, columns: dict[str, Any]) -> int:
        """A new run row; returns its ``rid``."""
        names = ", ".join(columns)
        marks = ", ".join("?" * len(columns))
        cur = conn.execute(f"INSERT INTO runlog_runs ({names}) VALUES ({marks}) RETURNING rid", tuple(columns.values()))
        return cur.fetchone()[0]

    def insert_records(self, conn: Any, records: Sequence[tuple[int, int, str, bytes]]) -> None:
        """``(rid, seq, payload, hash)`` rows of the chain."""
        if len(records) == 1:
            conn.execute(_INSERT_RECORD, records[0])
        elif records:
            conn.executemany(_INSERT_RECORD, records)

    def move_heads(self, conn: Any, heads: Iterable[tuple[Any, ...]]) -> None:
        """``(head_seq, head_hash, head_sig, counts, heartbeat_at, rid)`` per run."""
        conn.executemany(_MOVE_HEAD, heads)

    def end_run(self, conn: Any, rid: int, status: str, ended_at: str, summary: str) -> None:
        conn.execute("UPDATE runlog_runs SET status = ?, ended_at = ?, summary = ? WHERE rid = ?", (status, ended_at, summary, rid))

    def heartbeat(self, run_id: str, rid: int, at: float) -> None:
        with self.transaction(run_key(run_id)) as conn:
            conn.execute("UPDATE runlog_runs SET heartbeat_at = ? WHERE rid = ?", (at, rid))

    def running_runs(self) -> list[Any]:
        return self.store.query("SELECT run_id, pid, host, proc_start, heartbeat_at FROM runlog_runs WHERE status = 'running'")

    def head_for_update(self, conn: Any, run_id: str) -> tuple[int, str, int, bytes, str | None] | None:
        """``(rid, status, head_seq, head_hash, audit_key_id)`` inside the caller's transaction."""
        row = conn.execute(
            "SELECT rid, status, head_seq, head_hash, audit_key_id FROM runlog_runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2], bytes(row[3]), row[4])

    def abort_run(
        self, conn: Any, rid: int, ended_at: str, summary: str, head_seq: int, head_hash: bytes, head_sig: bytes | None, key_id: str | None
    ) -> None:
        conn.execute(
            "UPDATE runlog_runs SET status = 'aborted', ended_at = ?, summary = ?, head_seq = ?, head_hash = ?, head_sig = ?,"
            " audit_key_id = ? WHERE rid = ?",
            (ended_at, summary, head_seq, head_hash, head_sig, key_id, rid),
        )

    def last_sequence_entry(self, conn: Any) -> tuple[int, bytes] | None:
        """``(seq, sig)`` of the newest entry of the signed run sequence."""
        row = conn.execute("SELECT seq, sig FROM runlog_sequence ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else (row[0], bytes(row[1]))

    def append_sequence(self, conn: Any, entry: tuple[int, str, str, int, bytes, str, bytes]) -> None:
        """``(seq, run_id, event, head_seq, head_hash, key_id, sig)``."""
        conn.execute(
            "INSERT INTO runlog_sequence (seq, run_id, event, head_seq, head_hash, key_id, sig) VALUES (?, ?, ?, ?, ?, ?, ?)", entry
        )

    # -- reading

    def run_row(self, run_id: str) -> Any | None:
        rows = self.store.query("SELECT * FROM runlog_runs WHERE run_id = ?", (run_id,))
        return rows[0] if rows else None

    def all_runs(self) -> list[Any]:
        return self.store.query("SELECT * FROM runlog_runs ORDER BY rid")

    def last_run_id(self) -> str | None:
        rows = self.store.query("SELECT run_id FROM runlog_runs ORDER BY rid DESC LIMIT 1")
        return rows[0]["run_id"] if rows else None

    def run_ids_like(self, ref: str, limit: int) -> list[str]:
        """Run ids equal to ``ref`` or starting with it (the first ``limit``)."""
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.store.query(
            "SELECT run_id FROM runlog_runs WHERE run_id = ? OR run_id LIKE ? ESCAPE '\\' ORDER BY rid LIMIT ?",
            (ref, escaped + "%", limit),
        )
        return [r["run_id"] for r in rows]

    def run_rids(self) -> dict[str, int]:
        return {r["run_id"]: r["rid"] for r in self.store.query("SELECT run_id, rid FROM runlog_runs")}

    def iter_records(self, rid: int, page: int = 50) -> Iterator[tuple[int, str | bytes, bytes]]:
        """``(seq, payload, hash)`` in seq order, a page at a time (a record can hold
        thousands of orders): millions of orders in flat memory. ``payload`` is text as
        stored, or bytes if someone wrote a blob into the column."""
        after = -1
        while True:
            rows = self.store.query(
                "SELECT seq, payload, hash FROM runlog_records WHERE rid = ? AND seq > ? ORDER BY seq LIMIT ?", (rid, after, page)
            )
            for row in rows:
                payload = row[1]
                yield row[0], payload if isinstance(payload, str) else bytes(payload), bytes(row[2])
            if len(rows) < page:
                return
            after = rows[-1][0]

    def sequence(self) -> list[Any]:
        return self.store.query("SELECT seq, run_id, event, head_seq, head_hash, key_id, sig FROM runlog_sequence ORDER BY seq")

    def sequence_entries_of(self, run_id: str) -> list[Any]:
        return self.store.query(
            "SELECT seq, run_id, event, head_seq, head_hash, key_id, sig FROM runlog_sequence WHERE run_id = ? ORDER BY seq", (run_id,)
        )

    def first_sequenced_rid(self) -> int | None:
        """The oldest run in the signed run sequence (runs before it predate the key)."""
        rows = self.store.query(
            "SELECT min(r.rid) AS rid FROM runlog_runs r JOIN runlog_sequence s ON s.run_id = r.run_id WHERE s.event = 'start'"
        )
        return rows[0]["rid"] if rows and rows[0]["rid"] is not None else None
