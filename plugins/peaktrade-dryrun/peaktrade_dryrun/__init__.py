"""peaktrade testnet and live dry-run executors (ORD-4)."""

from __future__ import annotations

from peaktrade_dryrun.executor import DryRunOrderExecutor, LiveOrderExecutor, TestnetOrderExecutor

__version__ = "0.1.0"

__all__ = ["DryRunOrderExecutor", "LiveOrderExecutor", "TestnetOrderExecutor", "__version__"]
