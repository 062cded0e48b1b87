"""Binance Spot for peaktrade.

* :mod:`peaktrade_binance.hooks` — the plugin (entry point ``binance``): cheap to import;
* :mod:`peaktrade_binance.settings` — ``[plugins.binance]``;
* :mod:`peaktrade_binance.signing` — Binance's HMAC-SHA256 request signature;
* :mod:`peaktrade_binance.client` — the ``ExchangeClient`` over httpx;
* :mod:`peaktrade_binance.testing` — a loopback Binance on 127.0.0.1 (standard library only).
"""

__version__ = "0.1.0"
