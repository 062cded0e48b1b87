"""``[plugins.kraken]`` and the client the core asks for."""

from __future__ import annotations

from typing import Any

from attrs import field, frozen
from attrs.validators import ge, gt

from peaktrade_core.plugin_api import SecretRef

SECTION = "kraken"
VENUE = "kraken"
PUBLIC_ENDPOINT = "https://api.kraken.com"


def _http_url(_instance: Any, _attribute: Any, value: str) -> None:
    if not value.startswith(("https://", "http://")) or "@" in value:
        raise ValueError(f"base_url: {value!r}: expected an http(s) URL without credentials")
    if value.startswith("http://") and not value.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
        raise ValueError(f"base_url: {value!r}: plain http only to this machine (a loopback Kraken); use https")


@frozen
class KrakenSettings:
    """``[plugins.kraken]``."""

    #: Kraken's public REST endpoint; a loopback Kraken (``peaktrade kraken simulate``) for rehearsals
    base_url: str = field(default=PUBLIC_ENDPOINT, validator=_http_url, converter=lambda v: str(v).rstrip("/"))
    #: references only, e.g. ``{ env = "PEAK_TRADE_KRAKEN_API_KEY" }``
    api_key: SecretRef | None = None
    api_secret: SecretRef | None = None
    #: one HTTP request: waiting for the answer / for the connection
    timeout_seconds: float = field(default=10.0, validator=gt(0.0))
    connect_timeout_seconds: float = field(default=5.0, validator=gt(0.0))
    #: submits are refused while this host's clock and Kraken's differ by more (Time has 1 s resolution)
    max_clock_skew_seconds: float = field(default=5.0, validator=gt(0.0))
    #: how long a SystemStatus / Time answer is trusted before a submit checks again
    status_check_seconds: float = field(default=15.0, validator=ge(0.0))
    #: CancelAllOrdersAfter timeout when the caller gives none
    dead_man_timeout_seconds: float = field(default=60.0, validator=gt(0.0))
    #: the key's tier in Kraken's call-counter model (Starter 15 / 0.33, Intermediate 20 / 0.5, Pro 20 / 1)
    rate_limit_max: float = field(default=15.0, validator=gt(0.0))
    rate_limit_decay_per_second: float = field(default=0.33, validator=gt(0.0))
    #: how often the market-data feed polls the public Ticker (Kraken allows about one public call a second)
    feed_interval_seconds: float = field(default=2.0, validator=gt(0.0))


def config_sections() -> dict[str, type]:
    return {SECTION: KrakenSettings}


def create_exchange_client(venue: str, mode: Any, settings: Any, config: Any) -> Any:
    """The client for ``mode``: testnet = validate-only (Kraken spot has no sandbox), live =
    production. Nothing here touches the network; secrets are resolved on first use."""
    if venue != VENUE:
        return None
    from peaktrade_core.plugin_api import TradingMode, plugin_settings

    mode = TradingMode(mode)
    if mode not in (TradingMode.TESTNET, TradingMode.LIVE):
        return None  # paper and shadow never reach a venue
    from peaktrade_kraken.client import KrakenClient

    if not isinstance(settings, KrakenSettings):  # a raw table: the config was loaded before this plugin
        settings = plugin_settings(config, SECTION, KrakenSettings)
    return KrakenClient(settings, validate_only=mode is TradingMode.TESTNET, data_dir=config.data_dir())


def open_market_feed(venue: str, symbols: list[str], settings: Any, config: Any) -> Any:
    """The public Ticker of ``symbols``, polled: no key, nothing sent. The client is
    validate-only, so even by mistake it could place nothing."""
    if venue != VENUE:
        return None
    from peaktrade_core.plugin_api import PollingFeed, plugin_settings
    from peaktrade_kraken.client import KrakenClient

    if not isinstance(settings, KrakenSettings):
        settings = plugin_settings(config, SECTION, KrakenSettings)
    client = KrakenClient(settings, validate_only=True)
    return PollingFeed(f"{VENUE}:ticker", client.quotes, symbols, interval=settings.feed_interval_seconds, on_close=client.close)
