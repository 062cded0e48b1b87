"""The global kill switch (GATE-3): latching, shared by every process using the data dir.

Engaging or releasing appends an event (who, when, why, from where); the state is the last
event. Only a person releases it, with a reason. Each event seals the one before it (a hash
chain whose head the store's identity file records, see :mod:`peaktrade_core.state`), so
deleted events are detected. Reading is cheap: the state is cached and re-read only when
the store reports a commit, by another connection or by this one.
"""

from __future__ import annotations

import threading
from typing import Any

from peaktrade_core.gates import RELEASED, KillSwitchState
from peaktrade_core.log import SAFETY, logger
from peaktrade_core.state import (
    StateStore,
    chain_hash,
    current_operator,
    note_kill_switch_event,
    now_iso,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kill_switch_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL CHECK (action IN ('engage', 'release')),
    operator TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    chain TEXT
);
"""

__all__ = ["KillSwitch", "KillSwitchError", "current_operator"]


class KillSwitchError(Exception):
    """A kill-switch action was refused (e.g. release without a reason)."""


class KillSwitch:
    def __init__(self, store: StateStore):
        self.store = store
        store.ensure_schema("kill_switch", _SCHEMA)
        store.add_column("kill_switch_events", "chain", "TEXT")  # stores from before the chain
        self._lock = threading.Lock()
        self._version: tuple[int, int] | None = None
        self._cached: KillSwitchState = RELEASED

    def state(self) -> KillSwitchState:
        with self._lock:
            version = self.store.version()
            if version != self._version:
                self._cached = self._read()
                self._version = version
            return self._cached

    def _read(self) -> KillSwitchState:
        rows = self.store.query(
            "SELECT action, operator, reason, at, source FROM kill_switch_events ORDER BY id DESC LIMIT 1"
        )
        if not rows or rows[0]["action"] == "release":
            return RELEASED
        r = rows[0]
        return KillSwitchState(True, r["operator"], r["reason"], r["at"], r["source"])

    def _append(self, action: str, reason: str, operator: str | None, source: str) -> dict[str, Any]:
        if not reason or not reason.strip():
            raise KillSwitchError(f"a reason is required to {action} the kill switch")
        event = {"action": action, "operator": operator or current_operator(), "reason": reason.strip(), "at": now_iso(), "source": source}
        with self.store.transaction() as conn:
            last = conn.execute("SELECT chain FROM kill_switch_events ORDER BY id DESC LIMIT 1").fetchone()
            event["chain"] = chain_hash((last and last[0]) or "", event)
            cur = conn.execute(
                "INSERT INTO kill_switch_events (action, operator, reason, at, source, chain) VALUES (?, ?, ?, ?, ?, ?)",
                tuple(event.values()),
            )
            event["id"] = cur.lastrowid
            note_kill_switch_event(self.store, conn)
        logger.bind(tag=SAFETY).warning("kill switch {}d by {} ({}): {}", action, event["operator"], source, event["reason"])
        return event

    def engage(self, reason: str, operator: str | None = None, source: str = "cli") -> dict[str, Any]:
        """Stop all new orders until a person releases the switch. Returns the recorded
        event (id, action, operator, reason, at, source, chain)."""
        return self._append("engage", reason, operator, source)

    def release(self, reason: str, operator: str | None = None, source: str = "cli") -> dict[str, Any]:
        """Release the switch (a person, with a reason). Returns the recorded event."""
        if not self.state().engaged:
            raise KillSwitchError("the kill switch is not engaged")
        return self._append("release", reason, operator, source)

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, action, operator, reason, at, source FROM kill_switch_events ORDER BY id"
        rows = self.store.query(sql)
        out = [dict(r) for r in rows]
        return out[-limit:] if limit else out
