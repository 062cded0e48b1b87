"""The adapter costs nothing until it is used: peaktrade imports its hooks module at every
start, so neither that nor ``peaktrade plugins list`` may import httpx or the client."""

import subprocess
import sys


def test_the_hooks_module_imports_only_the_hook_marker():
    probe = "import sys, peaktrade_binance.hooks; print(sorted(m for m in sys.modules if m.startswith(('httpx', 'peaktrade_binance'))))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == str(["peaktrade_binance", "peaktrade_binance.hooks"])


def test_plugins_list_shows_the_adapter_without_importing_httpx():
    probe = (
        "import sys\n"
        "from peaktrade_core.cli import main\n"
        "try:\n"
        "    main(['plugins', 'list'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print(sorted(m for m in sys.modules if m.startswith(('httpx', 'peaktrade_binance'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    *table, loaded = out.stdout.strip().splitlines()
    [row] = [line for line in table if line.startswith("binance ")]
    assert "peaktrade-binance" in row and "create_exchange_client, exchange_venues" in row
    assert loaded == str(["peaktrade_binance", "peaktrade_binance.hooks"])
