"""E-mail plugin tests see only this plugin and a fresh data dir; SMTP runs on 127.0.0.1."""

from __future__ import annotations

import pytest

from peaktrade_core.testing import isolate


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    yield from isolate(tmp_path, monkeypatch, plugins="alerts-email")
