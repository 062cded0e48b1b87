"""The default backend: one SQLite file (WAL) in the data directory, shared by every
process of one machine."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peaktrade_core.store.base import StateError, StateStore

if TYPE_CHECKING:
    from peaktrade_core.store.copy import TableDefinition

STATE_FILE = "peaktrade.sqlite3"


def damage(exc: BaseException) -> str:
    """One line for an error opening or reading the store."""
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return f"damaged ({exc}); see 'State store lost, replaced or damaged' in docs/operators.md"
    return str(getattr(exc, "strerror", None) or exc)


def _switch_to_wal(conn: sqlite3.Connection, patience: float = 30.0) -> None:
    """``journal_mode=WAL``. Two processes opening a new file at once: the switch can answer
    "database is locked" without waiting on the busy timeout, so wait here (bounded)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqliteStore(StateStore):
    """All subsystems share the connection's WAL journal; ``BEGIN IMMEDIATE`` serialises
    writers across processes."""

    backend = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL"):
        super().__init__()
        self.path = Path(path)
        self.in_memory = str(path) == ":memory:"
        self.location = str(self.path)
        self.data_dir = None if self.in_memory else self.path.parent
        self._synchronous = synchronous
        try:
            if not self.in_memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA busy_timeout=30000")
            _switch_to_wal(self._conn)
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            # fewer, larger WAL checkpoints: each one syncs, and at 100k orders/s the default
            # (1,000 pages) checkpoints every few batches
            self._conn.execute("PRAGMA wal_autocheckpoint=10000")
            self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # damaged? say so now
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise  # cannot open (permissions, a sandbox): not a damaged file
            raise StateError(f"state store {self.path}: {damage(exc)}") from None
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self, key: str | None = None) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: writers serialise across processes."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def changes(self) -> tuple[int, int]:
        """Other connections' commits (``data_version``) and this one's (``total_changes``,
        which ``data_version`` does not see)."""
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0], self._conn.total_changes

    def require_durable_commits(self) -> None:
        """``synchronous=FULL`` (for every user of this handle)."""
        with self._lock:
            self._conn.execute("PRAGMA synchronous=FULL")

    def columns(self, conn: Any, table: str) -> set[str]:
        return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}

    def table_definitions(self) -> list[TableDefinition]:
        from peaktrade_core.store.copy import TableDefinition

        rows = self.query(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
            "AND type IN ('table', 'index') ORDER BY type = 'index', rowid"
        )
        return [TableDefinition(*r) for r in rows]

    def table_names(self) -> set[str]:
        return {r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}

    def column_order(self, table: str) -> list[str]:
        with self._lock:
            return [r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")]

    def pages(self, sql: str, size: int) -> Iterator[list[tuple[Any, ...]]]:
        # its own connection: a long read must not hold this handle's lock
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            cur = conn.execute(sql)
            while page := cur.fetchmany(size):
                yield page
        finally:
            conn.close()

    def reopen(self) -> SqliteStore:
        return self if self.in_memory else SqliteStore(self.path, synchronous=self._synchronous)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
