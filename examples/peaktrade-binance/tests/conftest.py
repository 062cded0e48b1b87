import pytest

from peaktrade_core.testing import isolate


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: installs into a fresh virtual environment (about half a minute)")


@pytest.fixture(autouse=True)
def only_binance(tmp_path, monkeypatch):
    """Only this plugin loads, state goes to a fresh data dir, no config is inherited."""
    yield from isolate(tmp_path, monkeypatch, plugins="binance")
