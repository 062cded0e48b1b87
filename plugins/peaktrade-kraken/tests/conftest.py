"""Kraken plugin tests see only this plugin and a fresh data dir; Kraken is a loopback on
127.0.0.1 (``peaktrade_kraken.testing``), never the internet."""

from __future__ import annotations

import pytest
from peaktrade_kraken.testing import KEY_ENV, SECRET_ENV, LoopbackKraken, loopback_settings

from peaktrade_core.testing import isolate


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


@pytest.fixture
def make_client(kraken, tmp_path):
    """Clients on the loopback: ``make_client(validate_only=False, **settings)``."""
    from peaktrade_kraken.client import KrakenClient

    made = []

    def make(validate_only: bool = False, **overrides):
        client = KrakenClient(loopback_settings(kraken.url, **overrides), validate_only=validate_only, data_dir=tmp_path / "data")
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
