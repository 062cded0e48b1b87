"""peaktrade paper and shadow executors (ORD-2, ORD-3).

The names below are imported on first use, so loading the plugin stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "PaperConfig": "peaktrade_paper.plugin",
    "PaperMarketContext": "peaktrade_paper.executor",
    "PaperOrderExecutor": "peaktrade_paper.executor",
    "ShadowOrderExecutor": "peaktrade_paper.executor",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'peaktrade_paper' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


__all__ = [*_LAZY, "__version__"]
