"""The plugin's config section, ``[plugins.hello]``."""

from __future__ import annotations

from attrs import field, frozen
from attrs.validators import gt


@frozen
class HelloSettings:
    max_quantity: float = field(default=10.0, validator=gt(0.0))
