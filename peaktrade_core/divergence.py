"""How far two recorded runs of the same orders diverge: typically a shadow session on a
venue's live feed against a paper replay of the feed it recorded (docs/marketdata.md).

Orders are paired by their place in each run (the n-th order of one with the n-th of the
other); a pair whose symbol, side or quantity differ is reported as not comparable. For
each pair: both statuses, the price each was decided at (the quote it was priced by, or its
limit), the quantity-weighted fill price of each, and the difference in basis points.
Runs are read through :mod:`peaktrade_core.runlog`'s public functions only.
"""

from __future__ import annotations

import math
from typing import Any

from attrs import asdict, define, field


@define
class OrderPair:
    index: int
    symbol: str
    side: str
    quantity: float
    status_a: str | None
    status_b: str | None
    price_a: float | None = None  # the price the order was decided at
    price_b: float | None = None
    fill_a: float | None = None  # quantity-weighted fill price
    fill_b: float | None = None
    filled_a: float = 0.0
    filled_b: float = 0.0
    fee_a: float = 0.0
    fee_b: float = 0.0
    comparable: bool = True

    @property
    def fill_bps(self) -> float | None:
        """(B - A) / A in basis points of the fill prices; None unless both filled."""
        if self.fill_a is None or self.fill_b is None or self.fill_a <= 0:
            return None
        return (self.fill_b - self.fill_a) / self.fill_a * 10_000.0


@define
class Divergence:
    run_a: dict[str, Any]
    run_b: dict[str, Any]
    pairs: list[OrderPair] = field(factory=list)
    only_a: int = 0  # orders of A beyond B's last
    only_b: int = 0

    @property
    def status_differs(self) -> list[OrderPair]:
        return [p for p in self.pairs if p.comparable and p.status_a != p.status_b]

    @property
    def not_comparable(self) -> list[OrderPair]:
        return [p for p in self.pairs if not p.comparable]

    def _bps(self) -> list[float]:
        return [b for p in self.pairs if p.comparable and (b := p.fill_bps) is not None]

    def totals(self) -> dict[str, Any]:
        bps = self._bps()
        notional = {
            side: sum(getattr(p, f"filled_{side}") * (getattr(p, f"fill_{side}") or 0.0) for p in self.pairs)
            for side in ("a", "b")
        }
        return {
            "orders_a": len(self.pairs) + self.only_a,
            "orders_b": len(self.pairs) + self.only_b,
            "paired": len(self.pairs),
            "not_comparable": len(self.not_comparable),
            "status_differs": len(self.status_differs),
            "filled_in_both": len(bps),
            "mean_abs_fill_bps": sum(abs(b) for b in bps) / len(bps) if bps else 0.0,
            "max_abs_fill_bps": max((abs(b) for b in bps), default=0.0),
            "notional_a": notional["a"],
            "notional_b": notional["b"],
            "fees_a": sum(p.fee_a for p in self.pairs),
            "fees_b": sum(p.fee_b for p in self.pairs),
        }

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        pairs = self.pairs if limit is None else self.worst(limit)
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "totals": self.totals(),
            "pairs": [{**asdict(p), "fill_bps": p.fill_bps} for p in pairs],
        }

    def worst(self, n: int) -> list[OrderPair]:
        """The ``n`` pairs that differ most: status first, then fill price."""

        def key(p: OrderPair) -> tuple[int, float]:
            bps = p.fill_bps
            return (0 if (not p.comparable or p.status_a != p.status_b) else 1, -abs(bps) if bps is not None else 0.0)

        return sorted(self.pairs, key=key)[:n]


def _fill(event: Any) -> tuple[float | None, float, float]:
    quantity = sum(f["quantity"] for f in event.fills)
    if not quantity:
        return None, 0.0, sum(f.get("fee", 0.0) for f in event.fills)
    price = sum(f["quantity"] * f["price"] for f in event.fills) / quantity
    return price, quantity, sum(f.get("fee", 0.0) for f in event.fills)


def _orders(store: Any, run_id: str) -> list[Any]:
    from peaktrade_core.runlog import iter_run_events

    return [e for e in iter_run_events(store, run_id) if e.kind == "order"]


def _price(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def compare_runs(store: Any, run_a: str, run_b: str) -> Divergence:
    """The divergence of run ``run_b`` from run ``run_a`` (both ids, already resolved)."""
    from peaktrade_core.runlog import load_run_metadata

    def meta(run_id: str) -> dict[str, Any]:
        m = load_run_metadata(store, run_id)
        return {"run_id": m.run_id, "mode": m.mode, "effective_mode": m.effective_mode, "strategy": m.strategy,
                "strategy_params": m.strategy_params, "status": m.status}

    a, b = _orders(store, run_a), _orders(store, run_b)
    result = Divergence(meta(run_a), meta(run_b), only_a=max(0, len(a) - len(b)), only_b=max(0, len(b) - len(a)))
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        fill_a, filled_a, fee_a = _fill(x)
        fill_b, filled_b, fee_b = _fill(y)
        result.pairs.append(
            OrderPair(
                index, x.symbol, x.side, x.quantity, x.status, y.status,
                price_a=_price(x.price), price_b=_price(y.price),
                fill_a=fill_a, fill_b=fill_b, filled_a=filled_a, filled_b=filled_b, fee_a=fee_a, fee_b=fee_b,
                comparable=(x.symbol, x.side, x.quantity) == (y.symbol, y.side, y.quantity),
            )
        )
    return result


def render(divergence: Divergence, limit: int = 10) -> str:
    """The report as text: both runs, the totals, then the pairs that differ most."""
    t = divergence.totals()
    a, b = divergence.run_a, divergence.run_b
    lines = [
        f"A  {a['run_id']}  {a['mode']} ({a['effective_mode']})  {a['strategy']}  {a['status']}",
        f"B  {b['run_id']}  {b['mode']} ({b['effective_mode']})  {b['strategy']}  {b['status']}",
        f"orders: A {t['orders_a']}, B {t['orders_b']}, paired {t['paired']}, not comparable {t['not_comparable']}",
        f"status differs: {t['status_differs']}",
        f"filled in both: {t['filled_in_both']}; fill price B vs A: mean |{t['mean_abs_fill_bps']:.2f}| bps, "
        f"max |{t['max_abs_fill_bps']:.2f}| bps",
        f"filled notional: A {t['notional_a']:,.2f}, B {t['notional_b']:,.2f}; fees: A {t['fees_a']:,.2f}, B {t['fees_b']:,.2f}",
    ]
    differing = [p for p in divergence.worst(limit) if not p.comparable or p.status_a != p.status_b or p.fill_bps]
    if differing:
        lines.append("")
        lines.append("#     SYMBOL     SIDE  QTY         STATUS A -> B              FILL A -> B                 BPS")
        for p in differing:
            fill = f"{_num(p.fill_a)} -> {_num(p.fill_b)}"
            bps = "-" if p.fill_bps is None else f"{p.fill_bps:+.2f}"
            status = f"{p.status_a} -> {p.status_b}" + ("" if p.comparable else " (not comparable)")
            lines.append(f"{p.index:<5} {p.symbol:<10} {p.side:<5} {p.quantity:<11g} {status:<26} {fill:<27} {bps}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.6g}"
