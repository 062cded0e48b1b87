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
from collections.abc import Callable
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from attrs import fields, frozen

from peaktrade_core.risk import PortfolioState
from peaktrade_core.state import StateStore

#: effective modes whose (simulated) accounts persist across sessions
ACCOUNT_MODES = frozenset({"paper", "shadow"})

#: the PortfolioState fields stored (all of them: a session resumes exactly)
_FIELDS = tuple(f.name for f in fields(PortfolioState))
_MAPPINGS = ("positions", "average_prices", "last_prices")
_VALUES = attrgetter(*_FIELDS)
_MAPPINGS_AT = tuple(_FIELDS.index(name) for name in _MAPPINGS)


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
    """Read and write accounts in the state store (:class:`~peaktrade_core.store.accounts.AccountsRepository`)."""

    def __init__(self, store: StateStore):
        from peaktrade_core.store.accounts import AccountsRepository

        self.store = store
        self.repository = AccountsRepository(store)

    def load(self, account: str, mode: str) -> StoredAccount | None:
        """The stored account, ``None`` if it has none yet. Damage raises :class:`AccountError`."""
        row = self.repository.load(account, mode)
        if row is None:
            return None
        try:
            portfolio = _decode(row["state"])
        except (ValueError, TypeError, KeyError) as exc:
            raise AccountError(
                f"account {account!r} ({mode}) in {self.store.location} is damaged ({exc}); "
                "nothing was executed: start it over with `session run --fresh-account`"
            ) from None
        return StoredAccount(account, mode, portfolio, row["run_id"], row["updated_at"])

    def save(self, account: str, mode: str, portfolio: PortfolioState, run_id: str | None, conn: Any = None) -> None:
        """Write the account, in its own transaction or inside ``conn`` (one that writes more)."""
        self.repository.save(account, mode, _encode(portfolio), run_id, time.time(), conn)

    def save_statement(self, account: str, mode: str, portfolio: PortfolioState, run_id: str | None) -> tuple[str, tuple[Any, ...]]:
        """:meth:`save` as ``(sql, params)``, for a transaction that writes more (the run
        log's ``on_commit``, so the account and the log agree after a crash)."""
        return self.repository.save_statement(account, mode, _encode(portfolio), run_id, time.time())

    def statement_later(self, account: str, mode: str, portfolio: PortfolioState, run_id: str | None) -> Callable[[], tuple[str, tuple[Any, ...]]]:
        """:meth:`save_statement` of ``portfolio`` as it is now, encoded when called (the run
        log's ``group`` writer encodes only the newest one of each window)."""
        values = list(_VALUES(portfolio))  # one C call: this runs at every commit
        for i in _MAPPINGS_AT:
            values[i] = values[i].copy()
        at = time.time()
        return lambda: self.repository.save_statement(account, mode, _encode_values(dict(zip(_FIELDS, values, strict=True))), run_id, at)


def _encode(portfolio: PortfolioState) -> str:
    # allow_nan=False: a non-finite number never reaches the store (apply_fill refuses it
    # first; this is the last line)
    return _encode_values({name: getattr(portfolio, name) for name in _FIELDS})


def _encode_values(values: dict[str, Any]) -> str:
    return json.dumps(values, allow_nan=False, sort_keys=True)


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
