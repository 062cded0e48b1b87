"""Safety property: whatever batches arrive, what the limits let through keeps the
portfolio within its exposure and open-position limits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core.orders import OrderRequest
from peaktrade_core.risk import LiveRiskConfig, LiveRiskLimits, PortfolioState, blocked_orders

LIMITS = LiveRiskConfig(
    max_symbol_exposure_notional=1_000.0,
    max_total_exposure_notional=2_000.0,
    max_open_positions=2,
    max_order_notional=800.0,
)
CHECKER = LiveRiskLimits(LIMITS)

orders = st.builds(
    OrderRequest,
    symbol=st.sampled_from(["BTC/EUR", "ETH/EUR", "SOL/EUR", "ADA/EUR"]),
    side=st.sampled_from(["buy", "sell"]),
    quantity=st.floats(0.01, 20.0),
    reference_price=st.one_of(st.none(), st.floats(1.0, 200.0)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(orders, max_size=8), max_size=6))
def test_accepted_orders_never_break_exposure_or_position_limits(batches):
    state = PortfolioState(cash=10_000.0)
    for batch in batches:
        whole, blocked = blocked_orders(CHECKER.violations(batch, state), LIMITS.block_on_violation)
        assert not whole
        for i, order in enumerate(batch):
            if i not in blocked:
                # a market order without reference fills at the last price, as it was checked;
                # with none known it cannot pass a notional limit
                price = order.price if order.price is not None else state.last_prices[order.symbol]
                state.apply_fill(order.symbol, order.signed_quantity, price, 0.0)
        assert state.total_exposure() <= LIMITS.max_total_exposure_notional + 1e-6
        assert all(
            state.exposure(s) <= LIMITS.max_symbol_exposure_notional + 1e-6 for s in state.positions
        )
        assert state.open_positions() <= LIMITS.max_open_positions
