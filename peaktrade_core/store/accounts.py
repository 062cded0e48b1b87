"""Paper and shadow accounts that outlive a session: one encoded portfolio per account and mode."""

from __future__ import annotations

from typing import Any

from peaktrade_core.store.base import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    account TEXT NOT NULL,
    mode TEXT NOT NULL,
    state TEXT NOT NULL,
    run_id TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (account, mode)
);
"""
_SAVE = (
    "INSERT INTO accounts (account, mode, state, run_id, updated_at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (account, mode) DO UPDATE SET state = excluded.state,"
    " run_id = excluded.run_id, updated_at = excluded.updated_at"
)


class AccountsRepository:
    def __init__(self, store: StateStore):
        self.store = store
        store.ensure_schema("accounts", _SCHEMA)

    def load(self, account: str, mode: str) -> Any:
        """The stored row (``state``, ``run_id``, ``updated_at``), or ``None``."""
        rows = self.store.query("SELECT state, run_id, updated_at FROM accounts WHERE account = ? AND mode = ?", (account, mode))
        return rows[0] if rows else None

    def save(self, account: str, mode: str, state: str, run_id: str | None, updated_at: float, conn: Any = None) -> None:
        """Write the account: inside ``conn`` (a transaction that writes more), or in its own."""
        if conn is not None:
            conn.execute(*self.save_statement(account, mode, state, run_id, updated_at))
            return
        with self.store.transaction() as own:
            own.execute(*self.save_statement(account, mode, state, run_id, updated_at))

    @staticmethod
    def save_statement(account: str, mode: str, state: str, run_id: str | None, updated_at: float) -> tuple[str, tuple[Any, ...]]:
        """:meth:`save` as ``(sql, params)``, for a writer that executes it in its own
        transaction (the run log's ``on_commit``)."""
        return _SAVE, (account, mode, state, run_id, updated_at)
