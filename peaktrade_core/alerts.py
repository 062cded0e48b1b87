"""Alerts: levels, events, deliveries and the ``[live_alerts]`` config (ALERT-1..4)."""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from attrs import field, frozen
from attrs.validators import ge, gt

from peaktrade_core.secrets import SecretRef


class AlertLevel(enum.IntEnum):
    INFO = 20
    WARNING = 30
    CRITICAL = 50

    @classmethod
    def parse(cls, value: str | AlertLevel) -> AlertLevel:
        if isinstance(value, AlertLevel):
            return value
        try:
            return cls[str(value).upper()]
        except KeyError:
            raise ValueError(f"must be one of info, warning, critical; got {value!r}") from None


@frozen
class AlertEvent:
    level: AlertLevel
    source: str
    code: str
    message: str
    context: Mapping[str, Any] = field(factory=dict)
    time: float = field(factory=time.time)
    #: alerts with the same key within the dedup window become one delivery
    dedup_key: str = ""
    #: how many occurrences this delivery stands for (set by de-duplication)
    repeat: int = 1
    id: str = field(factory=lambda: uuid.uuid4().hex)

    def __attrs_post_init__(self) -> None:
        if not self.dedup_key:
            object.__setattr__(self, "dedup_key", f"{self.source}:{self.code}")


@frozen
class AlertDelivery:
    sink: str
    ok: bool
    error: str | None = None
    #: seconds the sink asked us to wait before retrying (HTTP 429 ``Retry-After``)
    retry_after: float | None = None


class AlertSink(Protocol):
    """One destination. Plugins wrap their sinks in an ``emit_alert`` implementation."""

    name: str

    def send(self, event: AlertEvent) -> AlertDelivery: ...


def _level(value: str | AlertLevel) -> AlertLevel:
    return AlertLevel.parse(value)


@frozen
class LiveAlertsConfig:
    """``[live_alerts]``."""

    enabled: bool = True
    min_level: AlertLevel = field(default=AlertLevel.WARNING, converter=_level)
    #: sink names to deliver to; ``log`` and ``stderr`` are built in
    sinks: tuple[str, ...] = ("log",)
    webhook_urls: tuple[SecretRef, ...] = ()
    slack_webhook_urls: tuple[SecretRef, ...] = ()
    webhook_timeout_seconds: float = field(default=3.0, validator=gt(0.0))
    dedup_window_seconds: float = field(default=60.0, validator=ge(0.0))
    #: per-sink token bucket: deliveries per second, burst
    throttle_per_second: float = field(default=1.0, validator=gt(0.0))
    throttle_burst: int = field(default=5, validator=ge(1))
    queue_size: int = field(default=10_000, validator=ge(1))
    max_retries: int = field(default=5, validator=ge(0))
    flush_timeout_seconds: float = field(default=5.0, validator=ge(0.0))
