import pytest

from peaktrade_core.testing import isolate


@pytest.fixture(autouse=True)
def only_binance(tmp_path, monkeypatch):
    """Only this plugin loads, state goes to a fresh data dir, no config is inherited."""
    yield from isolate(tmp_path, monkeypatch, plugins="binance")
