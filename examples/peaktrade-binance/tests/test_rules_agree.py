"""Safety property: the instrument rules the core enforces before submit are exactly
Binance's filters. For any price and quantity, the core refuses an order if and only if
Binance (the loopback, enforcing exchangeInfo's filters) refuses it with -1013 — so the core
never lets through an order Binance would bounce, and never blocks one Binance would take."""

from __future__ import annotations

import uuid
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from peaktrade_binance.client import BinanceClient
from peaktrade_binance.testing import LoopbackBinance

from peaktrade_core.plugin_api import ExchangeError, OrderRequest

TICK, STEP = Decimal("0.01"), Decimal("0.00001")


def decimals(unit: Decimal, low: int, high: int) -> st.SearchStrategy[Decimal]:
    """Multiples of ``unit``, or half a unit off the grid."""
    return st.builds(lambda n, off: unit * n + (unit / 2 if off else 0), st.integers(low, high), st.booleans())


def test_core_rules_refuse_exactly_what_binance_filters_refuse():
    with LoopbackBinance(balances={"EUR": "1000000000", "BTC": "100000"}) as fake:
        client = BinanceClient(fake.url, fake.api_key, fake.api_secret, testnet=True, validate_only=True)
        rules = client.instrument_rules("BTC/EUR")

        @settings(max_examples=150)
        @given(
            price=st.one_of(decimals(TICK, 1, 100), decimals(TICK, 1, 10_000_000)),
            quantity=st.one_of(decimals(STEP, 1, 1000), decimals(STEP, 1, 100_000_000)),
            side=st.sampled_from(["buy", "sell"]),
        )
        def agree(price: Decimal, quantity: Decimal, side: str) -> None:
            order = OrderRequest("BTC/EUR", side, float(quantity), "limit", limit_price=float(price), client_order_id=uuid.uuid4().hex)
            core_refuses = bool(rules.problems(order))
            try:
                client.submit_order(order)
                binance_refuses = False
            except ExchangeError as exc:
                assert "-1013" in str(exc), str(exc)  # only filter failures here
                binance_refuses = True
            assert core_refuses == binance_refuses, (price, quantity, rules.problems(order))

        agree()
        assert fake.orders() == []  # validate-only throughout
