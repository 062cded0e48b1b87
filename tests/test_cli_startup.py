"""CLI start-up stays light: `status`, `plugins list` and `--help` import only what they show,
and stay truthful (a failed plugin is listed, the kill switch is read from the store).

Guards for benchmarks/bench_cli.py's figures without timing anything: each names modules a
command must not import (the order model, the risk limits, the venue layer, OpenSSL, a
METADATA parser, ...), checked in a fresh interpreter's ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pluggy
import pytest

from peaktrade_core import hookimpl
from peaktrade_core.plugins import _PluggyManager

#: never needed to show the gates, the store, the kill switch and the limits
NOT_FOR_STATUS = [
    "peaktrade_core.orders",  # the order model (gates name it in annotations only)
    "peaktrade_core.risk.limits",  # the limits themselves: status shows their settings
    "peaktrade_core.risk.controls",
    "peaktrade_core.risk.portfolio_state",
    "peaktrade_core.venues",  # no venue in paper mode
    "peaktrade_core.pipeline",
    "peaktrade_core.alerts",  # events, deliveries, dispatcher: the config needs only alerts_config
    "cattrs",  # a valid config is structured without it
    "difflib",  # only to suggest a name for a mistake
    "email.parser",  # a plugin's version comes from its dist-info folder, not its METADATA
    "zoneinfo",  # the default [live_risk] timezone is UTC, which needs no zone database
    "peaktrade_core.store.copy",  # its table definitions serve only copying a store
    "peaktrade_core.gate_decisions",  # the per-order gates: status shows the environment-level report
]
NOT_FOR_HELP = [*NOT_FOR_STATUS, "attrs", "peaktrade_core.config", "peaktrade_core.gates", "sqlite3", "tomllib"]

PROBE = textwrap.dedent(
    """
    import json, sys
    from peaktrade_core.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
    print(json.dumps(sorted(sys.modules)), file=sys.stderr)
    """
)

FAILING = """
    raise ImportError("libfoo is missing")
"""
GATE = """
    from peaktrade_core import hookimpl

    @hookimpl
    def check_gate(orders):
        return None
"""


@pytest.fixture
def site(tmp_path):
    """Two plugins installed as pip leaves them: one that loads, one that fails to import."""
    site = tmp_path / "site"
    info = site / "peaktrade_startup_fakes-2.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: peaktrade-startup-fakes\nVersion: 2.0.1\n")
    (info / "entry_points.txt").write_text("[peaktrade]\ngategood = fake_gategood\nbroken = fake_broken\n")
    (site / "fake_gategood.py").write_text(textwrap.dedent(GATE))
    (site / "fake_broken.py").write_text(textwrap.dedent(FAILING))
    return site


def _run(site: Path, *args: str) -> tuple[str, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(site), "PEAK_TRADE_PLUGINS": "gategood,broken"}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=120)
    return done.stdout, set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_status_lists_the_failed_plugin_and_the_engaged_kill_switch_without_the_order_path(site):
    engage = subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "kill", "--reason", "startup test", "--operator", "ops"],
        capture_output=True, text=True, timeout=120,
    )
    assert engage.returncode == 0, engage.stderr
    out, loaded = _run(site, "status")
    assert "ENGAGED by ops" in out and "startup test" in out  # read from the store
    assert "! plugin broken failed (ImportError: libfoo is missing): every batch is blocked" in out
    assert "peaktrade_core.config" in loaded and "fake_gategood" in loaded  # it did load the plugins and the config
    assert sorted(m for m in NOT_FOR_STATUS if m in loaded) == []


def test_a_fresh_status_needs_no_openssl(site):
    out, loaded = _run(site, "status")
    assert "Kill switch\n  released" in out
    assert "hashlib" not in loaded and "hmac" not in loaded  # a token compare or a kill-switch chain would


@pytest.mark.parametrize(("zone", "accepted"), [("Europe/Berlin", True), ("Mars/Olympus", False), ("UTC", True)])
def test_status_checks_a_configured_time_zone_against_the_zone_database(site, tmp_path, zone, accepted):
    config = tmp_path / "config.toml"
    config.write_text(f'[live_risk]\ntimezone = "{zone}"\n')
    env = {**os.environ, "PYTHONPATH": str(site), "PEAK_TRADE_PLUGINS": "gategood", "PEAK_TRADE_CONFIG_PATH": str(config)}
    done = subprocess.run([sys.executable, "-c", PROBE, "status"], capture_output=True, text=True, env=env, timeout=120)
    if accepted:
        assert "Limits in force" in done.stdout
        assert ("zoneinfo" in json.loads(done.stderr.strip().splitlines()[-1])) is (zone != "UTC")
    else:
        assert "Limits in force" not in done.stdout
        assert f'config.toml: live_risk: timezone: unknown time zone "{zone}"' in done.stderr


def test_plugins_list_shows_name_and_version_without_reading_metadata(site):
    out, loaded = _run(site, "plugins", "list", "--json")
    listed = {p["name"]: p for p in json.loads(out)}
    assert listed["gategood"]["distribution"] == "peaktrade-startup-fakes" and listed["gategood"]["version"] == "2.0.1"
    assert listed["broken"]["status"] == "failed" and listed["gategood"]["hooks"] == ["check_gate"]
    assert sorted(m for m in [*NOT_FOR_HELP, "peaktrade_core.cli_state"] if m in loaded) == []


def test_help_builds_no_config_and_opens_no_store(site):
    out, loaded = _run(site, "--help")
    assert "  status " in out
    assert sorted(m for m in NOT_FOR_HELP if m in loaded) == []


# -- the quick "no hook here" answer of the plugin manager against pluggy's own ------------------


def _sample_plugin() -> types.ModuleType:
    """A plugin module with every kind of attribute pluggy has to tell apart."""
    module = types.ModuleType("fake_kinds")

    class Holder:
        @hookimpl
        def check_gate(self, orders):
            return None

        @staticmethod
        @hookimpl
        def check_risk(orders):
            return None

    @hookimpl(tryfirst=True)
    def alert_sinks():
        return []

    @hookimpl(specname="configure")
    def my_configure(config):
        return None

    @hookimpl
    def chek_gate(orders):  # misspelt: still a hook implementation (to be refused later)
        return None

    def helper():
        return None

    module.__dict__.update(
        alert_sinks=alert_sinks, my_configure=my_configure, chek_gate=chek_gate, helper=helper,
        Holder=Holder, bound_check_gate=Holder().check_gate, check_risk=Holder.__dict__["check_risk"],
        plain_static=staticmethod(helper), plain_class=classmethod(lambda cls: None), json=json,
        CONSTANT=3, lam=lambda: None, os_path=os.path,
    )
    return module


@pytest.mark.parametrize("module", ["sample", "peaktrade_core.builtin.safety_gates", "peaktrade_core.builtin.risk_limits",
                                    "peaktrade_core.builtin.alert_sinks", "peaktrade_core.hookspecs", "os", "json"])
def test_the_quick_hook_scan_answers_as_pluggy(module):
    import importlib

    plugin = _sample_plugin() if module == "sample" else importlib.import_module(module)
    quick, plain = _PluggyManager("peaktrade"), pluggy.PluginManager("peaktrade")
    names = dir(plugin)
    answers = {name: quick.parse_hookimpl_opts(plugin, name) for name in names}
    assert answers == {name: plain.parse_hookimpl_opts(plugin, name) for name in names}
    if module == "sample":
        assert {n for n, a in answers.items() if a is not None} == {"alert_sinks", "my_configure", "chek_gate", "bound_check_gate", "check_risk"}
