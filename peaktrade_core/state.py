"""Shared state in the data directory: one SQLite file (WAL), one small interface.

Everything that must outlive a process or be shared between processes goes through
:class:`StateStore`: the kill switch, the run log, the alert history, risk records, the
drill log. A later PostgreSQL store implements the same methods.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STATE_FILE = "peaktrade.sqlite3"


class StateStore:
    """A thread-safe handle on the state database. Each subsystem creates its own tables
    with :meth:`ensure_schema`; all of them share the connection's WAL journal."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.execute("PRAGMA busy_timeout=30000")
        # fewer, larger WAL checkpoints: each one syncs, and at 100k orders/s the default
        # (1,000 pages) checkpoints every few batches
        self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        self._schemas: set[str] = set()

    @classmethod
    def in_dir(cls, data_dir: str | os.PathLike[str], **kwargs: Any) -> StateStore:
        return cls(Path(data_dir) / STATE_FILE, **kwargs)

    def ensure_schema(self, name: str, ddl: str) -> None:
        if name in self._schemas:
            return
        with self._lock:
            self._conn.executescript(ddl)
            self._schemas.add(name)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
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
            cur = self._conn.execute(sql, tuple(params))
            cur.row_factory = sqlite3.Row
            return cur.fetchall()

    def data_version(self) -> int:
        """Changes whenever *another* connection commits: a cheap "did anything change?"."""
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
