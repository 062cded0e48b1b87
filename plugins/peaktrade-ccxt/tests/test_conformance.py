"""peaktrade-ccxt configured for Binance passes the core's venue conformance kit against the
loopback Binance (real HTTP on 127.0.0.1, Binance's signing, ccxt's own binance class)."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("peaktrade_core.testing.venue_kit")

from peaktrade_core.plugin_api import SecretRef  # noqa: E402
from peaktrade_core.testing.venue_kit import VenueConformance  # noqa: E402

from peaktrade_ccxt import hooks  # noqa: E402
from peaktrade_ccxt.settings import CcxtSettings  # noqa: E402

LoopbackBinance = pytest.importorskip("peaktrade_binance.testing").LoopbackBinance


class TestCcxtBinanceConformance(VenueConformance):
    venue = "ccxt:binance"
    symbol, other_symbol = "BTC/EUR", "ETH/EUR"
    quantity, resting_price, other_resting_price = 0.01, 1_000.0, 1_000.0

    @pytest.fixture
    def venue_fake(self):
        with LoopbackBinance() as fake:
            yield fake

    @pytest.fixture
    def sandbox_fake(self):
        """The testnet client talks to a venue of its own (ccxt's sandbox URLs)."""
        with LoopbackBinance() as fake:
            yield fake

    @pytest.fixture
    def venue_plugin(self):
        return hooks

    @pytest.fixture
    def venue_settings(self, venue_fake, sandbox_fake, monkeypatch):
        monkeypatch.setenv("BINANCE_KEY", venue_fake.api_key)
        monkeypatch.setenv("BINANCE_SECRET", venue_fake.api_secret)
        return CcxtSettings(
            api_key=SecretRef(env="BINANCE_KEY"),
            api_secret=SecretRef(env="BINANCE_SECRET"),
            urls=venue_fake.url,
            sandbox_urls=sandbox_fake.url,
            timeout_seconds=30.0,  # longer than the kit's executor timeout: the executor decides
        )

    @pytest.fixture
    def wrong_secret_settings(self, venue_settings, monkeypatch):
        monkeypatch.setenv("WRONG_SECRET", "0" * 64)
        from attrs import evolve

        return evolve(venue_settings, api_secret=SecretRef(env="WRONG_SECRET"))
