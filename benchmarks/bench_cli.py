"""CLI start-up: `peaktrade plugins list` against the floor of importing click + pluggy.

    python benchmarks/bench_cli.py [runs]

Run with every repo plugin installed (`python3 dev.py demo` sets that up). Goal on the
reference machine: median <= 120 ms (the import floor measured ~84 ms there).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import median_ms, table, wall_times  # noqa: E402

FLOOR = (
    "import pluggy, click; from importlib.metadata import entry_points; "
    "[ep.load() for ep in entry_points(group='peaktrade')]"
)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    bindir = Path(sys.executable).parent
    peaktrade = shutil.which("peaktrade", path=str(bindir)) or "peaktrade"
    env = {k: v for k, v in os.environ.items() if k != "PEAK_TRADE_PLUGINS"}
    baseline = wall_times([sys.executable, "-c", "import pluggy, click"], runs, env)
    # the floor the goal is set against: the imports plus reading the installed entry points
    floor = wall_times([sys.executable, "-c", FLOOR], runs, env)
    listing = wall_times([peaktrade, "plugins", "list"], runs, env)
    status = wall_times([peaktrade, "status"], runs, env)
    base = median_ms(baseline)
    rows = [("command", "median ms", "min ms", "x baseline")]
    for name, times in (
        ("python -c 'import pluggy, click' (baseline)", baseline),
        ("... + load the 'peaktrade' entry points (floor)", floor),
        ("peaktrade plugins list", listing),
        ("peaktrade status", status),
    ):
        rows.append((name, f"{median_ms(times):.1f}", f"{min(times) * 1000:.1f}", f"{median_ms(times) / base:.2f}"))
    print(f"CLI start-up, {runs} runs each")
    print(table(rows))


if __name__ == "__main__":
    main()
