"""Kraken's request authentication: the signature, nonces that only ever grow, and the
client-side copy of Kraken's per-key call counter.

Signature (Kraken's REST documentation, "Authentication")::

    API-Sign = base64( HMAC-SHA512( base64decode(secret), uri_path + SHA256(nonce + postdata) ) )

Nonces must strictly increase per API key, across restarts and across every process using
the key. The core's venue nonces (``VenueNonces``: the last one handed out per key id, a
hash of the key, never the key) hand out ``max(now in microseconds, last + 1)`` atomically:
two processes — on one data directory, or on several hosts sharing a PostgreSQL store — can
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
    from peaktrade_core.plugin_api import StateStore


def sign(uri_path: str, nonce: int | str, postdata: str, secret: str) -> str:
    """The ``API-Sign`` header for one request."""
    digest = hashlib.sha256((str(nonce) + postdata).encode()).digest()
    mac = hmac.new(base64.b64decode(secret), uri_path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def key_id(api_key: str) -> str:
    """What the nonce table stores instead of the key: a short hash of it."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


#: where nonces were kept before the core's venue nonces: read once, so none goes backwards
_LEGACY_NONCES = "kraken_nonces"


class NonceStore:
    """Strictly increasing nonces for one API key, shared through the state store."""

    def __init__(self, store: StateStore, api_key: str, clock_ns: Callable[[], int] = time.time_ns):
        from peaktrade_core.plugin_api import VenueNonces

        self.store = store
        self.key_id = key_id(api_key)
        self.clock_ns = clock_ns
        self.nonces = VenueNonces(store)
        if _LEGACY_NONCES in store.table_names():
            legacy = store.query(f"SELECT last FROM {_LEGACY_NONCES} WHERE key_id = ?", (self.key_id,))
            if legacy and legacy[0][0] > self.nonces.last(self.key_id):
                self.nonces.next(self.key_id, at_least=int(legacy[0][0]))  # the last is at least the old one

    def next(self, at_least: int = 0) -> int:
        return self.nonces.next(self.key_id, max(self.clock_ns() // 1000, at_least))

    def last(self) -> int:
        return self.nonces.last(self.key_id)


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


_COUNTER_SCHEMA = """
CREATE TABLE IF NOT EXISTS kraken_call_counters (
    key_id TEXT PRIMARY KEY,
    level REAL NOT NULL,
    at REAL NOT NULL
);
"""


class CallCounter:
    """Kraken's per-key counter, kept on this side: every private call adds its cost, the
    counter decays at the tier's rate, and a call that would push it past the ceiling waits
    until it fits — so the key never earns ``EAPI:Rate limit exceeded`` or the lockout that
    follows.

    With a state store the counter is shared by every process on that data directory (a
    session, ``peaktrade kill``, ``peaktrade exchange …`` on one key): a call *reserves* its
    cost in one short transaction and then waits, outside any lock, until the reservation
    fits. The venue counts a request when it arrives, a little after we counted it, and
    uneven delays can bunch arrivals closer than we sent them: one unit of the ceiling is
    kept free as headroom for that."""

    HEADROOM = 1.0

    def __init__(
        self,
        ceiling: float,
        decay_per_second: float,
        store: StateStore | None = None,
        api_key: str = "",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.ceiling = max(ceiling - self.HEADROOM, ceiling / 2)
        self.decay = decay_per_second
        self.store = store
        self.key_id = key_id(api_key)
        self.clock = clock
        self.sleep = sleep
        self._level, self._at = 0.0, clock()  # without a store
        self._lock = threading.Lock()
        #: seconds waited in total
        self.waited = 0.0
        if store is not None:
            store.ensure_schema("kraken_call_counters", _COUNTER_SCHEMA)

    def _decayed(self, level: float, at: float, now: float) -> float:
        return max(0.0, level - max(0.0, now - at) * self.decay)

    def _reserve(self, cost: float) -> float:
        """Add ``cost`` now; the seconds until the counter is back under the ceiling."""
        now = self.clock()
        if self.store is None:
            with self._lock:
                self._level = self._decayed(self._level, self._at, now) + cost
                self._at = now
                level = self._level
        else:
            with self.store.transaction() as conn:
                row = conn.execute("SELECT level, at FROM kraken_call_counters WHERE key_id = ?", (self.key_id,)).fetchone()
                level = (self._decayed(row[0], row[1], now) if row else 0.0) + cost
                conn.execute(
                    "INSERT INTO kraken_call_counters (key_id, level, at) VALUES (?, ?, ?)"
                    " ON CONFLICT(key_id) DO UPDATE SET level = excluded.level, at = excluded.at",
                    (self.key_id, level, now),
                )
        return max(0.0, (level - self.ceiling) / self.decay)

    def level_now(self) -> float:
        if self.store is None:
            with self._lock:
                return self._decayed(self._level, self._at, self.clock())
        rows = self.store.query("SELECT level, at FROM kraken_call_counters WHERE key_id = ?", (self.key_id,))
        return self._decayed(rows[0][0], rows[0][1], self.clock()) if rows else 0.0

    def acquire(self, cost: float) -> float:
        """Count one call of ``cost``, waiting first if it would not fit; returns the wait."""
        if cost <= 0:
            return 0.0
        wait = self._reserve(cost)
        if wait > 0:
            self.sleep(wait)
            self.waited += wait
        return wait
