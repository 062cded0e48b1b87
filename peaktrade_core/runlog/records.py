"""The record format of the chain: encoding, hashing, packed number columns, counters."""

from __future__ import annotations

import json
import math
import sys
from array import array
from base64 import b64decode, b64encode
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from hashlib import blake2b
from typing import Any

from attrs import asdict

from peaktrade_core.orders import OrderStatus

DURABILITIES = ("batch", "order", "group")
#: modes where nothing reaches a venue: the default durability there is "group"
_UNSENT_MODES = ("paper", "shadow")
#: durability "group": the longest a committed batch waits before a background writer puts
#: it (with every other batch of the window) into the store in one transaction
GROUP_WINDOW_SECONDS = 0.01
RUN_STATUSES = ("running", "finished", "failed", "aborted", "interrupted")
#: interrupted: stopped by SIGTERM/SIGINT after the batch in hand, with its summary
END_STATUSES = ("finished", "failed", "aborted", "interrupted")
#: distinct "blocks by reason" keys kept per run; the rest count as OTHER_REASON
MAX_REASON_KEYS = 100
OTHER_REASON = "(other reasons)"
GENESIS = bytes(32)
_BIG_ENDIAN = sys.byteorder == "big"
#: statuses whose reasons are counted as "blocks by reason"
_BLOCKED = frozenset({OrderStatus.RISK_BLOCKED.value, OrderStatus.GATE_BLOCKED.value})
#: metadata fields that live in record 0 and as columns of ``runlog_runs``
META_FIELDS = (
    "run_id",
    "mode",
    "effective_mode",
    "config_sha256",
    "operator",
    "strategy",
    "strategy_params",
    "plugin_versions",
    "started_at",
    "pid",
    "host",
)
JSON_META = ("strategy_params", "plugin_versions")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "__attrs_attrs__"):
        return asdict(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


# Built once: json.dumps with options builds a new encoder per call (slow on the hot path).
encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False, default=_json_default).encode
encode_sorted = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True, default=_json_default).encode


def durability_for(setting: str, mode: str) -> str:
    """``[execution] durability`` for a session in ``mode``: ``"auto"`` is ``"group"`` where
    nothing reaches a venue (a crash loses at most the last window of simulated orders) and
    ``"batch"`` in testnet and live (what reached a venue is on record before the next batch)."""
    if setting != "auto":
        return setting
    return "group" if mode in _UNSENT_MODES else "batch"


def chain(prev: bytes, payload: bytes) -> bytes:
    return blake2b(prev + payload, digest_size=32).digest()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def epoch(iso_text: str | None) -> float | None:
    return None if iso_text is None else datetime.fromisoformat(iso_text).timestamp()


def reason_key(reason: str) -> str:
    """Blocks are counted by the reason's leading code (``max_order_notional: 1200 > 1000``
    counts as ``max_order_notional``) so numbers in messages do not explode the table."""
    return reason.split(":", 1)[0].strip()[:80] or "(no reason)"


def new_counts() -> dict[str, Any]:
    return {"orders": 0, "fills": 0, "status": {}, "reasons": {}}


def count_orders(counts: dict[str, Any], statuses: list[str], reasons: list[list[str]], fills: int) -> None:
    """Add one orders record to the counters (the logger and verify_run share this)."""
    counts["orders"] += len(statuses)
    counts["fills"] += fills
    by_status = counts["status"]
    if len(statuses) == 1:  # one order at a time: no Counter to build
        status = statuses[0]
        by_status[status] = by_status.get(status, 0) + 1
    else:
        for status, n in Counter(statuses).items():
            by_status[status] = by_status.get(status, 0) + n
    by_reason = counts["reasons"]
    for status, why in zip(statuses, reasons, strict=True):
        if why and status in _BLOCKED:
            for reason in why:
                key = reason_key(reason)
                if key not in by_reason and len(by_reason) >= MAX_REASON_KEYS:
                    key = OTHER_REASON
                by_reason[key] = by_reason.get(key, 0) + 1


def pack(typecode: str, values: Iterable[Any]) -> str:
    """Numbers as base64 of little-endian ``array`` bytes: repr() of floats would be most
    of the cost of an order's record. ``None`` (market order without a price) is NaN."""
    try:
        packed = array(typecode, values)
    except TypeError:
        packed = array(typecode, [math.nan if v is None else v for v in values])
    if _BIG_ENDIAN:
        packed.byteswap()
    return b64encode(packed.tobytes()).decode()


def unpack(typecode: str, text: str) -> list[Any]:
    packed = array(typecode, b64decode(text))
    if _BIG_ENDIAN:
        packed.byteswap()
    return [None if v != v else v for v in packed] if typecode == "d" else packed.tolist()
