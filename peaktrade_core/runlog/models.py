"""What the run log hands out: metadata, events, snapshots, verification results."""

from __future__ import annotations

from typing import Any

from attrs import Factory, asdict, define, frozen


@frozen
class LiveRunMetadata:
    """Who ran what, how, when. Everything but ``ended_at``, ``status`` and ``summary`` is
    fixed at start and chained as record 0."""

    run_id: str
    mode: str
    effective_mode: str
    config_sha256: str
    operator: str
    strategy: str
    strategy_params: dict[str, Any] = Factory(dict)
    plugin_versions: dict[str, str] = Factory(dict)
    started_at: str = ""
    ended_at: str | None = None
    status: str = "running"
    pid: int = 0
    host: str = ""
    summary: dict[str, Any] = Factory(dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@frozen
class LiveRunEvent:
    """One recorded event as read back by :func:`iter_run_events`. ``seq`` is the chain
    record holding it (all orders of one commit share it; with durability ``group`` all
    batches of one write); for orders, ``executor`` comes from the batch's context and
    ``timestamp`` is when the record was made (``group``: when its batch was recorded)."""

    seq: int
    kind: str
    timestamp: float
    client_order_id: str | None = None
    symbol: str | None = None
    side: str | None = None
    quantity: float | None = None
    price: float | None = None
    status: str | None = None
    reasons: list[str] = Factory(list)
    executor: str | None = None
    fills: list[dict[str, float]] = Factory(list)
    venue_response: dict[str, Any] | None = None
    batch: int | None = None
    extra: dict[str, Any] = Factory(dict)


#: ``VerifyResult.audit``: no key configured; signature checked and good; the run predates
#: the key (not in the signed run sequence, older than every signed run)
AUDIT_UNKEYED, AUDIT_SIGNED, AUDIT_BEFORE_KEY = "unkeyed", "signed", "before-key"


@frozen
class VerifyResult:
    run_id: str
    ok: bool
    records: int
    problems: list[str]
    #: what the audit key says about the run (see AUDIT_*); failures are in ``problems``
    audit: str = AUDIT_UNKEYED


@define(slots=True)
class LiveRunSnapshot:
    """Monitoring view of one run (RUN-3/RUN-4). Rates are per second over the run's
    elapsed time (start to end, or to the last heartbeat while running)."""

    run_id: str
    mode: str
    effective_mode: str
    status: str
    strategy: str
    operator: str
    started_at: str
    ended_at: str | None
    last_heartbeat: str
    heartbeat_age_s: float
    elapsed_s: float
    records: int
    #: hex hash of the newest record: note it somewhere else to anchor the chain
    head_hash: str
    orders: int
    fills: int
    filled: int
    accepted: int
    rejected: int
    risk_blocked: int
    gate_blocked: int
    errors: int
    orders_per_s: float
    fills_per_s: float
    risk_blocks_per_s: float
    gate_blocks_per_s: float
    errors_per_s: float
    status_counts: dict[str, int]
    blocks_by_reason: dict[str, int]
    durability: str
    pid: int
    host: str
    #: ``False``: the run says running but its process on this host is gone
    process_alive: bool | None
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
