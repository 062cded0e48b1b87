"""Kill-switch propagation: engage on one process, time until the first blocked batch on
each of N other processes (one-order batches, paper, no run log), on the SQLite store and
on a throwaway PostgreSQL server (LISTEN/NOTIFY), rounds alternating between the two.

    python benchmarks/bench_kill_propagation.py [--processes 4] [--rounds 25]

The delay is measured from *before* the engage call (its own transaction included) to the
worker's clock after its first blocked batch: an upper bound. Same machine, same clock.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    from peaktrade_core.state import init_identity
    from peaktrade_core.store import open_store_url
    from peaktrade_core.testing.kill_propagation import measure
    from peaktrade_core.testing.postgres import PostgresServer

    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    with PostgresServer(durable=True) as server:
        stores = {}
        for name in ("sqlite", "postgresql"):
            data_dir = Path(tempfile.mkdtemp(prefix=f"kill-{name}-"))
            url = f"sqlite://{data_dir / 'peaktrade.sqlite3'}" if name == "sqlite" else server.create_database()
            init_identity(open_store_url(url, data_dir=data_dir), "benchmark")
            stores[name] = (url, data_dir)
        delays: dict[str, list[float]] = {name: [] for name in stores}
        for _ in range(args.rounds // 5 or 1):  # alternate: 5 rounds on one, then 5 on the other
            for name, (url, data_dir) in stores.items():
                delays[name] += measure(url, data_dir, args.processes, 5)["engage_to_blocked"]
    print(f"kill switch engage -> first blocked batch, {args.processes} processes, {len(delays['sqlite'])} samples each")
    for name, values in delays.items():
        ms = [v * 1e3 for v in values]
        print(f"  {name:<10}  p50 {statistics.median(ms):7.2f} ms   p99 {percentile(ms, 0.99):7.2f} ms   max {max(ms):7.2f} ms")


if __name__ == "__main__":
    main()
