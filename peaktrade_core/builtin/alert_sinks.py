"""Essential built-in plugin: the ``log`` and ``stderr`` alert sinks, so no alert is unseen."""

from __future__ import annotations

import sys

from peaktrade_core.alerts import AlertDelivery, AlertEvent, AlertLevel
from peaktrade_core.hookspecs import hookimpl
from peaktrade_core.log import logger

_LOG_LEVEL = {AlertLevel.INFO: "INFO", AlertLevel.WARNING: "WARNING", AlertLevel.CRITICAL: "CRITICAL"}


def format_alert(event: AlertEvent) -> str:
    repeat = f" (repeated {event.repeat}x)" if event.repeat > 1 else ""
    return f"[ALERT {event.level.name}] {event.source}/{event.code}: {event.message}{repeat}"


@hookimpl
def emit_alert(event: AlertEvent, sinks: frozenset[str]) -> list[AlertDelivery]:
    deliveries = []
    if "log" in sinks:
        logger.log(_LOG_LEVEL[event.level], format_alert(event))
        deliveries.append(AlertDelivery("log", True))
    if "stderr" in sinks:
        try:
            print(format_alert(event), file=sys.stderr, flush=True)
            deliveries.append(AlertDelivery("stderr", True))
        except OSError as exc:
            deliveries.append(AlertDelivery("stderr", False, str(exc)))
    return deliveries
