"""An operator at a shell, for tests of the operator's commands (health, readiness, run
report): ``peaktrade`` in a fresh process with its own data dir and config file, and
plugins installed as pip would leave them (dist-info folders with entry points on
``PYTHONPATH``) — the loopback reference venue among them::

    with LoopbackVenue() as venue:
        shell = OperatorShell(tmp_path, venue)
        shell.use_loopback_testnet()           # config + `peaktrade state init`
        assert shell("health").returncode == 0
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from peaktrade_core.testing.loopback import LoopbackVenue

#: testnet mode at the loopback venue (``{url}``), gates open, risk limits set
LOOPBACK_TESTNET_CONFIG = """
[environment]
mode = "testnet"
exchange = "loopback"
enable_testnet_trading = true
testnet_allowed_symbols = ["BTC/EUR"]

[live_risk]
max_order_notional = 1000.0
max_total_exposure_notional = 5000.0
max_daily_loss_abs = 200.0

[plugins.loopback]
base_url = "{url}"
api_key = {{ env = "LOOPBACK_API_KEY" }}
api_secret = {{ env = "LOOPBACK_API_SECRET" }}
timeout_seconds = 60.0
testnet_validate_only = false  # the loopback venue acts as a sandbox: orders fill
"""
#: a buy and a sell of BTC/EUR at the loopback venue
ROUND_TRIP_ORDERS = "symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\nBTC/EUR,sell,0.01,40100\n"


def install_plugin(site: Path, name: str, target: str) -> None:
    """A plugin as pip would leave it: a dist-info folder with an entry point."""
    info = site / f"peaktrade_{name}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: peaktrade-{name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[peaktrade]\n{name} = {target}\n")


class OperatorShell:
    """Runs ``peaktrade`` in a fresh process; the loopback venue's credentials come from
    the environment, and no output may contain its secret or a traceback."""

    def __init__(self, tmp_path: Path, venue: LoopbackVenue):
        self.tmp_path, self.venue = tmp_path, venue
        self.site = tmp_path / "site"
        install_plugin(self.site, "loopback", "peaktrade_core.testing.loopback:plugin")
        self.plugins = "loopback"
        self.config = tmp_path / "config.toml"
        self.data = tmp_path / "data"

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPBACK_", "PEAK_TRADE_"))}
        env.update(
            PYTHONPATH=str(self.site),
            PEAK_TRADE_PLUGINS=self.plugins,
            PEAK_TRADE_DATA_DIR=str(self.data),
            LOOPBACK_API_KEY=self.venue.api_key,
            LOOPBACK_API_SECRET=self.venue.api_secret,
        )
        argv = [sys.executable, "-m", "peaktrade_core"]
        if self.config.exists():
            argv += ["--config", str(self.config)]
        proc = subprocess.run([*argv, *args], capture_output=True, text=True, env=env, cwd=self.tmp_path, timeout=timeout)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert self.venue.api_secret not in proc.stdout + proc.stderr
        return proc

    def use_loopback_testnet(self, url: str | None = None) -> None:
        """Testnet mode at the venue (or ``url``) on a store initialised by a person."""
        self.config.write_text(LOOPBACK_TESTNET_CONFIG.format(url=url or self.venue.url))
        proc = self("state", "init", "--reason", "new testnet installation")
        assert proc.returncode == 0, proc.stderr


