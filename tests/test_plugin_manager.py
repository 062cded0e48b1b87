"""Plugin loading: built-ins always, entry points in isolation, allow/block lists, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from peaktrade_core import hookimpl
from peaktrade_core.plugins import ESSENTIAL_PLUGINS, PluginError, PluginManager, get_plugin_manager
from peaktrade_core.testing import registered_plugin


def fake_distribution(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A real installed distribution (dist-info on sys.path), as pip would leave it."""
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[peaktrade]\n{lines}\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


GOOD = """
    from peaktrade_core import hookimpl

    @hookimpl
    def check_gate(orders):
        return None
"""
MISSPELT = """
    from peaktrade_core import hookimpl

    @hookimpl
    def chek_gate(orders):
        return None
"""
BAD_ARGS = """
    from peaktrade_core import hookimpl

    @hookimpl
    def check_gate(orders, colour):
        return None
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    fake_distribution(
        site,
        "peaktrade-fakes",
        {"good": "fake_good", "missing": "fake_does_not_exist", "misspelt": "fake_misspelt", "badargs": "fake_badargs"},
        {"fake_good": GOOD, "fake_misspelt": MISSPELT, "fake_badargs": BAD_ARGS},
    )
    monkeypatch.syspath_prepend(str(site))
    return site


def test_builtins_are_loaded_and_essential():
    infos = {i.name: i for i in PluginManager(allow=set()).load().infos()}
    assert set(infos) == set(ESSENTIAL_PLUGINS)
    assert infos["safety-gates"].hooks == ("check_gate",)
    assert all(i.source == "builtin" and i.status == "loaded" for i in infos.values())


def test_one_broken_entry_point_never_stops_the_others(site):
    infos = {i.name: i for i in PluginManager().load().infos()}
    assert infos["good"].status == "loaded"
    assert infos["good"].distribution == "peaktrade-fakes" and infos["good"].version == "1.2.3"
    assert infos["missing"].status == "failed"
    assert "No module named 'fake_does_not_exist'" in infos["missing"].error
    assert infos["misspelt"].status == "failed"
    assert infos["misspelt"].error == "unknown hook implementation(s): chek_gate"
    assert infos["badargs"].status == "failed" and "colour" in infos["badargs"].error


def test_allow_list_and_block_list(site):
    names = {i.name for i in PluginManager(allow={"good"}).load().infos()}
    assert names == set(ESSENTIAL_PLUGINS) | {"good"}
    disabled = {i.name: i.status for i in PluginManager(allow={"good"}, disable={"good"}).load().infos()}
    assert disabled["good"] == "disabled"
    # essential plugins ignore the block list
    assert set(ESSENTIAL_PLUGINS) <= {i.name for i in PluginManager(disable=set(ESSENTIAL_PLUGINS)).load().infos()}


def test_empty_allow_list_loads_no_external_plugin(site, monkeypatch):
    monkeypatch.setenv("PEAK_TRADE_PLUGINS", "")
    assert {i.name for i in get_plugin_manager().infos()} == set(ESSENTIAL_PLUGINS)


def test_registered_plugin_is_removed_even_when_the_block_raises():
    class Probe:
        @hookimpl
        def check_gate(self):
            return None

    with pytest.raises(RuntimeError), registered_plugin(Probe(), "probe"):
        assert "probe" in {i.name for i in get_plugin_manager().infos()}
        raise RuntimeError("test failed inside")
    assert "probe" not in {i.name for i in get_plugin_manager().infos()}


def test_registering_a_misspelt_plugin_object_is_an_error():
    class Typo:
        @hookimpl
        def chek_gate(self):
            return None

    with pytest.raises(PluginError, match="chek_gate"):
        get_plugin_manager().register(Typo(), "typo")


def test_essential_plugins_cannot_be_unregistered():
    with pytest.raises(PluginError):
        get_plugin_manager().unregister("safety-gates")


def _plugins_cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PEAK_TRADE_PLUGINS"}
    env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "plugins", "list", *args],
        capture_output=True, text=True, env=env,
    )


def test_plugins_list_json_shows_failures_and_exits_0_unless_strict(site):
    proc = _plugins_cli(site, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["name"] for r in rows] == sorted(r["name"] for r in rows)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name["good"]) == {"name", "distribution", "version", "source", "hooks", "status", "error", "blocks_trading"}
    assert by_name["good"]["source"] == "entry-point" and by_name["good"]["hooks"] == ["check_gate"]
    assert by_name["safety-gates"]["source"] == "builtin"
    assert by_name["missing"]["status"] == "failed" and by_name["missing"]["blocks_trading"] is True
    assert _plugins_cli(site, "--strict").returncode == 1


def test_plugins_list_table_and_hook_filter(site):
    proc = _plugins_cli(site, "--hook", "emit_alert")
    assert proc.returncode == 0
    assert "alert-sinks" in proc.stdout and "safety-gates" not in proc.stdout
    table = _plugins_cli(site).stdout
    assert "! missing: ModuleNotFoundError: No module named 'fake_does_not_exist'" in table
    unknown = _plugins_cli(site, "--hook", "nope")
    assert unknown.returncode == 2 and "unknown hook" in unknown.stderr
