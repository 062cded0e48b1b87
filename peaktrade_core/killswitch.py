"""The global kill switch (GATE-3): latching, shared by every process using the data dir.

Engaging or releasing appends an event (who, when, why, from where); the state is the last
event. Only a person releases it, with a reason. Each event seals the one before it (a hash
chain whose head the store's identity file records, see :mod:`peaktrade_core.state`), so
deleted events are detected. Reading is cheap: the state is cached and re-read only when
the store reports a commit, by another connection or by this one.
"""

from __future__ import annotations

import threading
import time
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
from peaktrade_core.store.killswitch import KillSwitchRepository

__all__ = ["KillSwitch", "KillSwitchError", "current_operator"]


#: engages and releases made by this process, through any KillSwitch object: a change check
#: allowed to be a little old still sees these at once
_CHANGES_HERE = [0]


class KillSwitchError(Exception):
    """A kill-switch action was refused (e.g. release without a reason)."""


class KillSwitch:
    def __init__(self, store: StateStore):
        self.store = store
        self.events = KillSwitchRepository(store)
        self._lock = threading.Lock()
        self._version: Any = None
        self._cached: KillSwitchState = RELEASED
        self._checked_at = -1e18
        self._clock = time.monotonic
        self._changes_here = -1
        #: (checked at, this process's changes then, the state): replaced whole, so the aged
        #: check reads one consistent answer without taking the lock
        self._aged: tuple[float, int, KillSwitchState] = (-1e18, -1, RELEASED)

    def state(self, fresh: bool = False, max_age: float = 0.0) -> KillSwitchState:
        """The switch's state: cached until the store reports a commit, or read now
        (``fresh``: testnet/live read every batch, so an unreachable store stops them).
        ``max_age``: the store's change check may be that many seconds old (sessions that
        send nothing anywhere); an engage or release by this process is seen at once."""
        if max_age and not fresh:
            checked_at, changes_here, cached = self._aged
            if self._clock() - checked_at < max_age and changes_here == _CHANGES_HERE[0]:
                return cached
        with self._lock:
            here = _CHANGES_HERE[0]
            if max_age and not fresh:
                now = self._clock()
                if now - self._checked_at < max_age and here == self._changes_here:
                    return self._cached
                self._checked_at = now
            version = self.store.changes()
            if fresh or version != self._version or here != self._changes_here:
                self._cached = self._read()
                self._version = version
            self._changes_here = here
            self._aged = (self._checked_at, here, self._cached)
            return self._cached

    def _read(self) -> KillSwitchState:
        r = self.events.last()
        if r is None or r["action"] == "release":
            return RELEASED
        return KillSwitchState(True, r["operator"], r["reason"], r["at"], r["source"])

    def _append(self, action: str, reason: str, operator: str | None, source: str) -> dict[str, Any]:
        if not reason or not reason.strip():
            raise KillSwitchError(f"a reason is required to {action} the kill switch")
        event = {"action": action, "operator": operator or current_operator(), "reason": reason.strip(), "at": now_iso(), "source": source}
        with self.store.transaction() as conn:
            event["chain"] = chain_hash(self.events.last_chain(conn), event)
            event["id"] = self.events.append(conn, event)
            note_kill_switch_event(self.store, conn)
        _CHANGES_HERE[0] += 1
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
        out = self.events.history()
        return out[-limit:] if limit else out
