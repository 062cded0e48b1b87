"""A minimal peaktrade plugin: a gate that blocks orders above a quantity ceiling.

Configured in the user's config file::

    [plugins.hello]
    max_quantity = 5.0
"""

from __future__ import annotations

from attrs import field, frozen
from attrs.validators import gt

from peaktrade_core import hookimpl

_settings: HelloSettings | None = None


@frozen
class HelloSettings:
    max_quantity: float = field(default=10.0, validator=gt(0.0))


@hookimpl
def config_sections():
    return {"hello": HelloSettings}


@hookimpl
def configure(config):
    global _settings
    _settings = config.plugins.get("hello") or HelloSettings()


@hookimpl
def check_gate(orders):
    from peaktrade_core.gates import GateDecision

    ceiling = (_settings or HelloSettings()).max_quantity
    too_big = tuple(i for i, o in enumerate(orders) if o.quantity > ceiling)
    if too_big:
        return GateDecision("hello.max_quantity", False, f"quantity above {ceiling:g} (hello plugin)", too_big)
    return None
