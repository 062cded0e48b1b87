"""Venue nonces: per key id a strictly increasing number, across restarts, processes and hosts.

Venues that authenticate with a nonce (Kraken: "must strictly increase per API key") reject
a request whose nonce is not above the last one they saw. Every process that signs with a
key takes its nonces here, so two processes — on one machine or on several hosts sharing a
PostgreSQL store — never hand out the same or a smaller one.
"""

from __future__ import annotations

from peaktrade_core.store.base import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS venue_nonces (
    key_id TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
"""


class VenueNonces:
    """Strictly increasing nonces per key id. Store a hash of an API key as its id, never the key."""

    def __init__(self, store: StateStore):
        self.store = store
        store.migrate("venue_nonces", [_SCHEMA])

    def next(self, key_id: str, at_least: int = 0) -> int:
        """The next nonce of ``key_id``: ``max(at_least, last + 1)`` (at least 1), recorded
        before it is returned. One statement reads and raises the row, so it is atomic on
        either backend; the per-key lock keeps other keys' writers from waiting on it."""
        with self.store.transaction(key=f"nonce:{key_id}") as conn:
            row = conn.execute(
                "INSERT INTO venue_nonces (key_id, last) VALUES (?, ?) ON CONFLICT (key_id) DO UPDATE SET last ="
                " CASE WHEN venue_nonces.last + 1 > excluded.last THEN venue_nonces.last + 1 ELSE excluded.last END"
                " RETURNING last",
                (key_id, max(int(at_least), 1)),
            ).fetchone()
        return int(row[0])

    def last(self, key_id: str) -> int:
        """The last nonce handed out for ``key_id`` (0: none yet)."""
        rows = self.store.query("SELECT last FROM venue_nonces WHERE key_id = ?", (key_id,))
        return int(rows[0][0]) if rows else 0
