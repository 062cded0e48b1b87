"""The standard pack's tests see only this pack (PEAK_TRADE_PLUGINS) and a fresh data dir."""

from __future__ import annotations

import pytest

from peaktrade_core.testing import isolate


@pytest.fixture(autouse=True)
def only_this_pack(tmp_path, monkeypatch):
    yield from isolate(tmp_path, monkeypatch, plugins="drills-incident")
