"""Dry-run plugin tests see only this plugin (``PEAK_TRADE_PLUGINS=dryrun``) and a fresh data dir."""

from __future__ import annotations

import pytest
from peaktrade_core.testing import isolate


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    yield from isolate(tmp_path, monkeypatch, plugins="dryrun")
