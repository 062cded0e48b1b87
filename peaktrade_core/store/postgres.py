"""PostgreSQL: one store for several hosts (psycopg 3, imported only when a URL names it).

What differs from SQLite, and how it is kept the same for the repositories:

* placeholders: the portable ``?`` becomes psycopg's ``%s`` (translated once per statement);
* writers: ``transaction(key)`` takes a transaction-scoped advisory lock on ``key`` (all
  writers share one key unless a repository names its own, e.g. one per run), which is what
  SQLite's ``BEGIN IMMEDIATE`` gives every writer;
* change notices: :meth:`notify` sends ``NOTIFY`` in the writing transaction; a listener
  connection counts them, so the kill switch learns of an engage on another host without a
  query per batch. If the listener is down, :meth:`changes` makes every caller read (the
  per-batch read is the fallback), and a read that fails raises
  :class:`~peaktrade_core.store.base.StoreUnavailableError` — the pipeline fails closed;
* durability: ``synchronous="NORMAL"`` (the default, like SQLite's) commits with
  ``synchronous_commit = off`` — a killed client loses nothing it committed; a crashed
  *server* may lose its last fraction of a second, as SQLite may on power loss —, and
  :meth:`require_durable_commits` switches to ``on``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from peaktrade_core.store.base import (
    StateError,
    StateStore,
    StoreUnavailableError,
    describe_url,
    postgres_ddl,
)

CHANNEL = "peaktrade_state"
#: a server that vanishes without closing the connection (a cut cable) is noticed within
#: seconds, not the kernel's minutes: then reads fail and trading stops
CONNECT_OPTIONS = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}
#: how long a writer waits for another's lock (SQLite's busy timeout is the same)
LOCK_TIMEOUT = "30s"


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StateError(
            "[state] url names a PostgreSQL database, but psycopg is not installed: "
            "pip install 'peaktrade-core[postgres]'"
        ) from None
    return psycopg


@functools.lru_cache(maxsize=1024)
def _translate(sql: str) -> str:
    """``?`` → ``%s`` and ``%`` → ``%%`` outside quoted text."""
    out = []
    quote = None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
            out.append("%%" if ch == "%" else ch)
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        else:
            out.append("%%" if ch == "%" else ch)
    return "".join(out)


@functools.lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type:
    index = {name: i for i, name in enumerate(names)}

    class Row(tuple):  # like sqlite3.Row: by index and by column name, dict(row) works
        __slots__ = ()

        def __getitem__(self, key: Any) -> Any:
            return tuple.__getitem__(self, index[key] if isinstance(key, str) else key)

        def keys(self) -> list[str]:
            return list(names)

    return Row


def _row_factory(cursor: Any) -> Any:
    if cursor.description is None:
        return tuple
    cls = _row_class(tuple(c.name for c in cursor.description))
    return lambda values: cls(values)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


class _Connection:
    """What a repository sees inside a transaction: ``execute`` and ``executemany`` with
    portable SQL."""

    __slots__ = ("_conn", "notified")

    def __init__(self, conn: Any):
        self._conn = conn
        self.notified = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(_translate(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        cur = self._conn.cursor()
        cur.executemany(_translate(sql), rows)
        return cur


class PostgresStore(StateStore):
    backend = "postgresql"

    def __init__(self, url: str, *, data_dir: str | Path | None = None, synchronous: str = "NORMAL", listen: bool = True):
        super().__init__()
        self.url = url
        self.location = describe_url(url)
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._synchronous = synchronous
        self._listen = listen
        self._lock = threading.RLock()
        self._conn = self._connect()
        self._own_notices = 0
        self._listener: _Listener | None = None
        self._reads = itertools.count()

    # -- connections ------------------------------------------------------------------------

    def _connect(self) -> Any:
        psycopg = _psycopg()
        try:
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                row_factory=_row_factory,
                application_name="peaktrade",
                **CONNECT_OPTIONS,
            )
            conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            conn.execute("SET synchronous_commit = " + ("on" if self._synchronous == "FULL" else "off"))
        except psycopg.Error as exc:
            raise self._unavailable(exc) from None
        return conn

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        return StoreUnavailableError(f"state store {self.location} cannot be reached: {_first_line(exc)}")

    def _failed(self, exc: BaseException) -> StateError:
        """A database error as one line: unreachable, or anything else the server said."""
        if isinstance(exc, _psycopg().OperationalError):
            return self._unavailable(exc)
        return StateError(f"state store {self.location}: {_first_line(exc)}")

    def _live_connection(self) -> Any:
        """The connection, reconnecting once if the server dropped it."""
        if self._conn.closed:
            self._conn = self._connect()
        return self._conn

    # -- the interface ------------------------------------------------------------------------

    @contextmanager
    def transaction(self, key: str | None = None) -> Iterator[_Connection]:
        psycopg = _psycopg()
        with self._lock:
            try:
                conn = self._live_connection()
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_id(key or "state"),))
                    wrapped = _Connection(conn)
                    yield wrapped
            except psycopg.Error as exc:
                raise self._failed(exc) from None
            if wrapped.notified:
                self._own_notices += 1

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        psycopg = _psycopg()
        with self._lock:
            try:
                return self._live_connection().execute(_translate(sql), tuple(params)).fetchall()
            except psycopg.Error as exc:
                raise self._failed(exc) from None

    def notify(self, conn: Any, channel: str) -> None:
        conn.execute("SELECT pg_notify(?, ?)", (CHANNEL, channel))
        conn.notified = True

    def changes(self) -> Any:
        """Notices counted by the listener plus this handle's own; while the listener is
        down, a new value on every call (every caller reads)."""
        if not self._listen:
            return next(self._reads)
        with self._lock:
            if self._listener is None or not self._listener.alive:
                if self._listener is not None:
                    self._listener.stop()
                try:
                    self._listener = _Listener(self)
                except StoreUnavailableError:
                    self._listener = None
                return ("read", next(self._reads))
            count = self._listener.poll()
            if not self._listener.alive:
                return ("read", next(self._reads))
            return count, self._own_notices

    def require_durable_commits(self) -> None:
        with self._lock:
            self._synchronous = "FULL"
            self._live_connection().execute("SET synchronous_commit = on")

    def columns(self, conn: Any, table: str) -> set[str]:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        ).fetchall()
        return {r[0] for r in rows}

    def _run_ddl(self, conn: Any, ddl: str) -> None:
        super()._run_ddl(conn, postgres_ddl(ddl))

    def table_names(self) -> set[str]:
        return {r[0] for r in self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}

    def after_copy(self, conn: Any, table: str) -> None:
        identity = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? AND is_identity = 'YES'",
            (table,),
        ).fetchall()
        for (column,) in identity:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence(?, ?), coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)",
                (table, column),
            )

    def reopen(self) -> PostgresStore:
        return PostgresStore(self.url, data_dir=self.data_dir, synchronous=self._synchronous, listen=self._listen)

    def close(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._listener.stop()
            self._conn.close()


class _Listener:
    """``LISTEN`` on its own connection, polled without blocking whenever someone asks for
    :meth:`PostgresStore.changes` (a ``select`` with no wait: microseconds, no thread)."""

    def __init__(self, store: PostgresStore):
        psycopg = _psycopg()
        try:
            self._conn = psycopg.connect(store.url, autocommit=True, **CONNECT_OPTIONS)
            self._conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            raise store._unavailable(exc) from None
        self.count = 0
        self.alive = True

    def poll(self) -> int:
        """Count the notices that arrived; on any error the listener is dead (callers read)."""
        import select

        try:
            if select.select([self._conn.fileno()], [], [], 0)[0]:
                for _ in self._conn.notifies(timeout=0):
                    self.count += 1
        except Exception:
            self.alive = False
        return self.count

    def stop(self) -> None:
        self.alive = False
        with suppress(Exception):
            self._conn.close()
