"""peaktrade paper and shadow executors (ORD-2, ORD-3)."""

from __future__ import annotations

from peaktrade_paper.executor import PaperMarketContext, PaperOrderExecutor, ShadowOrderExecutor
from peaktrade_paper.plugin import PaperConfig

__version__ = "0.1.0"

__all__ = [
    "PaperConfig",
    "PaperMarketContext",
    "PaperOrderExecutor",
    "ShadowOrderExecutor",
    "__version__",
]
