"""``[plugins.ccxt]``: the settings of the ccxt venue plugin."""

from __future__ import annotations

from typing import Any

from attrs import field, frozen
from peaktrade_core.plugin_api import SecretRef

#: how a client order id is looked up (and cancelled): ccxt's unified ``clientOrderId``
#: parameter on fetch_order/cancel_order, or by listing open and closed orders
LOOKUPS = ("param", "scan")


def _urls(instance: Any, attribute: Any, value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str | dict) for k, v in value.items()):
        raise ValueError(f"{attribute.name}: expected a URL (every API URL moves to its scheme, host and port) or a table of URLs")


def _positive(instance: Any, attribute: Any, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name}: must be > 0, got {value!r}")


def _lookup(instance: Any, attribute: Any, value: str | None) -> None:
    if value is not None and value not in LOOKUPS:
        raise ValueError(f"{attribute.name}: must be one of {', '.join(LOOKUPS)}, got {value!r}")


@frozen
class CcxtSettings:
    """``[plugins.ccxt]``. The exchange itself is named by ``[environment] exchange =
    "ccxt:<id>"``; credentials only by reference (``{ env = "..." }`` or ``{ keyring = "..." }``)."""

    api_key: SecretRef | None = None
    api_secret: SecretRef | None = None
    #: the passphrase some exchanges need (okx, kucoin, ...): ccxt's ``password``
    api_password: SecretRef | None = None
    #: passed to ccxt as the exchange's ``options`` (over this plugin's defaults)
    options: dict[str, Any] = field(factory=dict)
    #: production API URLs: a table merged into ccxt's ``urls['api']``, or one URL whose
    #: scheme, host and port replace those of every API URL (paths kept)
    urls: Any = field(default=None, validator=_urls)
    #: the same for the sandbox (testnet mode), applied after ccxt switched to it
    sandbox_urls: Any = field(default=None, validator=_urls)
    timeout_seconds: float = field(default=10.0, validator=_positive)
    #: ccxt's own request throttle (``enableRateLimit``)
    rate_limit: bool = True
    #: load currencies with the markets (an extra request, often private; off by default)
    fetch_currencies: bool = False
    #: None: the plugin's choice for the exchange ("scan" where ccxt's fetch_order cannot
    #: take a client order id, e.g. kraken; "param" elsewhere)
    client_order_id_lookup: str | None = field(default=None, validator=_lookup)
    #: how often the market-data feed polls the exchange's public tickers (ccxt's throttle,
    #: ``rate_limit``, may space the polls further)
    feed_interval_seconds: float = field(default=2.0, validator=_positive)
