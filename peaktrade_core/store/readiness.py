"""Readiness sign-offs: who signed which stage, when, why, and the evidence in force."""

from __future__ import annotations

from typing import Any

from peaktrade_core.store.base import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readiness_signoffs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stage INTEGER NOT NULL,
    operator TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL
);
"""


class SignoffRepository:
    def __init__(self, store: StateStore):
        self.store = store
        store.ensure_schema("readiness_signoffs", _SCHEMA)

    def all(self) -> list[dict[str, Any]]:
        """Every sign-off (``stage``, ``operator``, ``at``, ``reason``), oldest first."""
        rows = self.store.query("SELECT stage, operator, at, reason FROM readiness_signoffs ORDER BY id")
        return [{"stage": r["stage"], "operator": r["operator"], "at": r["at"], "reason": r["reason"]} for r in rows]

    def add(self, stage: int, operator: str, at: str, reason: str, evidence: str) -> bool:
        """Record a sign-off; ``False`` (nothing written) if ``operator`` signed ``stage``
        already — checked in the writing transaction, so two at once cannot both count."""
        with self.store.transaction() as conn:
            if conn.execute(
                "SELECT 1 FROM readiness_signoffs WHERE stage = ? AND operator = ?", (stage, operator)
            ).fetchone():
                return False
            conn.execute(
                "INSERT INTO readiness_signoffs (stage, operator, at, reason, evidence) VALUES (?, ?, ?, ?, ?)",
                (stage, operator, at, reason, evidence),
            )
        return True
