"""Where state lives: one small interface, two backends, and a repository per subsystem.

Everything that must outlive a process or be shared between processes — the kill switch,
the run log, the alert history, risk records, the shared risk budget, accounts, venue
nonces, testnet usage, the drill log — goes through a :class:`StateStore`:

* :class:`~peaktrade_core.store.sqlite.SqliteStore` — one SQLite file (WAL) in the data
  directory: the default, for every process of one machine;
* :class:`~peaktrade_core.store.postgres.PostgresStore` — a PostgreSQL database (psycopg 3)
  for several hosts that must share one kill switch, one risk budget and one audit trail.

``[state] url`` selects the backend (a secret reference: the URL may carry a password);
without one the store is SQLite in the data directory. The SQL lives in this package only:
one repository module per subsystem, written in a portable subset that both backends run
(:mod:`peaktrade_core.store.base` says which), and the backends translate what differs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from peaktrade_core.store.base import (
    SchemaTooNewError,
    StateError,
    StateStore,
    StoreUnavailableError,
    describe_url,
    store_errors,
)

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "SchemaTooNewError",
    "StateError",
    "StateStore",
    "StoreUnavailableError",
    "describe_url",
    "open_store",
    "open_store_url",
    "store_errors",
]


def open_store_url(url: str, *, data_dir: str | Path | None = None, **kwargs: Any) -> StateStore:
    """The store a URL names: ``postgresql://…`` (or ``postgres://``), ``sqlite:///path``
    or a plain file path. ``data_dir`` holds the identity file of a PostgreSQL store."""
    if url.startswith(("postgresql://", "postgres://")):
        from peaktrade_core.store.postgres import PostgresStore

        return PostgresStore(url, data_dir=data_dir, **kwargs)
    from peaktrade_core.store.sqlite import SqliteStore

    path = url.removeprefix("sqlite://") if url.startswith("sqlite://") else url
    return SqliteStore(path, **kwargs)


def open_store(config: Any, **kwargs: Any) -> StateStore:
    """The state store a configuration names: ``[state] url`` if set, else SQLite in the
    data directory."""
    from peaktrade_core.store.sqlite import SqliteStore

    data_dir = config.data_dir()
    url = config.state_url()
    if url:
        return open_store_url(url, data_dir=data_dir, **kwargs)
    return SqliteStore.in_dir(data_dir, **kwargs)
