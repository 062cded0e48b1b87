"""The interface every state backend implements, and the portable SQL it accepts.

Repositories (the other modules of this package) write SQL both backends run:

* ``?`` placeholders; rows answer by index and by column name (``row["id"]``);
* no PRAGMA, ``sqlite_master``, ``rowid``, ``INSERT OR IGNORE/REPLACE`` (write
  ``ON CONFLICT … DO NOTHING / DO UPDATE``) or ``lastrowid`` (write ``RETURNING id``);
* DDL in this SQLite subset, which :func:`postgres_ddl` translates: ``INTEGER PRIMARY KEY
  AUTOINCREMENT``, ``INTEGER``, ``REAL``, ``TEXT``, ``BLOB``, ``WITHOUT ROWID``, ``CHECK``,
  ``CREATE INDEX IF NOT EXISTS``.

Every component's schema carries a version (table ``schema_versions``): a store migrates
forward on open, and a process refuses, in one line, a store whose schema is newer than it
knows (:class:`SchemaTooNewError`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:  # built only to copy a store: every command opening one need not build it
    from peaktrade_core.store.copy import TableDefinition

#: next to a store: the identity the data dir expects (see :mod:`peaktrade_core.state`)
IDENTITY_FILE = "peaktrade.identity"

_VERSIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_versions (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    applied_at TEXT NOT NULL
);
"""

#: a migration step: DDL text, or a function given the open transaction's connection and
#: the store (for steps that must look before they change, e.g. add a column if missing)
MigrationStep = str | Callable[[Any, "StateStore"], None]


class StateError(Exception):
    """The state store cannot be opened or read (damaged file, unwritable directory)."""


class StoreUnavailableError(StateError):
    """The database cannot be reached (server down, network, credentials)."""


class SchemaTooNewError(StateError):
    """The store was migrated by a newer peaktrade than this one."""


def store_errors() -> tuple[type[BaseException], ...]:
    """What reading or writing any store can raise for a reason outside the program: a
    damaged SQLite file raises ``sqlite3.DatabaseError`` from a read; PostgreSQL's errors
    arrive as :class:`StateError`."""
    import sqlite3

    return (StateError, sqlite3.DatabaseError)


def describe_url(url: str) -> str:
    """A database URL without its password, for messages and the identity file."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


class StateStore:
    """A thread-safe handle on the state database. Subclasses: :class:`SqliteStore`,
    :class:`PostgresStore`. Repositories use only the methods below."""

    #: "sqlite" or "postgresql"
    backend: str = ""
    #: where the store lives, for people: a path, or a URL without its password
    location: str = ""
    in_memory: bool = False
    #: the data directory this store's identity file lives in (``None``: none)
    data_dir: Path | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> StateStore:
        # ``StateStore(path)`` opens the default backend (an SQLite file); ``open_store``
        # picks the backend a configuration names
        if cls is StateStore:
            from peaktrade_core.store.sqlite import SqliteStore

            return super().__new__(SqliteStore)
        return super().__new__(cls)

    def __init__(self) -> None:
        self._schemas: set[str] = set()

    @classmethod
    def in_dir(cls, data_dir: str | os.PathLike[str], **kwargs: Any) -> StateStore:
        """The SQLite store of a data directory."""
        from peaktrade_core.store.sqlite import STATE_FILE, SqliteStore

        return SqliteStore(Path(data_dir) / STATE_FILE, **kwargs)

    # -- what backends implement ------------------------------------------------------------

    def transaction(self, key: str | None = None) -> AbstractContextManager[Any]:
        """A write transaction; yields a connection with ``execute(sql, params)`` and
        ``executemany``. Writers serialise across processes on ``key`` (``None``: every
        writer); SQLite has one write lock, so there every key is the same."""
        raise NotImplementedError

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """Rows of one read (index and column-name access)."""
        raise NotImplementedError

    def rows(self, conn: Any, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """Rows of a read inside a transaction (``conn``), or on its own (``None``)."""
        return conn.execute(sql, tuple(params)).fetchall() if conn is not None else self.query(sql, params)

    def changes(self) -> Any:
        """A value that differs after any commit to the store, by anyone: a cheap "did
        anything change?" (the kill switch re-reads only then)."""
        raise NotImplementedError

    def notify(self, conn: Any, channel: str) -> None:
        """Inside a transaction: tell other processes, on commit, that ``channel`` changed."""

    def require_durable_commits(self) -> None:
        """Every commit reaches the disk before it returns (durability ``"order"``)."""
        raise NotImplementedError

    def columns(self, conn: Any, table: str) -> set[str]:
        raise NotImplementedError

    def reopen(self) -> StateStore:
        """A second handle on the same store (its own connection, e.g. for a thread)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # -- copying a whole store (``state migrate``) -------------------------------------------

    def table_definitions(self) -> list[TableDefinition]:
        """Every table and index, as portable DDL (tables first)."""
        raise NotImplementedError(f"the {self.backend} backend cannot be the source of a migration")

    def table_names(self) -> set[str]:
        raise NotImplementedError

    def column_order(self, table: str) -> list[str]:
        raise NotImplementedError(f"the {self.backend} backend cannot be the source of a migration")

    def pages(self, sql: str, size: int) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of one read, ``size`` at a time (memory stays flat)."""
        raise NotImplementedError(f"the {self.backend} backend cannot be the source of a migration")

    def after_copy(self, conn: Any, table: str) -> None:
        """Rows with explicit ids were copied into ``table``: new ids continue after them."""

    def _run_ddl(self, conn: Any, ddl: str) -> None:
        for statement in _statements(ddl):
            conn.execute(statement)

    # -- schema versions ----------------------------------------------------------------------

    def ensure_schema(self, name: str, ddl: str) -> None:
        """Create a component's tables (its schema version 1) if they do not exist yet."""
        self.migrate(name, [ddl])

    def migrate(self, name: str, steps: Sequence[MigrationStep]) -> None:
        """Bring component ``name`` to version ``len(steps)``: step *i* moves it from
        version *i* to *i + 1*. Steps must tolerate a store made before versions were kept
        (``CREATE … IF NOT EXISTS``; functions that look first). Refuses a newer store."""
        if name in self._schemas:
            return
        known = len(steps)
        if self._version_of(name) == known:  # the common case: a read, no write lock
            self._schemas.add(name)
            return
        with self.transaction(key="schema") as conn:
            self._run_ddl(conn, _VERSIONS_DDL)
            row = conn.execute("SELECT version FROM schema_versions WHERE component = ?", (name,)).fetchone()
            current = row[0] if row else 0
            if current > known:
                raise SchemaTooNewError(
                    f"state store {self.location}: its '{name}' schema is version {current}, this peaktrade "
                    f"knows up to {known}; upgrade peaktrade (a newer version migrated this store)"
                )
            for step in steps[current:]:
                if callable(step):
                    step(conn, self)
                else:
                    self._run_ddl(conn, step)
            if current < known:
                from peaktrade_core.state import now_iso

                conn.execute(
                    "INSERT INTO schema_versions (component, version, applied_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at",
                    (name, known, now_iso()),
                )
        self._schemas.add(name)

    def _version_of(self, name: str) -> int | None:
        try:
            rows = self.query("SELECT version FROM schema_versions WHERE component = ?", (name,))
        except Exception:  # no versions table yet (a new or older store): migrate says more
            return None
        return rows[0][0] if rows else None

    def schema_versions(self) -> dict[str, int]:
        with self.transaction(key="schema") as conn:
            self._run_ddl(conn, _VERSIONS_DDL)
            return {r[0]: r[1] for r in conn.execute("SELECT component, version FROM schema_versions ORDER BY component").fetchall()}

    # -- identity ---------------------------------------------------------------------------

    @property
    def identity_file(self) -> Path | None:
        return None if self.in_memory or self.data_dir is None else self.data_dir / IDENTITY_FILE

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def add_column(table: str, column: str, decl: str) -> MigrationStep:
    """A migration step adding a column unless a store made before versions has it."""

    def step(conn: Any, store: StateStore) -> None:
        if column not in store.columns(conn, table):  # the type in the backend's words (BLOB)
            store._run_ddl(conn, f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

    return step


def _statements(ddl: str) -> Iterator[str]:
    for statement in ddl.split(";"):
        if statement.strip():
            yield statement.strip()


# patterns, compiled (and cached by re) on first use: a SQLite store never needs them
_PG_TYPES = [
    # a column INTEGER PRIMARY KEY is SQLite's rowid, assigned on insert with or without
    # AUTOINCREMENT (tables of older stores, copied by ``state migrate``, have the latter)
    (r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (r"\bINTEGER\b", "BIGINT"),
    (r"\bREAL\b", "DOUBLE PRECISION"),
    (r"\bBLOB\b", "BYTEA"),
    (r"\)\s*WITHOUT\s+ROWID", ")"),
]


def postgres_ddl(ddl: str) -> str:
    """The portable DDL subset in PostgreSQL's words."""
    for pattern, replacement in _PG_TYPES:
        ddl = re.sub(pattern, replacement, ddl, flags=re.I)
    return ddl

