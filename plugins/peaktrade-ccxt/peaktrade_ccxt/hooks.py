"""The hooks of peaktrade-ccxt. Cheap to import: ccxt is imported only when a client is built
(a session or ``peaktrade exchange ...`` uses the venue), never by ``peaktrade plugins list``.

The venue names are ``ccxt:<exchange id>`` (``ccxt:binance``, ``ccxt:kraken``, ...): prefixed,
so this plugin and a dedicated adapter (venue ``binance``) can be installed together and
never claim the same venue.
"""

from __future__ import annotations

from typing import Any

from peaktrade_core.plugin_api import hookimpl

#: the plugin's name: its entry point and its config section ``[plugins.ccxt]``
NAME = "ccxt"
PREFIX = "ccxt:"


def exchange_ids() -> list[str]:
    """The exchange ids of the installed ccxt (``ccxt.exchanges``), read from its
    ``__init__.py`` without importing it: importing ccxt takes most of a second."""
    import ast
    import importlib.util
    import re
    from pathlib import Path

    spec = importlib.util.find_spec("ccxt")
    if spec is None or spec.origin is None:
        return []
    found = re.search(r"^exchanges = (\[.*?^\])", Path(spec.origin).read_text(encoding="utf-8"), flags=re.M | re.S)
    return sorted(ast.literal_eval(found.group(1))) if found else []


@hookimpl
def config_sections() -> dict[str, type]:
    from peaktrade_ccxt.settings import CcxtSettings

    return {NAME: CcxtSettings}


@hookimpl
def exchange_venues() -> list[str]:
    return [PREFIX + exchange for exchange in exchange_ids()]


@hookimpl
def create_exchange_client(venue: str, mode: Any, settings: Any, config: Any) -> Any:
    if not venue.startswith(PREFIX):
        return None
    from peaktrade_ccxt.client import build_client

    return build_client(venue, mode, settings, symbols=_allowed_symbols(config, mode))


def _allowed_symbols(config: Any, mode: Any) -> tuple[str, ...]:
    """The symbols the mode may trade: where an exchange lists open orders only per symbol,
    cancelling everything (the kill switch) goes through these."""
    env = getattr(config, "environment", None)
    name = "testnet_allowed_symbols" if str(getattr(mode, "value", mode)) == "testnet" else "live_allowed_symbols"
    return tuple(getattr(env, name, ()) or ())


@hookimpl
def open_market_feed(venue: str, symbols: Any, settings: Any, config: Any) -> Any:
    """The exchange's public tickers, polled: no key, nothing signed, nothing sent."""
    if not venue.startswith(PREFIX):
        return None
    from peaktrade_core.plugin_api import plugin_settings

    from peaktrade_ccxt.feed import open_ticker_feed
    from peaktrade_ccxt.settings import CcxtSettings

    if not isinstance(settings, CcxtSettings):  # a raw table: the config was loaded before this plugin
        settings = plugin_settings(config, NAME, CcxtSettings)
    return open_ticker_feed(venue, list(symbols), settings)
