"""Core tests see no installed plugin (PEAK_TRADE_PLUGINS="") and a fresh data dir each."""

from __future__ import annotations

import pytest

from peaktrade_core.testing import isolate


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    yield from isolate(tmp_path, monkeypatch, plugins="")
