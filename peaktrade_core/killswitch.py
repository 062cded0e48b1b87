"""The global kill switch (GATE-3): latching, shared by every process using the data dir.

Engaging or releasing appends an event (who, when, why, from where); the state is the last
event. Only a person releases it, with a reason. Reading is cheap: the state is cached and
re-read only when SQLite reports that another connection committed (``data_version``).
"""

from __future__ import annotations

import getpass
import threading
from datetime import UTC, datetime
from typing import Any

from peaktrade_core.gates import RELEASED, KillSwitchState
from peaktrade_core.log import SAFETY, logger
from peaktrade_core.state import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kill_switch_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL CHECK (action IN ('engage', 'release')),
    operator TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    source TEXT NOT NULL
);
"""


class KillSwitchError(Exception):
    """A kill-switch action was refused (e.g. release without a reason)."""


def current_operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): still record something honest
        return "unknown"


class KillSwitch:
    def __init__(self, store: StateStore):
        self.store = store
        store.ensure_schema("kill_switch", _SCHEMA)
        self._lock = threading.Lock()
        self._version: int | None = None
        self._cached: KillSwitchState = RELEASED

    def state(self) -> KillSwitchState:
        with self._lock:
            version = self.store.data_version()
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

    def _append(self, action: str, reason: str, operator: str | None, source: str) -> KillSwitchState:
        if not reason or not reason.strip():
            raise KillSwitchError(f"a reason is required to {action} the kill switch")
        operator = operator or current_operator()
        at = datetime.now(UTC).isoformat(timespec="seconds")
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO kill_switch_events (action, operator, reason, at, source) VALUES (?, ?, ?, ?, ?)",
                (action, operator, reason.strip(), at, source),
            )
        with self._lock:
            self._version = None  # our own commit does not move data_version
        state = self.state()
        logger.bind(tag=SAFETY).warning("kill switch {}d by {} ({}): {}", action, operator, source, reason)
        return state

    def engage(self, reason: str, operator: str | None = None, source: str = "cli") -> KillSwitchState:
        """Stop all new orders until a person releases the switch."""
        return self._append("engage", reason, operator, source)

    def release(self, reason: str, operator: str | None = None, source: str = "cli") -> KillSwitchState:
        if not self.state().engaged:
            raise KillSwitchError("the kill switch is not engaged")
        return self._append("release", reason, operator, source)

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, action, operator, reason, at, source FROM kill_switch_events ORDER BY id"
        rows = self.store.query(sql)
        out = [dict(r) for r in rows]
        return out[-limit:] if limit else out
