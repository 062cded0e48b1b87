"""The value checks ``[plugins.paper]`` and the market model share. Its own module, cheap to
import: the plugin's settings class is built at every CLI start (``status`` loads the
config), the executor only when orders are executed."""

from __future__ import annotations

from attrs.validators import and_, deep_mapping, ge, gt, instance_of, lt

BPS = 10_000.0
#: slippage or fees of 100 % or more would make prices or fees meaningless
basis_points = and_(ge(0.0), lt(BPS))
positive_per_symbol = deep_mapping(instance_of(str), gt(0.0))
