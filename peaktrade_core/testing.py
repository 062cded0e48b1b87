"""Helpers for tests of peaktrade and its plugins."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from peaktrade_core.plugins import get_plugin_manager


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
