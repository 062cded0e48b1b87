"""The worker of tests/test_budget_processes.py: one process (a host) trading against the
shared risk budget as its plan says. No tests here; kept light to start (eight at once).

    python test_budget_worker.py STORE_URL PLAN OUT GO

PLAN (JSON): ``batches`` (lists of [symbol, side, notional, fill|half|reject|rest]),
``crash_at`` (the batch whose executor call hangs until the test kills it, or null),
``prices``, ``max_symbol``, ``max_total``, ``lease``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

# -- the worker -----------------------------------------------------------------------------


def worker(store_at: str, plan_file: str, out_file: str, go_file: str) -> None:
    from peaktrade_core.config import PeakTradeConfig, StateConfig
    from peaktrade_core.orders import (
        OrderExecutionResult,
        OrderFill,
        OrderRequest,
        OrderStatus,
        Side,
    )
    from peaktrade_core.pipeline import ExecutionPipeline
    from peaktrade_core.risk import LiveRiskConfig
    from peaktrade_core.store import open_store_url

    plan = json.loads(Path(plan_file).read_text())

    class PlanExecutor:
        """Answers as the plan says; at the crash batch it announces itself and hangs with
        its reservations held, until the test kills it."""

        name = "plan"
        sends_real_orders = False
        batch_no = 0

        def execute_orders(self, orders):
            if plan["crash_at"] is not None and self.batch_no >= plan["crash_at"]:
                Path(out_file + ".holding").write_text("1")
                time.sleep(3600)
            out = []
            for o in orders:
                how = o.source_ref
                if how == "reject":
                    out.append(OrderExecutionResult(o, OrderStatus.REJECTED, reasons=["venue refused"]))
                elif how == "rest":
                    out.append(OrderExecutionResult(o, OrderStatus.ACCEPTED))
                else:
                    q = o.quantity if how == "fill" else o.quantity / 2
                    status = OrderStatus.FILLED if how == "fill" else OrderStatus.PARTIALLY_FILLED
                    out.append(OrderExecutionResult(o, status, [OrderFill(o.client_order_id, o.symbol, o.side, q, o.limit_price)]))
            return out

        def cancel_order(self, client_order_id):
            return False

    limits = LiveRiskConfig(
        max_symbol_exposure_notional=plan["max_symbol"], max_total_exposure_notional=plan["max_total"], max_orders_per_second=0,
        max_orders_per_minute=0, duplicate_window_seconds=0, runaway_max_executions=0, price_collar_pct=0,
    )
    config = PeakTradeConfig(live_risk=limits, state=StateConfig(shared_risk_budget=True, budget_lease_seconds=plan["lease"]))
    executor = PlanExecutor()
    pipeline = ExecutionPipeline(config, store=open_store_url(store_at, data_dir=Path(plan_file).parent), executor=executor, record=False)
    with open(out_file, "a", buffering=1) as out:  # line-buffered: each line reaches the file at once
        out.write(json.dumps({"owner": pipeline.budget.owner}) + "\n")
        while not os.path.exists(go_file):
            time.sleep(0.01)
        for n, batch in enumerate(plan["batches"]):
            orders = [
                OrderRequest(symbol, side, notional / plan["prices"][symbol], order_type="limit", limit_price=plan["prices"][symbol], source_ref=how)
                for symbol, side, notional, how in batch
            ]
            executor.batch_no = n
            results = pipeline.process_batch(orders, n)
            fills = [[f.symbol, f.quantity if f.side is Side.BUY else -f.quantity] for r in results for f in r.fills]
            out.write(json.dumps({"batch": n, "fills": fills, "status": [r.status.value for r in results]}) + "\n")
        pipeline.budget.close()
        out.write(json.dumps({"done": True}) + "\n")


if __name__ == "__main__":
    worker(*sys.argv[1:5])
