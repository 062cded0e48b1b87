"""Entry point of the plugin: thin hook implementations.

The work lives in :mod:`peaktrade_alerts_webhook.plugin`, imported on the first call, so that loading
the plugin (every CLI start, ``peaktrade plugins list``) stays cheap.
"""

from __future__ import annotations

from typing import Any

from peaktrade_core.plugin_api import hookimpl


@hookimpl
def configure(config: Any) -> Any:
    from peaktrade_alerts_webhook import plugin

    return plugin.configure(config)


@hookimpl
def alert_sinks() -> list[str]:
    return ["webhook", "slack", "slack_webhook"]  # plugin.emit_alert's sinks; named here to keep loading cheap


@hookimpl
def emit_alert(event: Any, sinks: Any) -> Any:
    from peaktrade_alerts_webhook import plugin

    return plugin.emit_alert(event, sinks)
