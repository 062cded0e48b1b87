"""Entry point of the plugin: thin hook implementations.

The work lives in :mod:`peaktrade_drills_incident.plugin`, imported on the first call, so that loading
the plugin (every CLI start, ``peaktrade plugins list``) stays cheap.
"""

from __future__ import annotations

from typing import Any

from peaktrade_core.plugin_api import hookimpl


@hookimpl
def drill_scenarios() -> Any:
    from peaktrade_drills_incident import plugin

    return plugin.drill_scenarios()


@hookimpl
def run_drill(scenario: Any, context: Any) -> Any:
    from peaktrade_drills_incident import plugin

    return plugin.run_drill(scenario, context)
