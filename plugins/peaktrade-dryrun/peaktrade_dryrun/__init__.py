"""peaktrade testnet and live dry-run executors (ORD-4).

The names below are imported on first use, so loading the plugin stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_NAMES = ("DryRunOrderExecutor", "LiveOrderExecutor", "TestnetOrderExecutor")


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'peaktrade_dryrun' has no attribute {name!r}")
    return getattr(importlib.import_module("peaktrade_dryrun.executor"), name)


__all__ = [*_NAMES, "__version__"]
