"""Simulated accounts that outlive a session (paper and shadow): positions, average prices,
cash, PnL and the day's loss baseline, per account name and mode, in the state store.

Without this every session started flat, so a ``reduce_only`` close under the kill switch
had nothing to reduce, ``peaktrade portfolio`` showed one run instead of the account, and
the daily loss limit forgot the morning's losses. The pipeline loads the account when a
session starts and writes it after every batch's run-log commit, so a crash keeps what
was committed. ``session run --fresh-account`` starts the account over on purpose.

Venue modes (testnet, live) keep no account here: there the venue holds the positions.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

from attrs import fields, frozen

from peaktrade_core.risk import PortfolioState
from peaktrade_core.state import StateStore

#: effective modes whose (simulated) accounts persist across sessions
ACCOUNT_MODES = frozenset({"paper", "shadow"})

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

#: the PortfolioState fields stored (all of them: a session resumes exactly)
_FIELDS = tuple(f.name for f in fields(PortfolioState))
_MAPPINGS = ("positions", "average_prices", "last_prices")


class AccountError(Exception):
    """A stored account cannot be used (damaged); the message is one line."""


@frozen
class StoredAccount:
    account: str
    mode: str
    portfolio: PortfolioState
    run_id: str | None
    updated_at: float

    @property
    def updated_iso(self) -> str:
        return datetime.fromtimestamp(self.updated_at, UTC).isoformat(timespec="seconds")


class AccountStore:
    """Read and write accounts in the state store's ``accounts`` table."""

    def __init__(self, store: StateStore):
        self.store = store
        store.ensure_schema("accounts", _SCHEMA)

    def load(self, account: str, mode: str) -> StoredAccount | None:
        """The stored account, ``None`` if it has none yet. Damage raises :class:`AccountError`."""
        rows = self.store.query(
            "SELECT state, run_id, updated_at FROM accounts WHERE account = ? AND mode = ?", (account, mode)
        )
        if not rows:
            return None
        row = rows[0]
        try:
            portfolio = _decode(row["state"])
        except (ValueError, TypeError, KeyError) as exc:
            raise AccountError(
                f"account {account!r} ({mode}) in {self.store.location} is damaged ({exc}); "
                "nothing was executed: start it over with `session run --fresh-account`"
            ) from None
        return StoredAccount(account, mode, portfolio, row["run_id"], row["updated_at"])

    def save(self, account: str, mode: str, portfolio: PortfolioState, run_id: str | None) -> None:
        with self.store.transaction() as conn:
            conn.execute(*self.save_statement(account, mode, portfolio, run_id))

    @staticmethod
    def save_statement(account: str, mode: str, portfolio: PortfolioState, run_id: str | None) -> tuple[str, tuple[Any, ...]]:
        """:meth:`save` as ``(sql, params)``, for a transaction that writes more (the run log's)."""
        return (
            "INSERT INTO accounts (account, mode, state, run_id, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (account, mode) DO UPDATE SET state = excluded.state,"
            " run_id = excluded.run_id, updated_at = excluded.updated_at",
            (account, mode, _encode(portfolio), run_id, time.time()),
        )


def _encode(portfolio: PortfolioState) -> str:
    # allow_nan=False: a non-finite number never reaches the store (apply_fill refuses it
    # first; this is the last line)
    return json.dumps({name: getattr(portfolio, name) for name in _FIELDS}, allow_nan=False, sort_keys=True)


def _decode(text: str) -> PortfolioState:
    data: dict[str, Any] = json.loads(text)
    values: dict[str, Any] = {}
    for name in _FIELDS:
        value = data[name]
        if name in _MAPPINGS:
            if not isinstance(value, dict):
                raise ValueError(f"{name} is not a table")
            value = {str(k): _finite(f"{name}[{k}]", v) for k, v in value.items()}
        elif name == "day":
            if not isinstance(value, str):
                raise ValueError("day is not a date")
        else:
            value = _finite(name, value)
        values[name] = value
    return PortfolioState(**values)


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} = {value!r} is not a finite number")
    return float(value)


def fresh_portfolio(starting_cash: float) -> PortfolioState:
    return PortfolioState(cash=starting_cash, starting_equity=starting_cash)


def adopt(target: PortfolioState, source: PortfolioState) -> None:
    """Make ``target`` (the object the pipeline and its checks hold) equal to ``source``."""
    for name in _FIELDS:
        value = getattr(source, name)
        setattr(target, name, dict(value) if name in _MAPPINGS else value)
