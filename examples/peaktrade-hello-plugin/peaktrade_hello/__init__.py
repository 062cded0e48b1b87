"""A minimal peaktrade plugin: a gate that blocks orders above a quantity ceiling.

Configured in the user's config file::

    [plugins.hello]
    max_quantity = 5.0

This module is imported at every CLI start, so it imports only the hook marker; the rest
is imported inside the hooks, on first use.
"""

from __future__ import annotations

from typing import Any

from peaktrade_core import hookimpl

_max_quantity: float | None = None


@hookimpl
def config_sections() -> dict[str, type]:
    from peaktrade_hello.settings import HelloSettings

    return {"hello": HelloSettings}


@hookimpl
def configure(config: Any) -> None:
    global _max_quantity
    settings = config.plugins.get("hello")
    _max_quantity = settings.max_quantity if settings is not None else None


@hookimpl
def check_gate(orders: Any) -> Any:
    from peaktrade_core.gates import GateDecision
    from peaktrade_hello.settings import HelloSettings

    ceiling = _max_quantity if _max_quantity is not None else HelloSettings().max_quantity
    too_big = tuple(i for i, o in enumerate(orders) if o.quantity > ceiling)
    if too_big:
        return GateDecision("hello.max_quantity", False, f"quantity above {ceiling:g} (hello plugin)", too_big)
    return None
