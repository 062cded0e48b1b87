"""A fresh virtual environment with only the core, the paper plugin and the example plugin
installed: a working paper-trading system, and `plugins list` shows what is installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_core_plus_paper_plus_hello_in_a_fresh_venv(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, str(ROOT), str(ROOT / "plugins" / "peaktrade-paper"), str(ROOT / "examples" / "peaktrade-hello-plugin")], check=True)
    peaktrade = str(env_dir / "bin" / "peaktrade")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAK_TRADE_PLUGINS")}
    env["PEAK_TRADE_DATA_DIR"] = str(tmp_path / "data")

    listing = json.loads(subprocess.run([peaktrade, "plugins", "list", "--json"], capture_output=True, text=True, check=True, env=env, cwd=tmp_path).stdout)
    by_name = {p["name"]: p for p in listing}
    assert {"safety-gates", "risk-limits", "alert-sinks", "paper", "hello"} <= set(by_name)
    assert by_name["hello"]["hooks"] == ["check_gate", "config_sections", "configure"]
    assert "dryrun" not in by_name  # only what was installed

    orders = tmp_path / "orders.csv"
    orders.write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\nBTC/EUR,buy,50,1.5\n")  # both within the default risk limits
    run = subprocess.run([peaktrade, "session", "run", "--orders", str(orders), "--json"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["by_status"] == {"filled": 1, "gate_blocked": 1}  # 50 BTC: the hello gate says no
    assert any("hello plugin" in reason for reason in summary["blocks_by_reason"])
    assert subprocess.run([peaktrade, "runs", "verify", summary["run_id"]], env=env, cwd=tmp_path).returncode == 0

    testnet = tmp_path / "testnet.toml"
    testnet.write_text('[environment]\nmode = "testnet"\n')
    init = [peaktrade, "--config", str(testnet), "state", "init", "--reason", "fresh install"]
    assert subprocess.run(init, capture_output=True, env=env, cwd=tmp_path).returncode == 0  # testnet needs it
    refused = subprocess.run([peaktrade, "--config", str(testnet), "session", "run", "--orders", str(orders)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert refused.returncode == 2
    assert "install the plugin peaktrade-dryrun" in refused.stderr and "Traceback" not in refused.stderr
    assert sys.version_info >= (3, 11)


# -- wheels, metadata, the demo --------------------------------------------------------------

import tomllib  # noqa: E402

from packaging.specifiers import SpecifierSet  # noqa: E402

PYPROJECTS = [ROOT / "pyproject.toml", *sorted(ROOT.glob("plugins/*/pyproject.toml")), *sorted(ROOT.glob("examples/*/pyproject.toml"))]
CORE_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _project(path: Path) -> dict:
    return tomllib.loads(path.read_text())["project"]


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda p: p.parent.name if p.parent != ROOT else "core")
def test_every_package_has_complete_metadata_and_its_license(pyproject):
    meta = _project(pyproject)
    for key in ("name", "version", "description", "readme", "license", "license-files", "classifiers", "keywords", "urls", "requires-python", "authors"):
        assert meta.get(key), f"{pyproject}: [project] {key} missing"
    assert meta["license"] == "MIT" and meta["requires-python"] == ">=3.11"
    assert (pyproject.parent / meta["readme"]).is_file()
    assert (pyproject.parent / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(meta["urls"])
    assert "Programming Language :: Python :: 3.11" in meta["classifiers"]


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda p: p.parent.name if p.parent != ROOT else "core")
def test_every_package_points_at_the_one_project_home(pyproject):
    """Homepage and Issues are the core's; Documentation is a page that exists; Source is the
    package's own folder. Until published the home is a reserved ``.example`` host, never a
    guessed address that belongs to someone else."""
    from urllib.parse import urlsplit

    home = _project(PYPROJECTS[0])["urls"]["Homepage"]
    assert urlsplit(home).hostname.endswith(".example"), f"{home}: confirm the real home, then change this check"
    urls = _project(pyproject)["urls"]
    folder = pyproject.parent.relative_to(ROOT).as_posix()
    assert urls["Homepage"] == home and urls["Issues"] == f"{home}/issues"
    assert urls["Source"] == (home if folder == "." else f"{home}/tree/main/{folder}")
    page = urls["Documentation"].removeprefix(f"{home}/blob/main/")
    assert page.startswith("docs/") and (ROOT / page).is_file(), urls["Documentation"]


@pytest.mark.parametrize("pyproject", PYPROJECTS[1:], ids=lambda p: p.parent.name)
def test_every_plugin_needs_a_compatible_core_range_that_holds_this_core(pyproject):
    (core,) = [d for d in _project(pyproject)["dependencies"] if d.startswith("peaktrade-core")]
    spec = SpecifierSet(core.removeprefix("peaktrade-core"))
    assert CORE_VERSION in spec  # installable next to the core of this checkout
    major, minor = (int(x) for x in CORE_VERSION.split(".")[:2])
    # bounded above: a core that may break the plugin API is never picked up silently
    next_breaking = f"{major}.{minor + 1}.0" if major == 0 else f"{major + 1}.0.0"
    assert next_breaking not in spec, f"{pyproject}: {core} admits {next_breaking}"


def _pip(python: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "pip", *args, "--disable-pip-version-check"], check=True, **kwargs)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_wheels_of_the_core_and_a_plugin_work_installed(tmp_path):
    """Built as wheels (not from the checkout), installed in a fresh venv and run from a
    directory with no checkout in sight: packaged data (default config, the example) is in."""
    wheels = tmp_path / "wheels"
    _pip(Path(sys.executable), "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(ROOT), str(ROOT / "plugins" / "peaktrade-paper"), capture_output=True)
    built = sorted(p.name for p in wheels.glob("*.whl"))
    assert [n.split("-")[0] for n in built] == ["peaktrade_core", "peaktrade_paper"]
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _pip(python, "install", "--quiet", *map(str, sorted(wheels.glob("*.whl"))), capture_output=True)
    where = tmp_path / "elsewhere"
    where.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAK_TRADE")}
    env |= {"PEAK_TRADE_DATA_DIR": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    peaktrade = str(env_dir / "bin" / "peaktrade")

    # imported from the venv, not from this checkout
    origin = subprocess.run([str(python), "-c", "import peaktrade_core; print(peaktrade_core.__file__)"], capture_output=True, text=True, env=env, cwd=where, check=True)
    assert str(env_dir) in origin.stdout

    listing = json.loads(subprocess.run([peaktrade, "plugins", "list", "--json"], capture_output=True, text=True, env=env, cwd=where, check=True).stdout)
    assert {p["name"] for p in listing} == {"safety-gates", "risk-limits", "alert-sinks", "paper"}
    assert {p["status"] for p in listing} == {"loaded"}

    shown = subprocess.run([peaktrade, "config", "path"], capture_output=True, text=True, env=env, cwd=where, check=True)
    assert shown.stdout.splitlines()[0] == "built-in defaults"  # the packaged default_config.toml

    run = subprocess.run([peaktrade, "session", "run", "--example", "--json"], capture_output=True, text=True, env=env, cwd=where)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["orders"] > 0 and summary["by_status"].get("filled", 0) > 0 and summary["executor"] == "paper"
    assert subprocess.run([peaktrade, "runs", "verify", summary["run_id"]], capture_output=True, env=env, cwd=where).returncode == 0
    meta = subprocess.run([str(python), "-c", "import importlib.metadata as m; d = m.metadata('peaktrade-paper'); print(d['License-Expression']); print(*m.requires('peaktrade-paper'))"],
                          capture_output=True, text=True, env=env, cwd=where, check=True).stdout.split("\n")
    assert meta[0] == "MIT" and "peaktrade-core<0.2,>=0.1" in meta[1].replace(" ", "")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_dev_demo_leaves_no_example_plugin_blocking_orders(tmp_path):
    """A venv the test setup filled (the hello gate installed), then `dev.py demo`: the
    demo's session is not blocked by the hello gate and the environment it hands over has
    no example plugin."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _pip(python, "install", "--quiet", "--no-deps", str(ROOT / "examples" / "peaktrade-hello-plugin"), capture_output=True)  # as `dev.py test` would have
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAK_TRADE")}
    env |= {"PEAK_TRADE_VENV": str(env_dir), "PEAK_TRADE_DATA_DIR": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    demo = subprocess.run([sys.executable, str(ROOT / "dev.py"), "demo"], capture_output=True, text=True, env=env, timeout=1100)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "hello" not in demo.stdout.split("plugins list", 1)[1].split("session", 1)[0]  # not in its listing
    left = subprocess.run([str(python), "-m", "pip", "show", "peaktrade-hello-plugin"], capture_output=True, text=True)
    assert left.returncode != 0  # uninstalled
    listing = json.loads(subprocess.run([str(env_dir / "bin" / "peaktrade"), "plugins", "list", "--json"], capture_output=True, text=True, env=env, check=True).stdout)
    names = {p["name"] for p in listing}
    assert "hello" not in names and "binance" not in names and "paper" in names
    orders = tmp_path / "orders.csv"
    orders.write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,50,1.5\n")  # above the hello gate's ceiling of 10
    run = subprocess.run([str(env_dir / "bin" / "peaktrade"), "session", "run", "--orders", str(orders), "--json"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["by_status"] == {"filled": 1}
