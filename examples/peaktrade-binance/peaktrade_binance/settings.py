"""``[plugins.binance]``: where Binance is and how to sign; credentials by reference only."""

from __future__ import annotations

from attrs import field, frozen

from peaktrade_core.plugin_api import SecretRef


@frozen
class BinanceSettings:
    """Everything has a default: an empty ``[plugins.binance]`` talks to Binance with the keys
    from ``BINANCE_API_KEY`` / ``BINANCE_API_SECRET`` (live) and ``BINANCE_TESTNET_API_KEY`` /
    ``BINANCE_TESTNET_API_SECRET`` (testnet: its keys are not the production ones)."""

    base_url: str = "https://api.binance.com"
    testnet_base_url: str = "https://testnet.binance.vision"  # Binance's spot test network
    api_key: SecretRef = field(factory=lambda: SecretRef(env="BINANCE_API_KEY"))
    api_secret: SecretRef = field(factory=lambda: SecretRef(env="BINANCE_API_SECRET"))
    testnet_api_key: SecretRef = field(factory=lambda: SecretRef(env="BINANCE_TESTNET_API_KEY"))
    testnet_api_secret: SecretRef = field(factory=lambda: SecretRef(env="BINANCE_TESTNET_API_SECRET"))
    #: how long after its timestamp Binance may still accept a signed request (max 60000)
    recv_window_ms: int = 5000
    timeout_seconds: float = 8.0  # below the core executor's own 10 s per call
    connect_timeout_seconds: float = 5.0
    #: testnet mode: orders go to POST /api/v3/order/test on the test network (validated,
    #: never placed) instead of its order book. Live mode is not affected: a live session
    #: has gates of its own and a production client always places what passes them.
    validate_only: bool = False
    #: Binance's request-weight limit per minute, and the share of it at which the client
    #: waits for the next minute instead of running into the limit (HTTP 429, then 418 bans)
    weight_limit_per_minute: int = 6000
    slow_down_at: float = 0.8
    #: the longest the client waits on its own (rate limit or weight); longer: it reports a
    #: transient error and lets the core's executor back off
    max_wait_seconds: float = 2.0
    #: positions are the holdings of each asset against this quote asset (BTC -> BTC/EUR)
    quote_asset: str = "EUR"
    #: how often the market-data feed polls the public book ticker (weight 4 a poll)
    feed_interval_seconds: float = 1.0

    def __attrs_post_init__(self) -> None:
        if not 0 < self.recv_window_ms <= 60_000:
            raise ValueError(f"recv_window_ms must be between 1 and 60000 (Binance's maximum), not {self.recv_window_ms}")
        if not 0 < self.slow_down_at <= 1:
            raise ValueError(f"slow_down_at is a share of the weight limit: above 0, at most 1, not {self.slow_down_at}")
        for name in ("base_url", "testnet_base_url"):
            if not getattr(self, name).startswith(("https://", "http://127.0.0.1", "http://localhost")):
                raise ValueError(f"{name} must be https:// (plain http only for 127.0.0.1 or localhost)")
