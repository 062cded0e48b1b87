"""The shared risk budget's tables and every statement on them (portable SQL).

Four tables, all keyed by *book* (the effective mode: paper, shadow, testnet, live …, so a
paper session never spends a live budget):

* ``risk_budget_leases`` — one row per process using the budget: owner id, host, pid, run,
  ``expires_at`` (epoch seconds, renewed on every batch and by a heartbeat);
* ``risk_budget_reservations`` — exposure reserved before submit and not yet settled,
  aggregated per owner, batch (``-1``: held after the batch, an order still working),
  symbol and side;
* ``risk_budget_exposure`` — the settled shared position per symbol (signed quantity) and
  its mark (the last fill's price);
* ``risk_budget_log`` — one row per committed change (reserve, settle, release of an
  expired lease, close, reset) with the figures it left behind.

Every method of :class:`BudgetTransaction` runs inside the one write transaction that
:meth:`RiskBudgetRepository.transaction` opens, so a check and the reservation it allows are
atomic across processes and hosts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

#: the lock key of every budget transaction (PostgreSQL: only budget writers wait on it)
LOCK_KEY = "risk_budget"

#: ``batch`` of a reservation held after its batch was settled (an order still working)
HELD = -1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS risk_budget_leases (
    owner TEXT NOT NULL PRIMARY KEY,
    book TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    run_id TEXT,
    started_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS risk_budget_reservations (
    book TEXT NOT NULL,
    owner TEXT NOT NULL,
    batch INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    side INTEGER NOT NULL CHECK (side IN (1, -1)),
    quantity REAL NOT NULL,
    amount REAL NOT NULL,
    PRIMARY KEY (owner, batch, symbol, side)
);
CREATE INDEX IF NOT EXISTS risk_budget_reservations_book ON risk_budget_reservations (book, symbol);
CREATE TABLE IF NOT EXISTS risk_budget_exposure (
    book TEXT NOT NULL,
    symbol TEXT NOT NULL,
    quantity REAL NOT NULL,
    price REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (book, symbol)
);
CREATE TABLE IF NOT EXISTS risk_budget_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    book TEXT NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    at REAL NOT NULL,
    orders INTEGER NOT NULL,
    blocked INTEGER NOT NULL,
    settled_total REAL NOT NULL,
    reserved_total REAL NOT NULL,
    detail TEXT NOT NULL
);
"""


class BudgetTransaction:
    """The statements of one budget transaction, on its connection."""

    __slots__ = ("conn",)

    def __init__(self, conn: Any):
        self.conn = conn

    # -- leases ----------------------------------------------------------------------------

    def expired_leases(self, now: float) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            "SELECT owner, book, host, pid, run_id, expires_at FROM risk_budget_leases WHERE expires_at < ?", (now,)
        )
        keys = ("owner", "book", "host", "pid", "run_id", "expires_at")
        return [dict(zip(keys, row, strict=True)) for row in cur.fetchall()]

    def reservations_of(self, owner: str) -> list[tuple[str, str, float, float]]:
        """``(book, symbol, quantity, amount)`` per symbol the owner holds."""
        cur = self.conn.execute(
            "SELECT book, symbol, SUM(quantity), SUM(amount) FROM risk_budget_reservations WHERE owner = ? GROUP BY book, symbol",
            (owner,),
        )
        return [(r[0], r[1], float(r[2]), float(r[3])) for r in cur.fetchall()]

    def drop_owner(self, owner: str) -> None:
        """Release every reservation of ``owner`` and its lease."""
        self.conn.execute("DELETE FROM risk_budget_reservations WHERE owner = ?", (owner,))
        self.conn.execute("DELETE FROM risk_budget_leases WHERE owner = ?", (owner,))

    def drop_orphans(self) -> int:
        """Release reservations whose owner holds no lease (removed by hand)."""
        cur = self.conn.execute(
            "DELETE FROM risk_budget_reservations WHERE owner NOT IN (SELECT owner FROM risk_budget_leases)"
        )
        return max(cur.rowcount, 0)

    def renew_lease(self, owner: str, book: str, host: str, pid: int, run_id: str | None, now: float, expires_at: float) -> bool:
        """Extend (or take) ``owner``'s lease; ``False`` when it had none (new, or released)."""
        cur = self.conn.execute(
            "UPDATE risk_budget_leases SET expires_at = ?, run_id = ? WHERE owner = ?", (expires_at, run_id, owner)
        )
        if cur.rowcount:
            return True
        self.conn.execute(
            "INSERT INTO risk_budget_leases (owner, book, host, pid, run_id, started_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (owner, book, host, pid, run_id, now, expires_at),
        )
        return False

    # -- figures ---------------------------------------------------------------------------

    def settled(self, book: str) -> dict[str, tuple[float, float]]:
        """symbol → (signed quantity, mark price) of the settled shared position."""
        cur = self.conn.execute("SELECT symbol, quantity, price FROM risk_budget_exposure WHERE book = ?", (book,))
        return {r[0]: (float(r[1]), float(r[2])) for r in cur.fetchall()}

    def reserved(self, book: str) -> dict[str, list[float]]:
        """symbol → [amount, buy quantity, sell quantity] of every live reservation."""
        cur = self.conn.execute(
            "SELECT symbol, side, SUM(quantity), SUM(amount) FROM risk_budget_reservations WHERE book = ? GROUP BY symbol, side",
            (book,),
        )
        out: dict[str, list[float]] = {}
        for symbol, side, quantity, amount in cur.fetchall():
            row = out.setdefault(symbol, [0.0, 0.0, 0.0])
            row[0] += float(amount)
            row[1 if side > 0 else 2] += float(quantity)
        return out

    def figures(self, book: str) -> tuple[dict[str, tuple[float, float]], dict[str, list[float]]]:
        """:meth:`settled` and :meth:`reserved` in one round trip."""
        cur = self.conn.execute(
            "SELECT 0, symbol, quantity, price, 0 FROM risk_budget_exposure WHERE book = ? "
            "UNION ALL SELECT side, symbol, SUM(quantity), SUM(amount), 0 FROM risk_budget_reservations WHERE book = ? GROUP BY symbol, side",
            (book, book),
        )
        settled: dict[str, tuple[float, float]] = {}
        reserved: dict[str, list[float]] = {}
        for kind, symbol, a, b, _ in cur.fetchall():
            if kind == 0:
                settled[symbol] = (float(a), float(b))
            else:
                row = reserved.setdefault(symbol, [0.0, 0.0, 0.0])
                row[0] += float(b)
                row[1 if kind > 0 else 2] += float(a)
        return settled, reserved

    # -- changes ---------------------------------------------------------------------------

    def add_reservations(self, book: str, owner: str, batch: int, rows: Mapping[tuple[str, int], list[float]]) -> None:
        """``rows``: (symbol, side) → [quantity, amount], added to what the owner holds there."""
        self.conn.executemany(
            "INSERT INTO risk_budget_reservations (book, owner, batch, symbol, side, quantity, amount) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (owner, batch, symbol, side) DO UPDATE SET "
            "quantity = risk_budget_reservations.quantity + excluded.quantity, amount = risk_budget_reservations.amount + excluded.amount",
            [(book, owner, batch, symbol, side, q, a) for (symbol, side), (q, a) in rows.items()],
        )

    def drop_batch(self, owner: str, batch: int) -> None:
        self.conn.execute("DELETE FROM risk_budget_reservations WHERE owner = ? AND batch = ?", (owner, batch))

    def add_fills(self, book: str, fills: Mapping[str, tuple[float, float]], now: float) -> None:
        """``fills``: symbol → (signed quantity, last price), added to the settled position."""
        self.conn.executemany(
            "INSERT INTO risk_budget_exposure (book, symbol, quantity, price, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (book, symbol) DO UPDATE SET quantity = risk_budget_exposure.quantity + excluded.quantity, "
            "price = excluded.price, updated_at = excluded.updated_at",
            [(book, symbol, q, p, now) for symbol, (q, p) in fills.items()],
        )

    def set_settled(self, book: str, symbol: str, quantity: float, price: float, now: float) -> None:
        self.conn.execute(
            "INSERT INTO risk_budget_exposure (book, symbol, quantity, price, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (book, symbol) DO UPDATE SET quantity = excluded.quantity, price = excluded.price, updated_at = excluded.updated_at",
            (book, symbol, quantity, price, now),
        )

    def record(self, book: str, owner: str, kind: str, at: float, orders: int, blocked: int, settled_total: float, reserved_total: float, detail: str) -> None:
        self.conn.execute(
            "INSERT INTO risk_budget_log (book, owner, kind, at, orders, blocked, settled_total, reserved_total, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (book, owner, kind, at, orders, blocked, settled_total, reserved_total, detail),
        )


class RiskBudgetRepository:
    """The shared risk budget in a state store (SQLite or PostgreSQL)."""

    def __init__(self, store: Any):
        self.store = store
        store.ensure_schema("risk_budget", _SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[BudgetTransaction]:
        """One write transaction, serialised with every other budget writer on any host."""
        with self.store.transaction(key=LOCK_KEY) as conn:
            yield BudgetTransaction(conn)

    # -- reading (operators, tests) ----------------------------------------------------------

    def leases(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.store.query("SELECT owner, book, host, pid, run_id, started_at, expires_at FROM risk_budget_leases ORDER BY owner")]

    def reservations(self, book: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT book, owner, batch, symbol, side, quantity, amount FROM risk_budget_reservations"
        params: Iterable[Any] = ()
        if book is not None:
            sql, params = sql + " WHERE book = ?", (book,)
        return [dict(r) for r in self.store.query(sql + " ORDER BY book, owner, batch, symbol, side", params)]

    def exposure(self, book: str) -> dict[str, tuple[float, float]]:
        return {r["symbol"]: (float(r["quantity"]), float(r["price"])) for r in self.store.query(
            "SELECT symbol, quantity, price FROM risk_budget_exposure WHERE book = ? ORDER BY symbol", (book,)
        )}

    def log(self, book: str | None = None, after: int = 0) -> list[dict[str, Any]]:
        sql = "SELECT id, book, owner, kind, at, orders, blocked, settled_total, reserved_total, detail FROM risk_budget_log WHERE id > ?"
        params: tuple[Any, ...] = (after,)
        if book is not None:
            sql, params = sql + " AND book = ?", (after, book)
        return [dict(r) for r in self.store.query(sql + " ORDER BY id", params)]
