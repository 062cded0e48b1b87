"""``[live_alerts]`` and the alert levels: what loading the config needs of the alerts, in a
module of its own so that every CLI start (``status`` loads the config) skips the events,
the deliveries and the dispatcher of :mod:`peaktrade_core.alerts`, which re-exports these."""

from __future__ import annotations

import enum

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


def _level(value: str | AlertLevel) -> AlertLevel:
    return AlertLevel.parse(value)


#: sinks on this machine: cheap, never rate-limited, so never throttled
LOCAL_SINKS = frozenset({"log", "stderr"})


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
    #: attempts per alert and sink after the first, before it is left for the next start
    max_retries: int = field(default=5, validator=ge(0))
    #: first wait after a failed delivery; doubles per consecutive failure of the sink
    retry_backoff_seconds: float = field(default=1.0, validator=ge(0.0))
    max_backoff_seconds: float = field(default=60.0, validator=ge(0.0))
    #: a sink plugin that takes longer for one alert is recorded as a failed delivery
    sink_timeout_seconds: float = field(default=10.0, validator=gt(0.0))
    #: shutdown waits at most this long for deliveries; the rest stay pending for the next
    #: start (short: a hung sink must not hold up the end of a session)
    flush_timeout_seconds: float = field(default=0.5, validator=ge(0.0))
