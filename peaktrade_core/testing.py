"""Helpers for tests of peaktrade and its plugins."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from peaktrade_core.plugins import get_plugin_manager, reset_plugin_manager


@contextmanager
def registered_plugin(plugin: object, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` with the process-wide manager for the ``with`` block only; it is
    unregistered afterwards even if the block raises."""
    pm = get_plugin_manager()
    registered = pm.register(plugin, name)
    try:
        yield registered
    finally:
        pm.unregister(registered)


def isolate(tmp_path: Path, monkeypatch: Any, plugins: str = "") -> Iterator[None]:
    """For an autouse fixture: only the named external plugins load (``""``: none), state
    goes to a fresh data dir under ``tmp_path``, the cwd is ``tmp_path``, no config file is
    inherited from the environment, and the plugin manager is rebuilt before and after::

        @pytest.fixture(autouse=True)
        def isolated(tmp_path, monkeypatch):
            yield from isolate(tmp_path, monkeypatch, plugins="paper")
    """
    monkeypatch.setenv("PEAK_TRADE_PLUGINS", plugins)
    monkeypatch.delenv("PEAK_TRADE_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("PEAK_TRADE_CONFIG_PATH", raising=False)
    monkeypatch.setenv("PEAK_TRADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    reset_plugin_manager()
    yield
    reset_plugin_manager()
