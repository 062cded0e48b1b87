"""peaktrade core: the safety-first order-execution framework.

Import what you need from the submodules; the names below are the stable public surface and
are imported lazily so that ``import peaktrade_core`` stays fast. Plugins import from
:mod:`peaktrade_core.plugin_api` (everything a plugin needs) and, in their tests,
:mod:`peaktrade_core.testing`.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from peaktrade_core.hookspecs import hookimpl

__version__ = "0.1.0"

_LAZY = {
    "EnvironmentConfig": "peaktrade_core.environment",
    "TradingMode": "peaktrade_core.environment",
    "EffectiveMode": "peaktrade_core.environment",
    "OrderRequest": "peaktrade_core.orders",
    "OrderFill": "peaktrade_core.orders",
    "OrderExecutionResult": "peaktrade_core.orders",
    "OrderStatus": "peaktrade_core.orders",
    "OrderExecutor": "peaktrade_core.orders",
    "ExchangeClient": "peaktrade_core.orders",
    "GateDecision": "peaktrade_core.gates",
    "GateContext": "peaktrade_core.gates",
    "SafetyGuard": "peaktrade_core.gates",
    "LiveExecutionBlocked": "peaktrade_core.gates",
    "is_live_execution_allowed": "peaktrade_core.gates",
    "evaluate_gates": "peaktrade_core.gates",
    "LiveRiskConfig": "peaktrade_core.risk",
    "RiskViolation": "peaktrade_core.risk",
    "AlertEvent": "peaktrade_core.alerts",
    "AlertLevel": "peaktrade_core.alerts",
    "AlertDelivery": "peaktrade_core.alerts",
    "PeakTradeConfig": "peaktrade_core.config",
    "load_config": "peaktrade_core.config",
    "ConfigError": "peaktrade_core.config",
    "get_plugin_manager": "peaktrade_core.plugins",
    "logger": "peaktrade_core.log",
}


def _lazy_attributes(module: str, sources: dict[str, str]) -> Any:
    """A module ``__getattr__`` that imports each name of ``sources`` (name -> the module
    defining it) on first access and keeps it: importing the module itself stays cheap.
    Used by this package, ``plugin_api``, ``testing`` and ``seed_api``."""
    namespace = sys.modules[module].__dict__

    def __getattr__(name: str) -> Any:
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = namespace[name] = getattr(importlib.import_module(source), name)
        return value

    return __getattr__


__getattr__ = _lazy_attributes(__name__, _LAZY)


__all__ = ["__version__", "hookimpl", *_LAZY]
