"""Kraken plugin tests see only this plugin and a fresh data dir; Kraken is a loopback on
127.0.0.1 (``peaktrade_kraken.testing``), never the internet."""

from __future__ import annotations

import pytest
from peaktrade_kraken.testing import LoopbackKraken

from peaktrade_core.testing import isolate

KEY_ENV = "PEAK_TRADE_KRAKEN_API_KEY"
SECRET_ENV = "PEAK_TRADE_KRAKEN_API_SECRET"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    yield from isolate(tmp_path, monkeypatch, plugins="kraken")


@pytest.fixture
def kraken(monkeypatch):
    """A running loopback Kraken; its credentials are in the environment the config refers to."""
    with LoopbackKraken(hold_seconds=30) as fake:
        monkeypatch.setenv(KEY_ENV, fake.api_key)
        monkeypatch.setenv(SECRET_ENV, fake.api_secret)
        yield fake


def make_settings(url: str, **overrides):
    from peaktrade_kraken.plugin import KrakenSettings

    from peaktrade_core.secrets import SecretRef

    values = dict(
        base_url=url,
        api_key=SecretRef(env=KEY_ENV),
        api_secret=SecretRef(env=SECRET_ENV),
        timeout_seconds=1.0,
        connect_timeout_seconds=1.0,
        status_check_seconds=0.0,
        rate_limit_max=1000.0,
        rate_limit_decay_per_second=1000.0,
    )
    values.update(overrides)
    return KrakenSettings(**values)


@pytest.fixture
def make_client(kraken, tmp_path):
    """Clients on the loopback: ``make_client(validate_only=False, **settings)``."""
    from peaktrade_kraken.client import KrakenClient

    made = []

    def make(validate_only: bool = False, **overrides):
        client = KrakenClient(make_settings(kraken.url, **overrides), validate_only=validate_only, data_dir=tmp_path / "data")
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
