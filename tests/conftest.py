"""Core tests see no installed plugin (PEAK_TRADE_PLUGINS="") and a fresh data dir each."""

from __future__ import annotations

import pytest

from peaktrade_core.testing import isolate


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    yield from isolate(tmp_path, monkeypatch, plugins="")


@pytest.fixture
def unprivileged() -> dict:
    """``subprocess`` arguments that run a command as an unprivileged user when the tests run
    as root (root reads and writes anything, so permission errors need another user).
    Skips where this interpreter cannot be started as that user (it lives under /root)."""
    import os
    import subprocess
    import sys

    if os.geteuid() != 0:
        return {}
    kwargs = {"user": 65534, "cwd": "/"}
    try:
        subprocess.run([sys.executable, "-c", "import peaktrade_core"], check=True, capture_output=True, timeout=60, **kwargs)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("this interpreter cannot be started as an unprivileged user here")
    return kwargs
