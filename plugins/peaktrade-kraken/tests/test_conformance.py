"""The core's venue conformance kit against the loopback Kraken."""

from __future__ import annotations

import base64

import pytest
from peaktrade_kraken.testing import KEY_ENV, SECRET_ENV, LoopbackKraken, loopback_settings

from peaktrade_core.testing.venue_kit import VenueConformance


class TestKrakenConformance(VenueConformance):
    venue = "kraken"
    symbol = "BTC/EUR"
    other_symbol = "ETH/EUR"
    quantity = 0.01
    #: the loopback's last prices: Kraken publishes a cost minimum, which the core checks on the reference price
    market_prices = {"BTC/EUR": 50_000.0, "ETH/EUR": 2_500.0}  # noqa: RUF012 - read only
    resting_price = 1000.0
    other_resting_price = 1000.0
    executor_timeout_seconds = 2.0  # the client's own HTTP timeout (1 s) answers first

    @pytest.fixture
    def venue_fake(self, monkeypatch):
        with LoopbackKraken(hold_seconds=30) as fake:
            monkeypatch.setenv(KEY_ENV, fake.api_key)
            monkeypatch.setenv(SECRET_ENV, fake.api_secret)
            monkeypatch.setenv("PEAK_TRADE_KRAKEN_WRONG_SECRET", base64.b64encode(b"not the secret" * 4).decode())
            yield fake

    @pytest.fixture
    def venue_plugin(self):
        from peaktrade_kraken import hooks

        return hooks

    @pytest.fixture
    def venue_settings(self, venue_fake):
        return loopback_settings(venue_fake.url)

    @pytest.fixture
    def wrong_secret_settings(self, venue_fake):
        return loopback_settings(venue_fake.url, secret_env="PEAK_TRADE_KRAKEN_WRONG_SECRET")
