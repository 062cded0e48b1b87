import pytest

from peaktrade_core.plugins import reset_plugin_manager


@pytest.fixture(autouse=True)
def only_hello(tmp_path, monkeypatch):
    monkeypatch.setenv("PEAK_TRADE_PLUGINS", "hello")
    monkeypatch.setenv("PEAK_TRADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PEAK_TRADE_CONFIG_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    reset_plugin_manager()
    yield
    reset_plugin_manager()
