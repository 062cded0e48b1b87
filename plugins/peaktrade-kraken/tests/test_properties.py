"""Safety properties over real HTTP: whatever Kraken does to a submit, the core's executor
over this client never places an order twice, and a validate-only client never places one."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peaktrade_kraken.client import KrakenClient
from peaktrade_kraken.testing import loopback_settings

from peaktrade_core.plugin_api import ExchangeOrderExecutor, OrderRequest, OrderStatus

SUBMIT_FAULTS = ["timeout_after_accept", "5xx", "5xx_before", "unavailable", "busy", "rate_limit", "lockout", "invalid_nonce"]
LOOKUP_FAULTS = ["5xx_before", "unavailable", "rate_limit", "invalid_nonce"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    submit_faults=st.lists(st.sampled_from(SUBMIT_FAULTS), max_size=3),
    lookup_faults=st.lists(st.sampled_from(LOOKUP_FAULTS), max_size=2),
    validate_only=st.booleans(),
    limit=st.booleans(),
)
def test_no_fault_sequence_places_an_order_twice(kraken, tmp_path, submit_faults, lookup_faults, validate_only, limit):
    # no wait for the AddOrder deadline after an unknown outcome: none of these faults
    # delays a request on its way in (test_client covers that case with the real wait)
    client = KrakenClient(
        loopback_settings(kraken.url, timeout_seconds=0.5), validate_only=validate_only, data_dir=tmp_path / "data", sleep=lambda s: None
    )
    try:
        for fault in submit_faults:
            kraken.fail_next(fault)
        for fault in lookup_faults:
            kraken.fail_next(fault, "OpenOrders")
        price = {"limit_price": 1000.0, "order_type": "limit"} if limit else {"reference_price": 50_000.0}
        order = OrderRequest("BTC/EUR", "buy", 0.01, client_order_id=uuid.uuid4().hex, **price)
        executor = ExchangeOrderExecutor(client, max_retries=6, backoff_seconds=0.0, timeout_seconds=5.0)
        [result] = executor.execute_orders([order])
        placed = [o for o in kraken.orders() if o["client_order_id"] == order.client_order_id]
        assert len(placed) <= 1
        if validate_only:
            assert placed == []
        elif result.status in (OrderStatus.FILLED, OrderStatus.ACCEPTED):
            assert len(placed) == 1
        elif not result.metadata.get("outcome_unknown"):
            assert placed == [], result.reasons  # refused or given up: nothing at the venue
    finally:
        client.close()
        with kraken._lock:
            kraken._faults.clear()


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.uuids().map(lambda u: u.hex), st.uuids().map(str), st.text(min_size=1, max_size=80)))
def test_every_client_order_id_becomes_a_kraken_cl_ord_id_the_same_way_every_time(client_order_id):
    import re

    from peaktrade_kraken.client import kraken_cl_ord_id

    mapped = kraken_cl_ord_id(client_order_id)
    assert mapped == kraken_cl_ord_id(client_order_id)  # a lookup after a crash finds the order
    uuid_form = re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", mapped)
    assert uuid_form or re.fullmatch(r"[0-9a-fA-F]{32}", mapped) or re.fullmatch(r"[A-Za-z0-9_.:-]{1,18}", mapped)
    if re.fullmatch(r"[0-9a-f]{32}", client_order_id):
        assert mapped == client_order_id  # the core's own ids reach Kraken unchanged


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value="0.00000001", max_value="100000000", places=8, allow_nan=False, allow_infinity=False))
def test_numbers_reach_kraken_as_the_same_number(value):
    from decimal import Decimal

    from peaktrade_kraken.client import decimal_text

    text = decimal_text(float(value))
    assert "e" not in text.lower() and Decimal(text) == Decimal(repr(float(value)))
