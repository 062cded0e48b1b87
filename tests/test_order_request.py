"""``OrderRequest`` and a strategy's ``OrderIntent`` check each one in one function instead
of a validator per field (a strategy makes one of each per decision): they accept,
convert and refuse exactly what their per-field attrs definitions did, with the same
errors in the same order."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from attrs import Factory, field, frozen
from attrs.validators import gt, optional
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core.orders import OrderRequest, OrderType, Side, TimeInForce
from peaktrade_core.strategy import OrderIntent


def _nonempty(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must not be empty")


def _check_limit_price(order: Any, attribute: Any, value: float | None) -> None:
    if order.order_type is OrderType.LIMIT and value is None:
        raise ValueError("a limit order needs limit_price")
    if order.order_type is OrderType.MARKET and value is not None:
        raise ValueError("a market order takes no limit_price")


@frozen
class PerFieldOrder:
    """``OrderRequest`` as it was defined before: a converter and validators per field."""

    symbol: str = field(validator=lambda _o, _a, v: _nonempty(v, "symbol"))
    side: Side = field(converter=Side)
    quantity: float = field(validator=gt(0.0))
    order_type: OrderType = field(default=OrderType.MARKET, converter=OrderType)
    limit_price: float | None = field(default=None, validator=[optional(gt(0.0)), _check_limit_price])
    time_in_force: TimeInForce = field(default=TimeInForce.GTC, converter=TimeInForce)
    reduce_only: bool = False
    strategy: str = "manual"
    strategy_params: Mapping[str, Any] = Factory(dict)
    source_ref: str = ""
    reference_price: float | None = field(default=None, validator=optional(gt(0.0)))
    client_order_id: str = field(default="", eq=False)


@frozen
class PerFieldIntent:
    """``OrderIntent`` as it was defined before."""

    symbol: str
    side: Side = field(converter=Side)
    quantity: float = field(validator=gt(0.0))
    order_type: OrderType = field(default=OrderType.MARKET, converter=OrderType)
    limit_price: float | None = field(default=None, validator=optional(gt(0.0)))
    reduce_only: bool = False
    reference_price: float | None = field(default=None, validator=optional(gt(0.0)))
    source_ref: str = ""
    rounded_from: float | None = None


NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 3),
    st.sampled_from([0.0, -0.0, 1e-300, "1", None, True, [1.0]]),
)
OPTIONAL_NUMBERS = st.one_of(st.none(), NUMBERS)


def members_or_not(kind: type) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(list(kind)), st.sampled_from([m.value for m in kind]), st.sampled_from(["", "BUY", "Limit", 1, None, ["buy"], b"buy"]))


ORDER_FIELDS = ("symbol", "side", "quantity", "order_type", "limit_price", "time_in_force", "reduce_only", "strategy", "strategy_params", "source_ref", "reference_price")
INTENT_FIELDS = ("symbol", "side", "quantity", "order_type", "limit_price", "reduce_only", "reference_price", "source_ref", "rounded_from")


def outcome(build: Any, values: dict[str, Any], names: tuple[str, ...] = ORDER_FIELDS) -> tuple[Any, ...]:
    try:
        made = build(**values)
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return ("raised", type(exc), str(exc))
    fields = [getattr(made, name) for name in names]
    return ("built", [(type(v), v if not (isinstance(v, float) and math.isnan(v)) else "nan") for v in fields])


@settings(max_examples=600, deadline=None)
@given(
    symbol=st.one_of(st.sampled_from(["BTC/EUR", "", " ", "\t", "ETH"]), st.text(max_size=3), st.none(), st.integers(0, 1)),
    side=members_or_not(Side),
    quantity=NUMBERS,
    order_type=st.one_of(st.just(None), members_or_not(OrderType)),
    limit_price=OPTIONAL_NUMBERS,
    time_in_force=st.one_of(st.just(None), members_or_not(TimeInForce)),
    reference_price=OPTIONAL_NUMBERS,
)
def test_the_constructor_accepts_converts_and_refuses_what_the_per_field_definition_did(symbol, side, quantity, order_type, limit_price, time_in_force, reference_price):
    values: dict[str, Any] = {"symbol": symbol, "side": side, "quantity": quantity, "limit_price": limit_price, "reference_price": reference_price}
    if order_type is not None:
        values["order_type"] = order_type
    if time_in_force is not None:
        values["time_in_force"] = time_in_force
    assert outcome(OrderRequest, values) == outcome(PerFieldOrder, values)


@settings(max_examples=400, deadline=None)
@given(
    side=members_or_not(Side),
    quantity=NUMBERS,
    order_type=st.one_of(st.just(None), members_or_not(OrderType)),
    limit_price=OPTIONAL_NUMBERS,
    reference_price=OPTIONAL_NUMBERS,
)
def test_an_intent_accepts_converts_and_refuses_what_the_per_field_definition_did(side, quantity, order_type, limit_price, reference_price):
    values: dict[str, Any] = {"symbol": "BTC/EUR", "side": side, "quantity": quantity, "limit_price": limit_price, "reference_price": reference_price}
    if order_type is not None:
        values["order_type"] = order_type
    assert outcome(OrderIntent, values, INTENT_FIELDS) == outcome(PerFieldIntent, values, INTENT_FIELDS)


def test_an_order_without_an_id_gets_a_new_one_and_keeps_one_it_was_given():
    first, second = OrderRequest("BTC/EUR", "buy", 1.0), OrderRequest("BTC/EUR", "buy", 1.0)
    assert len({first.client_order_id, second.client_order_id}) == 2 and all(len(o.client_order_id) == 32 for o in (first, second))
    assert first == second  # equality is the order, not its id
    assert OrderRequest("BTC/EUR", Side.SELL, 1.0, client_order_id="mine-1").client_order_id == "mine-1"
