"""ccxt plugin tests see only this plugin (``PEAK_TRADE_PLUGINS=ccxt``) and a fresh data dir.

ccxt talks to the loopback Binance of ``examples/peaktrade-binance`` (installed for these
tests: ``[tool.peaktrade] test-with`` in pyproject.toml) on 127.0.0.1; a guard fails any
test whose process tries to connect anywhere else.
"""

from __future__ import annotations

import socket

import pytest
from peaktrade_core.testing import isolate


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    yield from isolate(tmp_path, monkeypatch, plugins="ccxt")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """No test reaches the internet: a connection to anything but 127.0.0.1 fails the test."""
    attempts: list[object] = []
    connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1"):
            attempts.append(address)
            raise OSError(f"test tried to reach {address!r}: only 127.0.0.1 is allowed")
        return connect(sock, address)

    resolve = socket.getaddrinfo

    def guarded_resolve(host, *args, **kwargs):
        if host not in ("127.0.0.1", "::1", "localhost", None):
            attempts.append(host)
            raise OSError(f"test tried to resolve {host!r}: only 127.0.0.1 is allowed")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_resolve)
    yield
    assert attempts == [], f"a test tried to reach the network: {attempts}"
