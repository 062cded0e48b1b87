"""A minimal peaktrade plugin: a gate that blocks orders above a quantity ceiling.

Configured in the user's config file::

    [plugins.hello]
    max_quantity = 5.0

The entry point names the class (``peaktrade_hello:HelloPlugin``): peaktrade registers one
instance per plugin manager. Its settings arrive through ``configure`` and live on that
instance, not in module state, so two managers (two tests, two configs) never share them. This module is imported at every CLI
start, so it imports only the hook marker; the rest is imported inside the hooks.
"""

from __future__ import annotations

from typing import Any

from peaktrade_core.plugin_api import hookimpl


class HelloPlugin:
    """The hello gate. ``settings`` is ``None`` until ``configure`` ran (then defaults)."""

    def __init__(self) -> None:
        self.settings: Any = None

    @hookimpl
    def config_sections(self) -> dict[str, type]:
        from peaktrade_hello.settings import HelloSettings

        return {"hello": HelloSettings}

    @hookimpl
    def configure(self, config: Any) -> None:
        from peaktrade_hello.settings import HelloSettings

        self.settings = config.plugins.get("hello") or HelloSettings()

    @hookimpl
    def check_gate(self, orders: Any) -> Any:
        from peaktrade_core.plugin_api import GateDecision
        from peaktrade_hello.settings import HelloSettings

        ceiling = (self.settings or HelloSettings()).max_quantity
        too_big = tuple(i for i, o in enumerate(orders) if o.quantity > ceiling)
        if too_big:
            return GateDecision("hello.max_quantity", False, f"quantity above {ceiling:g} (hello plugin)", too_big)
        return None
