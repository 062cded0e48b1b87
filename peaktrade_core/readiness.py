"""Readiness stages 0–4: from research to live, each entered by evidence and a sign-off.

Stages: 0 research (paper only), 1 testnet shadow (testnet, nothing placed), 2 testnet
(orders go to the venue's testnet), 3 shadow live (production data, simulated orders),
4 live. The stage an installation is at is the highest stage whose sign-off is recorded,
with every stage below it signed too (stage 4 needs two different people).

To enter stage N the *measurable* items of every stage up to N must be met, read from the
records: the drill log, the run log (sessions, their duration, their verification), the
alert history (CRITICAL alerts, deliveries), the health results and the config in force.
The *manual* items are listed for the people signing; ``readiness sign-off`` records who
signed, when and why, and is refused while a measurable item is open (fail closed).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, NamedTuple

STAGES = {0: "research", 1: "testnet shadow", 2: "testnet", 3: "shadow live", 4: "live"}
#: people who must sign before a stage counts as reached
SIGNERS_NEEDED = {1: 1, 2: 1, 3: 1, 4: 2}
DAY = 86400.0

#: what a person confirms before signing (not measurable from the records)
MANUAL = {
    1: [
        "every test is green (unit and integration) on the version that will run",
        "no known open bug in the execution or risk layer",
        "limit profiles (drawdown, notional, exposure) documented and reviewed",
    ],
    2: [
        "order frequencies of the testnet shadow sessions reviewed",
        "risk-event log reviewed: how often was an order blocked, and why",
        "no unobserved exception in the session processes",
    ],
    3: [
        "testnet fills and positions reconciled with the venue's own records",
        "emergency stop rehearsed against the testnet (kill switch cancels the venue's orders)",
    ],
    4: [
        "formal go/no-go decision by at least two people (two sign-offs are required)",
        "runbooks in place: start/stop, emergency stop, incident response",
        "maximum capital allocation documented",
        "allowed markets and symbols documented (live_allowed_symbols matches)",
        "rollout plan: start with minimal capital, raise only when the agreed KPIs are met",
    ],
}

class ReadinessError(Exception):
    """A refused sign-off; the message is one line."""


class Criteria(NamedTuple):
    #: drills, health and alert deliveries count when at most this old
    days: float = 7.0
    #: sessions (per stage) needed, and their total duration in hours
    min_sessions: int = 3
    min_hours: float = 1.0


DEFAULT_CRITERIA = Criteria()


class Item(NamedTuple):
    stage: int
    key: str
    met: bool
    detail: str
    measurable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


def _epoch(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


# -- the measurable items -----------------------------------------------------------------


def _drills(config: Any, store: Any, criteria: Criteria, now: float) -> tuple[bool, str]:
    from peaktrade_core.drills import DrillLog

    since = now - criteria.days * DAY
    entries = [e for e in DrillLog.of(config, store).entries() if (_epoch(e.get("at")) or 0) >= since]
    passed = [e for e in entries if e.get("passed") is True and e.get("read_only_verified", True)]
    if passed:
        return True, f"drills passed {passed[-1]['at']} ({len(passed)} passing run(s) within {criteria.days:g} days)"
    failed = len(entries)
    return False, f"no passing drill run within {criteria.days:g} days ({failed} failing): run `peaktrade drills run`"


def _limits(config: Any) -> tuple[bool, str]:
    risk = config.live_risk
    unset = [k for k in ("max_order_notional", "max_total_exposure_notional") if getattr(risk, k) is None]
    if risk.max_daily_loss_abs is None and risk.max_daily_loss_pct is None:
        unset.append("max_daily_loss_abs|pct")
    if not risk.enabled:
        return False, "[live_risk] enabled = false"
    if unset:
        return False, "not set: " + ", ".join(f"live_risk.{k}" for k in unset)
    return True, "live_risk: order, exposure and daily-loss limits set"


def _live_limits(config: Any) -> tuple[bool, str]:
    env = config.environment
    missing = [f"environment.{k}" for k in env.live_limits_missing()]
    if not env.live_allowed_symbols:
        missing.append("environment.live_allowed_symbols")
    if missing:
        return False, "not set: " + ", ".join(missing)
    return True, f"live limits set; symbols: {', '.join(env.live_allowed_symbols)}"


def _state(store: Any) -> tuple[bool, str]:
    from peaktrade_core.state import check_state

    found = check_state(store)
    if found.kind == "ok":
        return True, f"store {found.identity['store_id']} initialised by {found.identity['operator']}"
    problem = found.problem or f"state store {found.store} was created by a paper/shadow session, not initialised by a person"
    return False, f"{problem}: `peaktrade state init --reason ...`"


def _health(store: Any, criteria: Criteria, now: float) -> tuple[bool, str]:
    from peaktrade_core.health import last_results

    since = now - criteria.days * DAY
    recent = [r for r in last_results(store, 200) if (_epoch(r["at"]) or 0) >= since]
    if recent and recent[0]["ok"]:
        return True, f"health passed {recent[0]['at']} ({recent[0]['preset']})"
    if recent:
        return False, f"the last health check ({recent[0]['at']}) failed: `peaktrade health`"
    return False, f"no health check within {criteria.days:g} days: `peaktrade health --preset pre-open`"


def _alert_delivered(store: Any, criteria: Criteria, now: float) -> tuple[bool, str]:
    from peaktrade_core.alerts import AlertHistory

    sinks = AlertHistory(store).delivered_sinks_since(now - criteria.days * DAY)
    if sinks:
        return True, "delivered to " + ", ".join(sorted(sinks)) + f" within {criteria.days:g} days"
    return False, f"no alert delivered within {criteria.days:g} days: `peaktrade alerts test` (or `peaktrade health --alert-test`)"


def _critical_runs(store: Any) -> set[str]:
    from peaktrade_core.alerts import AlertHistory, AlertLevel

    rows = AlertHistory(store).query(AlertLevel.CRITICAL)
    return {str((r.get("context") or {}).get("run_id")) for r in rows}


def _sessions(store: Any, criteria: Criteria, label: str, wanted: Any) -> tuple[bool, str]:
    """Finished sessions matching ``wanted(meta)``, that verify and had no CRITICAL alert."""
    from peaktrade_core.runlog import list_runs, verify_run

    critical = _critical_runs(store)
    good, spoiled, seconds = 0, [], 0.0
    for meta in list_runs(store):
        if not wanted(meta) or meta.strategy.startswith("exchange "):
            continue
        if meta.status != "finished":
            spoiled.append(f"{meta.run_id} {meta.status}")
            continue
        if meta.run_id in critical:
            spoiled.append(f"{meta.run_id} had a CRITICAL alert")
            continue
        if not verify_run(store, meta.run_id).ok:
            spoiled.append(f"{meta.run_id} does not verify")
            continue
        good += 1
        start, end = _epoch(meta.started_at), _epoch(meta.ended_at)
        seconds += max((end or 0) - (start or 0), 0.0)
    hours = seconds / 3600
    met = good >= criteria.min_sessions and hours >= criteria.min_hours
    detail = (f"{good} clean {label} session(s), {hours:.2f}h "
              f"(needed: {criteria.min_sessions}, {criteria.min_hours:g}h)")
    if spoiled:
        detail += f"; not counted: {len(spoiled)} ({spoiled[-1]})"
    return met, detail


_TESTNET_ANY = {"testnet", "testnet_validate_only", "testnet_dry_run"}


def evaluate(config: Any, store: Any, stage: int, criteria: Criteria = DEFAULT_CRITERIA, now: float | None = None) -> list[Item]:
    """Every item of every stage from 1 up to ``stage``, in order."""
    now = time.time() if now is None else now
    measurable: dict[int, list[tuple[str, Any]]] = {
        1: [
            ("state_initialised", lambda: _state(store)),
            ("limits_set", lambda: _limits(config)),
            ("drills_passed", lambda: _drills(config, store, criteria, now)),
            ("health_passed", lambda: _health(store, criteria, now)),
        ],
        2: [
            ("alert_delivered", lambda: _alert_delivered(store, criteria, now)),
            ("testnet_sessions", lambda: _sessions(store, criteria, "testnet", lambda m: m.effective_mode in _TESTNET_ANY)),
        ],
        3: [
            ("testnet_orders_sessions", lambda: _sessions(store, criteria, "testnet (orders at the venue's testnet)",
                                                          lambda m: m.effective_mode == "testnet")),
        ],
        4: [
            ("shadow_live_sessions", lambda: _sessions(store, criteria, "shadow", lambda m: m.effective_mode == "shadow")),
            ("live_limits_set", lambda: _live_limits(config)),
        ],
    }
    items: list[Item] = []
    for n in range(1, stage + 1):
        for key, check in measurable[n]:
            met, detail = check()
            items.append(Item(n, key, met, detail))
        items += [Item(n, "manual", False, text, measurable=False) for text in MANUAL[n]]
    return items


# -- sign-offs ----------------------------------------------------------------------------


def signoffs(store: Any) -> list[dict[str, Any]]:
    """Every recorded sign-off, oldest first."""
    from peaktrade_core.store.readiness import SignoffRepository

    return SignoffRepository(store).all()


def stage_summary(store: Any) -> dict[str, Any]:
    """What ``status`` shows: the stage reached and its latest sign-off."""
    stage = current_stage(store)
    last = next((s for s in reversed(signoffs(store)) if s["stage"] == stage), None)
    return {"stage": stage, "name": STAGES[stage], "signed_by": last["operator"] if last else None, "at": last["at"] if last else None}


def current_stage(store: Any) -> int:
    """The highest stage signed off, every stage below it signed too."""
    signers: dict[int, set[str]] = {}
    for s in signoffs(store):
        signers.setdefault(s["stage"], set()).add(s["operator"])
    stage = 0
    for n in range(1, 5):
        if len(signers.get(n, ())) < SIGNERS_NEEDED[n]:
            break
        stage = n
    return stage


def sign_off(config: Any, store: Any, stage: int, reason: str, operator: str, criteria: Criteria = DEFAULT_CRITERIA) -> dict[str, Any]:
    """Record ``operator``'s sign-off for ``stage``; :class:`ReadinessError` (one line) if
    the stage below is not reached, a measurable item is open, or they signed already."""
    from peaktrade_core.state import now_iso
    from peaktrade_core.store.readiness import SignoffRepository

    if not reason.strip():
        raise ReadinessError("--reason is required: say what was reviewed and decided")
    at = current_stage(store)
    if stage <= at:
        raise ReadinessError(f"stage {stage} ({STAGES[stage]}) is reached already (current stage {at})")
    if stage > at + 1:
        raise ReadinessError(f"stage {stage} needs stage {stage - 1} ({STAGES[stage - 1]}) signed off first (current stage {at})")
    items = evaluate(config, store, stage, criteria)
    open_items = [i for i in items if i.measurable and not i.met]
    if open_items:
        first = open_items[0]
        more = f" (+{len(open_items) - 1} more)" if len(open_items) > 1 else ""
        raise ReadinessError(f"refused: stage {stage} item {first.key} is not met: {first.detail}{more}")
    entry = {"stage": stage, "operator": operator, "at": now_iso(), "reason": reason.strip()}
    import json  # here only: `status` shows the stage and needs no json

    evidence = json.dumps([i.to_dict() for i in items if i.measurable])
    if not SignoffRepository(store).add(stage, operator, entry["at"], entry["reason"], evidence):
        raise ReadinessError(f"{operator} has signed stage {stage} already; a second person must sign")
    signed = sum(1 for s in signoffs(store) if s["stage"] == stage)
    return {**entry, "signatures": signed, "needed": SIGNERS_NEEDED[stage], "current_stage": current_stage(store)}


def render(stage: int, items: list[Item], current: int) -> str:
    lines = [f"readiness for stage {stage} ({STAGES[stage]}); current stage {current} ({STAGES[current]})"]
    for n in range(1, stage + 1):
        lines.append(f"stage {n} ({STAGES[n]})")
        for item in (i for i in items if i.stage == n):
            if item.measurable:
                lines.append(f"  [{'met ' if item.met else 'OPEN'}] {item.key}: {item.detail}")
            else:
                lines.append(f"  [manual] {item.detail}")
    open_items = sum(1 for i in items if i.measurable and not i.met)
    manual = sum(1 for i in items if not i.measurable)
    verdict = "measurable items met" if not open_items else f"{open_items} measurable item(s) open"
    lines.append(f"{verdict}; {manual} manual item(s) for the people signing "
                 f"(`peaktrade readiness sign-off --stage {stage} --reason ...`)")
    return "\n".join(lines)
