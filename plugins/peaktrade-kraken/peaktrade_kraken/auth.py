"""Kraken's request authentication: the signature, nonces that only ever grow, and the
client-side copy of Kraken's per-key call counter.

Signature (Kraken's REST documentation, "Authentication")::

    API-Sign = base64( HMAC-SHA512( base64decode(secret), uri_path + SHA256(nonce + postdata) ) )

Nonces must strictly increase per API key, across restarts and across every process using
the key. The last one handed out lives in the state store (table ``kraken_nonces``, keyed by
a hash of the key, never the key) and the next is ``max(now in microseconds, last + 1)``,
taken inside a ``BEGIN IMMEDIATE`` transaction: two processes on one data directory can
never hand out the same or a smaller nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peaktrade_core.state import StateStore


def sign(uri_path: str, nonce: int | str, postdata: str, secret: str) -> str:
    """The ``API-Sign`` header for one request."""
    digest = hashlib.sha256((str(nonce) + postdata).encode()).digest()
    mac = hmac.new(base64.b64decode(secret), uri_path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def key_id(api_key: str) -> str:
    """What the nonce table stores instead of the key: a short hash of it."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


_NONCE_SCHEMA = """
CREATE TABLE IF NOT EXISTS kraken_nonces (
    key_id TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
"""


class NonceStore:
    """Strictly increasing nonces for one API key, shared through the state store."""

    def __init__(self, store: StateStore, api_key: str, clock_ns: Callable[[], int] = time.time_ns):
        self.store = store
        self.key_id = key_id(api_key)
        self.clock_ns = clock_ns
        store.ensure_schema("kraken_nonces", _NONCE_SCHEMA)

    def next(self, at_least: int = 0) -> int:
        with self.store.transaction() as conn:
            row = conn.execute("SELECT last FROM kraken_nonces WHERE key_id = ?", (self.key_id,)).fetchone()
            last = row[0] if row else 0
            nonce = max(self.clock_ns() // 1000, last + 1, at_least)
            conn.execute(
                "INSERT INTO kraken_nonces (key_id, last) VALUES (?, ?)"
                " ON CONFLICT(key_id) DO UPDATE SET last = excluded.last",
                (self.key_id, nonce),
            )
        return nonce

    def last(self) -> int:
        rows = self.store.query("SELECT last FROM kraken_nonces WHERE key_id = ?", (self.key_id,))
        return rows[0][0] if rows else 0


#: what a private call adds to Kraken's per-key counter. Order placement and cancels are
#: limited by the matching engine's own per-pair limiter, not this counter; history calls cost 2.
CALL_COST = {
    "AddOrder": 0,
    "CancelOrder": 0,
    "CancelAll": 0,
    "CancelAllOrdersAfter": 0,
    "ClosedOrders": 2,
    "QueryTrades": 2,
    "TradesHistory": 2,
    "Ledgers": 2,
    "QueryLedgers": 2,
}


def call_cost(endpoint: str) -> int:
    return CALL_COST.get(endpoint, 1)


class CallCounter:
    """Kraken's per-key counter, kept on this side: every private call adds its cost, the
    counter decays at the tier's rate, and a call that would push it past the ceiling waits
    until it fits — so the client never earns ``EAPI:Rate limit exceeded`` or the lockout
    that follows. The venue counts a request when it arrives, a little after we counted it,
    and uneven delays can bunch arrivals closer than we sent them: one unit of the ceiling is
    kept free as headroom for that."""

    HEADROOM = 1.0

    def __init__(
        self,
        ceiling: float,
        decay_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.ceiling = max(ceiling - self.HEADROOM, ceiling / 2)
        self.decay = decay_per_second
        self.clock = clock
        self.sleep = sleep
        self.level = 0.0
        self._at = clock()
        self._lock = threading.Lock()
        #: seconds waited in total (operators see it in ``ping``)
        self.waited = 0.0

    def _decay(self) -> None:
        now = self.clock()
        self.level = max(0.0, self.level - (now - self._at) * self.decay)
        self._at = now

    def acquire(self, cost: float) -> float:
        """Count one call of ``cost``, waiting first if it would not fit; returns the wait."""
        if cost <= 0:
            return 0.0
        with self._lock:  # waits are served in order: one caller sleeps at a time
            self._decay()
            excess = self.level + cost - self.ceiling
            wait = excess / self.decay if excess > 0 else 0.0
            if wait > 0:
                self.sleep(wait)
                self.waited += wait
                self._decay()
                self.level = min(self.level, self.ceiling - cost)  # the decay we waited for
            self.level += cost
            return wait
