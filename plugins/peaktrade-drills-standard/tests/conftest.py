"""The standard pack's tests see only this pack (PEAK_TRADE_PLUGINS) and a fresh data dir."""

from __future__ import annotations

import pytest

from peaktrade_core.plugins import reset_plugin_manager


@pytest.fixture(autouse=True)
def only_this_pack(tmp_path, monkeypatch):
    monkeypatch.setenv("PEAK_TRADE_PLUGINS", "drills-standard")
    monkeypatch.delenv("PEAK_TRADE_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("PEAK_TRADE_CONFIG_PATH", raising=False)
    monkeypatch.setenv("PEAK_TRADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    reset_plugin_manager()
    yield
    reset_plugin_manager()
