"""Entry point of the plugin: thin hook implementations.

The work lives in :mod:`peaktrade_kraken.plugin` (and the HTTP client behind it), imported
on the first call, so that loading the plugin (every CLI start) stays cheap.
"""

from __future__ import annotations

from typing import Any

from peaktrade_core.plugin_api import hookimpl


@hookimpl
def config_sections() -> Any:
    from peaktrade_kraken import plugin

    return plugin.config_sections()


@hookimpl
def exchange_venues() -> Any:
    return ["kraken"]


@hookimpl
def create_exchange_client(venue: str, mode: Any, settings: Any, config: Any) -> Any:
    from peaktrade_kraken import plugin

    return plugin.create_exchange_client(venue, mode, settings, config)


@hookimpl
def open_market_feed(venue: str, symbols: Any, settings: Any, config: Any) -> Any:
    from peaktrade_kraken import plugin

    return plugin.open_market_feed(venue, symbols, settings, config)


@hookimpl
def register_commands(cli: Any) -> None:
    from peaktrade_kraken import cli as commands

    commands.register(cli)
