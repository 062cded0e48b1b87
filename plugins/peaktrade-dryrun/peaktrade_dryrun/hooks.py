"""Entry point of the plugin: thin hook implementations.

The work lives in :mod:`peaktrade_dryrun.plugin`, imported on the first call, so that loading
the plugin (every CLI start, ``peaktrade plugins list``) stays cheap.
"""

from __future__ import annotations

from typing import Any

from peaktrade_core.plugin_api import hookimpl


@hookimpl
def config_sections() -> Any:
    from peaktrade_dryrun import plugin

    return plugin.config_sections()


@hookimpl
def select_executor(env: Any, live_allowed: Any, context: Any) -> Any:
    from peaktrade_dryrun import plugin

    return plugin.select_executor(env, live_allowed, context)
