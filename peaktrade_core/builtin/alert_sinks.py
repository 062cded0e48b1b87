"""Essential built-in plugin: the ``log`` and ``stderr`` alert sinks, so no alert is unseen."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from peaktrade_core.hookspecs import hookimpl
from peaktrade_core.log import logger

if TYPE_CHECKING:
    from peaktrade_core.alerts import AlertDelivery, AlertEvent


@hookimpl
def alert_sinks() -> list[str]:
    return ["log", "stderr"]


@hookimpl
def emit_alert(event: AlertEvent, sinks: frozenset[str]) -> list[AlertDelivery]:
    from peaktrade_core.alerts import AlertDelivery

    deliveries = []
    if "log" in sinks:
        logger.bind(alert_id=event.id).log(event.level.name, "{}", event.summary_line())
        deliveries.append(AlertDelivery("log", True))
    if "stderr" in sinks:
        try:
            sys.stderr.write(event.summary_line() + "\n")
            sys.stderr.flush()
            deliveries.append(AlertDelivery("stderr", True))
        except (OSError, ValueError) as exc:  # closed or broken stderr
            deliveries.append(AlertDelivery("stderr", False, str(exc)))
    return deliveries
