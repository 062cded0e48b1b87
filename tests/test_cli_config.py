"""Which config file is in force (docs/cli.md: --config > $PEAK_TRADE_CONFIG_PATH >
./config/config.toml > $XDG_CONFIG_HOME/peaktrade/config.toml > built-in defaults), and
`config show` output that `config validate` accepts and that loads to the same config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from peaktrade_core.cli import cli
from peaktrade_core.config import ConfigError, load_config, to_display_dict


def peaktrade(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "peaktrade_core", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={**os.environ, **(env or {})})


def _write(path: Path, mode: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[environment]\nmode = "{mode}"\n')
    return path


def _in_force(cwd: Path, *args: str, env: dict | None = None) -> tuple[str, str]:
    path = json.loads(peaktrade(*args, "config", "path", "--json", cwd=cwd, env=env).stdout)
    used = [p for p in path if p["used"]]
    assert len(used) == 1
    mode = json.loads(peaktrade(*args, "status", "--json", cwd=cwd, env=env).stdout)["mode"]
    return used[0]["source"], mode


def test_the_search_order_and_config_path_say_which_file_is_in_force(tmp_path):
    xdg = Path(os.environ["XDG_CONFIG_HOME"])
    work = tmp_path / "work"
    work.mkdir()
    assert _in_force(work) == ("built-in defaults", "paper")
    _write(xdg / "peaktrade" / "config.toml", "shadow")
    assert _in_force(work) == ("user", "shadow")
    _write(work / "config" / "config.toml", "paper")
    assert _in_force(work) == ("project", "paper")
    env_file = _write(tmp_path / "env.toml", "shadow")
    assert _in_force(work, env={"PEAK_TRADE_CONFIG_PATH": str(env_file)}) == ("$PEAK_TRADE_CONFIG_PATH", "shadow")
    explicit = _write(tmp_path / "explicit.toml", "paper")
    assert _in_force(work, "--config", str(explicit), env={"PEAK_TRADE_CONFIG_PATH": str(env_file)}) == ("--config", "paper")
    text = peaktrade("config", "path", cwd=work).stdout.splitlines()
    assert text[0] == "config/config.toml"
    assert any(line.startswith("  * project") for line in text)
    assert any("user" in line and str(xdg / "peaktrade" / "config.toml") in line for line in text)


def test_the_user_config_defaults_to_dot_config_without_xdg(tmp_path):
    home = tmp_path / "home"
    _write(home / ".config" / "peaktrade" / "config.toml", "shadow")
    env = {"HOME": str(home), "XDG_CONFIG_HOME": ""}
    assert _in_force(tmp_path, env=env) == ("user", "shadow")
    env["XDG_CONFIG_HOME"] = "relative/dir"  # not absolute: ignored, as the XDG spec says
    assert _in_force(tmp_path, env=env) == ("user", "shadow")


def test_a_broken_user_config_is_refused_in_one_line_not_skipped(tmp_path):
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "peaktrade" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[environment]\nmode = 'livee'\n")
    done = peaktrade("status", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and str(user) in done.stderr and "environment.mode" in done.stderr


def test_config_init_can_write_the_user_config(tmp_path):
    done = peaktrade("config", "init", "--user", cwd=tmp_path)
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "peaktrade" / "config.toml"
    assert done.returncode == 0 and done.stdout.strip() == f"wrote {user}"
    assert _in_force(tmp_path) == ("user", "paper")


# -- config show round trip ---------------------------------------------------------------

_numbers = st.floats(min_value=1.0, max_value=1e6, allow_nan=False, allow_infinity=False)
_section_values = st.fixed_dictionaries(
    {},
    optional={
        "environment": st.fixed_dictionaries({}, optional={
            "mode": st.sampled_from(["paper", "shadow", "testnet"]),
            "kill_switch_allow_reduce_only": st.booleans(),
            "live_allowed_symbols": st.lists(st.sampled_from(["BTC/EUR", "ETH/EUR", "SOL/USD"]), unique=True, max_size=3),
            "confirm_token": st.just({"env": "PEAK_TRADE_CONFIRM_TOKEN"}),
        }),
        "live_risk": st.fixed_dictionaries({}, optional={
            "max_order_notional": _numbers,
            "max_open_positions": st.integers(min_value=1, max_value=100),
            "block_on_violation": st.booleans(),
            "price_collar_pct": st.floats(min_value=0.5, max_value=50.0),
            "max_order_quantity": st.dictionaries(st.sampled_from(["BTC/EUR", "ETH/EUR"]), _numbers, max_size=2),
        }),
        "live_alerts": st.fixed_dictionaries({}, optional={
            "min_level": st.sampled_from(["info", "warning", "critical"]),
            "dedup_window_seconds": st.floats(min_value=0.0, max_value=3600.0),
            "webhook_urls": st.lists(st.builds(lambda n: {"env": f"PEAK_TRADE_HOOK_{n}"}, st.integers(0, 9)), max_size=2),
        }),
        "execution": st.fixed_dictionaries({}, optional={
            "batch_size": st.integers(min_value=1, max_value=10_000),
            "starting_cash": _numbers,
        }),
    },
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=_section_values)
def test_config_show_output_is_accepted_by_validate_and_loads_to_the_same_config(tmp_path, values):
    import tomlkit

    original = tmp_path / "original.toml"
    original.write_text(tomlkit.dumps(values))
    try:
        expected = to_display_dict(load_config(original))
    except ConfigError:
        assume(False)
    shown = CliRunner().invoke(cli, ["--config", str(original), "config", "show"])
    assert shown.exit_code == 0, shown.output
    again = tmp_path / "shown.toml"
    again.write_text(shown.stdout)
    validated = CliRunner().invoke(cli, ["config", "validate", str(again)])
    assert validated.exit_code == 0, validated.output + shown.stdout
    assert to_display_dict(load_config(again)) == expected


def test_config_show_of_the_documented_default_round_trips(tmp_path):
    shown = CliRunner().invoke(cli, ["config", "show"])
    (tmp_path / "shown.toml").write_text(shown.stdout)
    assert CliRunner().invoke(cli, ["config", "validate", str(tmp_path / "shown.toml")]).exit_code == 0
    assert to_display_dict(load_config(tmp_path / "shown.toml")) == to_display_dict(load_config())


@pytest.mark.parametrize("args", [["config", "validate"], ["config", "validate", "--json"]])
def test_config_validate_json_lists_the_problems(tmp_path, args):
    bad = tmp_path / "bad.toml"
    bad.write_text("[live_risk]\nmax_order_notional = 'abc'\n")
    done = CliRunner().invoke(cli, [*args, str(bad)])
    assert done.exit_code == 2
    if "--json" in args:
        data = json.loads(done.stdout)
        assert data["ok"] is False and data["path"] == str(bad)
        assert data["problems"] == [f"{bad}: live_risk.max_order_notional: expected a number, got \"abc\""]
