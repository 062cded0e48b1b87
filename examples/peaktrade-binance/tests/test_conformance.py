"""The core's venue conformance kit against the adapter and the loopback Binance: twice,
once with the testnet client validate-only (/api/v3/order/test), once with it on a
separate test network (a second loopback Binance)."""

import pytest
from attrs import evolve

pytest.register_assert_rewrite("peaktrade_core.testing.venue_kit")  # readable failures

from peaktrade_binance.hooks import BinancePlugin  # noqa: E402
from peaktrade_binance.settings import BinanceSettings  # noqa: E402
from peaktrade_binance.testing import LoopbackBinance  # noqa: E402

from peaktrade_core.plugin_api import SecretRef  # noqa: E402
from peaktrade_core.testing.venue_kit import VenueConformance  # noqa: E402


def settings_for(fake, testnet_fake, monkeypatch, **overrides):
    for prefix, venue in (("BINANCE", fake), ("BINANCE_TESTNET", testnet_fake)):
        monkeypatch.setenv(f"{prefix}_API_KEY", venue.api_key)
        monkeypatch.setenv(f"{prefix}_API_SECRET", venue.api_secret)
    return BinanceSettings(base_url=fake.url, testnet_base_url=testnet_fake.url, **overrides)


class TestBinanceValidateOnly(VenueConformance):
    venue = "binance"
    symbol, other_symbol = "BTC/EUR", "ETH/EUR"
    quantity, resting_price, other_resting_price = 0.01, 1_000.0, 1_000.0

    @pytest.fixture
    def venue_fake(self):
        with LoopbackBinance() as fake:
            yield fake

    @pytest.fixture
    def venue_plugin(self):
        return BinancePlugin()

    @pytest.fixture
    def venue_settings(self, venue_fake, monkeypatch):
        return settings_for(venue_fake, venue_fake, monkeypatch, validate_only=True)

    @pytest.fixture
    def wrong_secret_settings(self, venue_settings, monkeypatch):
        monkeypatch.setenv("WRONG_SECRET", "not-the-secret")
        return evolve(venue_settings, api_secret=SecretRef(env="WRONG_SECRET"))


class TestBinanceSandbox(TestBinanceValidateOnly):
    """Testnet mode placing orders on a test network of its own (Binance's spot testnet)."""

    @pytest.fixture
    def testnet_fake(self):
        with LoopbackBinance() as fake:
            yield fake

    @pytest.fixture
    def venue_settings(self, venue_fake, testnet_fake, monkeypatch):
        return settings_for(venue_fake, testnet_fake, monkeypatch)
