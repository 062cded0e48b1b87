"""Config: strict structuring, one line per mistake, lookup order, profiles, safe edits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from peaktrade_core.cli import cli
from peaktrade_core.config import (
    PACKAGED_DEFAULT,
    ConfigError,
    load_config,
    structure_config,
    to_display_dict,
)
from peaktrade_core.environment import TradingMode

ROOT = Path(__file__).resolve().parents[1]

BAD = """\
[live_risk]
max_order_notional = "abc"
max_ordr_notional = 5

[live_alerts]
webhook_urls = ["https://hooks.example.invalid/T000/B000/XXXX"]
"""


def errors_of(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        structure_config(raw, "config.toml", {})
    return info.value.lines


def test_three_mistakes_give_three_lines_exit_2_and_no_traceback(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(BAD)
    proc = subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "config", "validate", str(path)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert sorted(lines) == sorted([
        f"{path}: live_risk.max_order_notional: expected a number, got \"abc\"",
        f"{path}: live_risk.max_ordr_notional: unknown key (did you mean max_order_notional?)",
        f"{path}: live_alerts.webhook_urls[0]: literal secret not allowed; give a reference such as "
        '{ env = "PEAK_TRADE_WEBHOOK_URLS" }',
    ])
    assert "Traceback" not in proc.stderr
    assert "hooks.example" not in proc.stderr + proc.stdout  # the secret is not echoed


def test_a_quoted_false_is_not_true_for_a_gate_flag():
    # cattrs' default would turn "false" into True: a gate must never open that way.
    assert errors_of({"environment": {"enable_live_trading": "false"}}) == [
        'config.toml: environment.enable_live_trading: expected true or false, got "false"'
    ]


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        ({"environment": {"mode": "livee"}}, 'environment.mode: expected one of paper, shadow, testnet, live; got "livee"'),
        ({"live_risk": {"max_open_positions": 1.5}}, "live_risk.max_open_positions: expected a whole number, got 1.5"),
        ({"live_risk": {"max_order_notional": -5}}, "live_risk.max_order_notional: must be >= 0.0, got -5.0"),
        ({"execution": {"durability": "sometimes"}}, "execution.durability: must be in ('auto', 'batch', 'order', 'group'), got 'sometimes'"),
        ({"environmnet": {}}, "environmnet: unknown section (did you mean environment?)"),
        ({"environment": {"profile": "yolo"}}, 'environment.profile: unknown profile "yolo"; one of tiny_live, standard_live'),
        ({"plugins": {"kraken": {"api_secret": "hunter2"}}}, 'plugins.kraken.api_secret: literal secret not allowed; give a reference such as { env = "PEAK_TRADE_API_SECRET" }'),
    ],
)
def test_each_mistake_names_key_and_problem(raw, line):
    assert errors_of(raw) == [f"config.toml: {line}"]


def test_secret_references_are_accepted_and_redacted_when_shown(monkeypatch):
    monkeypatch.setenv("HOOK", "https://secret.invalid/x")
    config = structure_config({"live_alerts": {"webhook_urls": [{"env": "HOOK"}]}}, "c.toml", {})
    assert config.live_alerts.webhook_urls[0].resolve() == "https://secret.invalid/x"
    shown = str(to_display_dict(config))
    assert "secret.invalid" not in shown
    assert "HOOK" in shown  # where it lives is shown, not what it is


def test_the_confirm_token_is_shown_as_its_state_only():
    config = structure_config({"environment": {"confirm_token": "I_KNOW_WHAT_I_AM_DOING"}}, "c.toml", {})
    shown = to_display_dict(config)
    assert shown["environment"]["confirm_token"] == "SET (valid)"
    assert "I_KNOW" not in str(shown)


def test_profiles_are_presets_that_keys_beside_them_override():
    config = structure_config(
        {"environment": {"profile": "tiny_live", "max_live_notional_total": 150.0},
         "live_risk": {"profile": "conservative", "max_open_positions": 2}},
        "c.toml", {},
    )
    env = config.environment
    assert (env.max_live_notional_per_order, env.max_live_notional_total) == (50.0, 150.0)
    assert env.enable_live_trading is False  # a profile never opens a gate
    assert (config.live_risk.max_order_notional, config.live_risk.max_open_positions) == (500.0, 2)


def test_lookup_order_env_var_then_cwd_then_defaults(tmp_path, monkeypatch):
    assert load_config().source is None  # nothing around: built-in defaults
    assert load_config() == load_config(PACKAGED_DEFAULT)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").write_text('[environment]\nmode = "shadow"\n')
    assert load_config().environment.mode is TradingMode.SHADOW
    other = tmp_path / "other.toml"
    other.write_text('[environment]\nmode = "testnet"\n')
    monkeypatch.setenv("PEAK_TRADE_CONFIG_PATH", str(other))
    assert load_config().environment.mode is TradingMode.TESTNET
    assert load_config().sha256 and load_config().source == str(other)


def test_invalid_toml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[environment]\nmode = \n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.lines[0].startswith(f"{path}:2: invalid TOML")


def test_the_documented_default_blocks_everything_and_matches_the_packaged_copy():
    shipped = ROOT / "config" / "config.toml"
    assert shipped.read_bytes() == PACKAGED_DEFAULT.read_bytes()
    config = load_config(shipped, plugin_sections={})
    env = config.environment
    assert env.mode is TradingMode.PAPER
    assert (env.enable_live_trading, env.live_mode_armed, env.live_dry_run_mode) == (False, False, True)
    assert load_config(ROOT / "config" / "config.test.toml", plugin_sections={}).environment.enable_live_trading is False


def test_config_set_keeps_every_comment_and_refuses_gate_keys(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(PACKAGED_DEFAULT.read_text())
    comments = [line for line in path.read_text().splitlines() if line.lstrip().startswith("#")]
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(path), "config", "set", "live_risk.max_order_notional", "500"])
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert [line for line in text.splitlines() if line.lstrip().startswith("#")] == comments
    assert "max_order_notional = 500" in text
    assert load_config(path, plugin_sections={}).live_risk.max_order_notional == 500.0

    before = path.read_bytes()
    refused = runner.invoke(cli, ["--config", str(path), "config", "set", "environment.enable_live_trading", "true"])
    assert refused.exit_code == 2
    assert "live gate" in refused.output
    invalid = runner.invoke(cli, ["--config", str(path), "config", "set", "live_risk.max_order_notional", '"lots"'])
    assert invalid.exit_code == 2
    assert 'expected a number, got "lots"' in invalid.output
    assert path.read_bytes() == before  # nothing written on a refusal


def test_config_init_writes_the_default_and_refuses_to_overwrite(tmp_path):
    runner = CliRunner()
    target = tmp_path / "c" / "config.toml"
    assert runner.invoke(cli, ["config", "init", str(target)]).exit_code == 0
    assert target.read_bytes() == PACKAGED_DEFAULT.read_bytes()
    target.write_text("# mine\n")
    again = runner.invoke(cli, ["config", "init", str(target)])
    assert again.exit_code == 2 and "--force" in again.output
    assert target.read_text() == "# mine\n"
    assert runner.invoke(cli, ["config", "init", str(target), "--force"]).exit_code == 0


def test_config_show_json_is_the_effective_redacted_config(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[environment]\nprofile = "standard_live"\n')
    result = CliRunner().invoke(cli, ["--config", str(path), "config", "show", "--json"])
    assert result.exit_code == 0
    import json

    data = json.loads(result.output)
    assert data["environment"]["max_live_notional_total"] == 5000.0
    assert data["environment"]["confirm_token"] == "NOT SET"


# -- issue 10 item 9: the built-in defaults are the documented file -----------------------


def test_without_a_config_file_the_defaults_equal_the_documented_file_in_every_section():
    # cwd is an empty tmp dir and PEAK_TRADE_CONFIG_PATH is unset: no file is found
    defaults = load_config(None)
    documented = load_config(ROOT / "config" / "config.toml")
    assert defaults.source is None
    for section in ("environment", "live_risk", "live_alerts", "execution", "state", "plugins"):
        assert getattr(defaults, section) == getattr(documented, section), section
    # the limits the documented file promises are in force without a file, too
    risk = defaults.live_risk
    assert (risk.max_order_notional, risk.max_total_exposure_notional, risk.max_symbol_exposure_notional) == (
        1000.0, 5000.0, 2500.0,
    )
    assert (risk.max_open_positions, risk.max_daily_loss_abs, risk.max_daily_loss_pct) == (5, 500.0, 5.0)


def test_the_cli_without_a_config_file_shows_the_documented_limits(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "config", "show", "--json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    data = json.loads(proc.stdout)
    assert data["source"] is None
    assert data["live_risk"]["max_order_notional"] == 1000.0
    assert data["live_risk"]["max_daily_loss_abs"] == 500.0
    assert data["environment"]["enable_live_trading"] is False


@pytest.mark.parametrize("text", ['[environment]\nmode = "paper"\n', "[live_risk]\nmax_open_positions = 2\n", "[execution]\nbatch_size = 10\n"])
def test_a_key_a_file_leaves_out_has_its_documented_default_never_no_limit(tmp_path, text):
    """Before: a file that named only [environment] ran with no notional, exposure, position
    or daily-loss limit at all."""
    path = tmp_path / "partial.toml"
    path.write_text(text)
    risk, documented = load_config(path).live_risk, load_config(ROOT / "config" / "config.toml").live_risk
    for key in ("max_order_notional", "max_total_exposure_notional", "max_symbol_exposure_notional", "max_daily_loss_abs", "max_daily_loss_pct"):
        assert getattr(risk, key) == getattr(documented, key) is not None, key
    assert risk.max_open_positions == (2 if "max_open_positions" in text else documented.max_open_positions)


def test_a_profile_still_beats_the_documented_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[live_risk]\nprofile = "conservative"\n')
    from peaktrade_core.risk import RISK_PROFILES

    risk = load_config(path).live_risk
    for key, value in RISK_PROFILES["conservative"].items():
        assert getattr(risk, key) == value, key
