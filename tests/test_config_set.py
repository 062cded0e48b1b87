"""`peaktrade config set`: governance keys are refused, every edit is validated first and
written atomically; a refusal is one line, exit 2, and the file is byte-identical."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_core.cli import cli
from peaktrade_core.config import PACKAGED_DEFAULT, PeakTradeConfig, load_config

DEFAULT_TEXT = PACKAGED_DEFAULT.read_text(encoding="utf-8")
DEFAULT_CONFIG = load_config(PACKAGED_DEFAULT, plugin_sections={})


def peaktrade(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peaktrade_core", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(DEFAULT_TEXT, encoding="utf-8")
    return path


def set_in_process(path: Path, key: str, value: str):
    return CliRunner().invoke(cli, ["--config", str(path), "config", "set", key, value])


# -- item 4: governance keys, by prefix --------------------------------------------------


def test_the_confirm_token_cannot_be_opened_with_config_set(config_file, tmp_path):
    # the exact command of the issue: it used to write the reference and open the token gate
    before = config_file.read_bytes()
    proc = peaktrade("--config", str(config_file), "config", "set", "environment.confirm_token.env",
                     '"PEAK_TRADE_CONFIRM_TOKEN"', cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"{config_file}: environment.confirm_token.env: is under the governance key environment "
        "(a live gate, live limit or where the state lives); a person changes it by editing the file, "
        "never with config set"
    ]
    assert proc.stdout == ""
    assert config_file.read_bytes() == before


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("environment.confirm_token", '"I_KNOW_WHAT_I_AM_DOING"'),
        ("environment.confirm_token", '{ env = "PEAK_TRADE_CONFIRM_TOKEN" }'),
        ("environment.confirm_token.env", '"PEAK_TRADE_CONFIRM_TOKEN"'),
        ("environment.confirm_token.keyring", '"peaktrade/token"'),
        ("environment.confirm_token.env.deeper", "1"),
        ("environment", '{ confirm_token = "I_KNOW_WHAT_I_AM_DOING" }'),
        ("environment.enable_live_trading", "true"),
        ("environment.live_mode_armed", "true"),
        ("environment.live_dry_run_mode", "false"),
        ("environment.require_confirm_token", "false"),
        ("environment.mode", '"live"'),
        ("environment.exchange", '"kraken"'),
        ("environment.live_allowed_symbols", '["BTC/EUR"]'),
        ("environment.max_live_notional_per_order", "1000.0"),
        ("environment.max_live_notional_total", "5000.0"),
        ("environment.live_trade_min_size", "1.0"),
        ("environment.profile", '"standard_live"'),
        ("live_risk.max_live_notional_per_order", "1000.0"),
        ("live_risk.max_live_notional_total", "5000.0"),
        ("live_risk.live_trade_min_size", "1.0"),
        ("live_risk", "{ enabled = true }"),
        ("state.data_dir", '"/tmp/elsewhere"'),
        ("state", '{ data_dir = "/tmp/elsewhere" }'),
    ],
)
def test_every_governance_key_its_subkeys_and_its_parent_tables_are_refused(config_file, key, value):
    before = config_file.read_bytes()
    result = set_in_process(config_file, key, value)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "governance key" in result.output
    assert config_file.read_bytes() == before


@settings(deadline=None)
@given(
    subkeys=st.lists(st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True), max_size=3),
    value=st.sampled_from(['"PEAK_TRADE_CONFIRM_TOKEN"', '"I_KNOW_WHAT_I_AM_DOING"', "true", "1",
                           '{ env = "X" }', '["a"]', "word"]),
)
def test_no_key_under_the_confirm_token_is_ever_written(subkeys, value):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(DEFAULT_TEXT, encoding="utf-8")
        before = path.read_bytes()
        result = set_in_process(path, ".".join(["environment", "confirm_token", *subkeys]), value)
        assert result.exit_code == 2
        assert path.read_bytes() == before


def test_must_show_any_key_under_the_confirm_token_is_refused_against_a_fresh_data_dir(tmp_path, monkeypatch):
    data_dir = tmp_path / "fresh-data"
    monkeypatch.setenv("PEAK_TRADE_DATA_DIR", str(data_dir))
    path = tmp_path / "config.toml"
    assert peaktrade("config", "init", str(path), cwd=tmp_path).returncode == 0
    before = path.read_bytes()
    for key in ("environment.confirm_token", "environment.confirm_token.env", "environment.confirm_token.keyring",
                "environment.confirm_token.x.y"):
        proc = peaktrade("--config", str(path), "config", "set", key, '"PEAK_TRADE_CONFIRM_TOKEN"', cwd=tmp_path)
        assert proc.returncode == 2, key
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        assert path.read_bytes() == before, key
    status = peaktrade("--config", str(path), "config", "show", "--json", cwd=tmp_path)
    assert '"confirm_token": "NOT SET"' in status.stdout


def test_keys_beside_the_governance_keys_can_still_be_set(config_file):
    result = set_in_process(config_file, "live_risk.max_order_notional", "750")
    assert result.exit_code == 0, result.output
    assert load_config(config_file, plugin_sections={}).live_risk.max_order_notional == 750.0


def test_a_negative_value_is_a_value_not_an_option(config_file):
    result = set_in_process(config_file, "live_risk.max_order_notional", "-5")
    assert result.exit_code == 2
    assert result.output.strip() == f"{config_file}: live_risk.max_order_notional: must be >= 0.0, got -5.0"


# -- item 5: validate, write atomically, then report -------------------------------------


def test_switching_the_limits_off_is_written_and_reported_not_a_traceback(config_file, tmp_path):
    os.chmod(config_file, 0o640)
    inode = os.stat(config_file).st_ino
    proc = peaktrade("--config", str(config_file), "config", "set", "live_risk.enabled", "false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{config_file}: live_risk.enabled: true -> false"
    assert proc.stderr == ""
    assert load_config(config_file, plugin_sections={}).live_risk.enabled is False
    assert os.stat(config_file).st_mode & 0o777 == 0o640  # the file keeps its mode
    assert os.stat(config_file).st_ino != inode  # replaced whole by a rename, never rewritten in place
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize(
    ("key", "value", "report", "loaded"),
    [
        ("live_risk.block_on_violation", "false", "true -> false", False),
        ("live_risk.max_open_positions", "3", "5 -> 3", 3),
        ("live_risk.max_order_notional", "250.5", "1000.0 -> 250.5", 250.5),
        ("live_risk.timezone", '"Europe/Berlin"', '"UTC" -> "Europe/Berlin"', "Europe/Berlin"),
        ("execution.durability", "order", '"auto" -> "order"', "order"),
        ("live_alerts.sinks", '["log", "stderr"]', '["log"] -> ["log", "stderr"]', ("log", "stderr")),
        ("live_risk.max_order_quantity", '{ "BTC/EUR" = 2.0 }', '(not set) -> {"BTC/EUR": 2.0}', {"BTC/EUR": 2.0}),
    ],
)
def test_every_type_is_written_and_reported(config_file, tmp_path, key, value, report, loaded):
    proc = peaktrade("--config", str(config_file), "config", "set", key, value, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{config_file}: {key}: {report}"
    section, name = key.split(".")
    assert getattr(getattr(load_config(config_file, plugin_sections={}), section), name) == loaded


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("live_risk.max_order_notional", '"lots"', 'expected a number, got "lots"'),
        ("live_risk.max_order_notional", "inf", "expected a finite number, got inf"),
        ("live_alerts.flush_timeout_seconds", "nan", "expected a finite number, got nan"),
        ("live_risk.enabled", '"false"', 'expected true or false, got "false"'),
        ("live_risk.max_open_positions", "1.5", "expected a whole number, got 1.5"),
        ("live_risk.no_such_key", "1", "unknown key"),
        ("live_alerts.webhook_urls", '["https://hooks.example.invalid/SECRET"]', "literal secret not allowed"),
        ("execution.durability", 'order\n[environment]\nmode = "live"', "not one TOML value"),
        ("execution.batch_size", "1\nextra = 2", "not one TOML value"),
        ("execution..batch_size", "1", "expected section.key"),
        ("execution.batch size", "1", "expected section.key"),
        ("live_risk.enabled.deeper", "true", "enabled is not a table"),
    ],
)
def test_a_refused_value_is_one_line_exit_2_and_the_file_is_byte_identical(config_file, tmp_path, key, value, problem):
    before = config_file.read_bytes()
    proc = peaktrade("--config", str(config_file), "config", "set", key, value, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0], proc.stderr
    assert str(config_file) in lines[0]
    assert "SECRET" not in proc.stderr + proc.stdout
    assert config_file.read_bytes() == before


def test_a_directory_that_cannot_be_written_refuses_with_one_line_and_keeps_the_file(unprivileged):
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / "config.toml"
        path.write_text(DEFAULT_TEXT, encoding="utf-8")
        path.chmod(0o644)
        before = path.read_bytes()
        folder.chmod(0o555)
        proc = subprocess.run(
            [sys.executable, "-m", "peaktrade_core", "--config", str(path), "config", "set",
             "live_risk.max_order_notional", "10"],
            capture_output=True, text=True, timeout=120, **{"cwd": "/", **unprivileged},
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [f"{path}: cannot write: Permission denied; the file is unchanged"]
        assert path.read_bytes() == before
        assert os.listdir(folder) == ["config.toml"]
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def _all_keys() -> list[str]:
    import typing

    hints = typing.get_type_hints(PeakTradeConfig)
    return [f"{name}.{f.name}" for name, cls in hints.items() if attrs.has(cls) for f in attrs.fields(cls)]


KEYS = st.one_of(
    st.sampled_from(_all_keys()),
    st.builds(".".join, st.lists(st.from_regex(r"[a-z_]{1,10}", fullmatch=True), min_size=1, max_size=3)),
    st.text(max_size=20),
)
TOML_SCALARS = st.one_of(
    st.booleans().map(lambda b: "true" if b else "false"),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=15).map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    st.sampled_from(["UTC", "order", "batch", "log", "warning", "nan", "-inf", "1e400", "1_000", "0x10", "1" + "0" * 400]),
)
TOML_VALUES = st.one_of(
    TOML_SCALARS,
    st.lists(TOML_SCALARS, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.dictionaries(st.from_regex(r"[A-Za-z*/]{1,8}", fullmatch=True), TOML_SCALARS, max_size=2).map(
        lambda d: "{ " + ", ".join(f'"{k}" = {v}' for k, v in d.items()) + " }"
    ),
    st.text(max_size=20),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=KEYS, value=TOML_VALUES)
def test_config_set_either_writes_a_valid_file_or_changes_nothing(key, value):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(DEFAULT_TEXT, encoding="utf-8")
        before = path.read_bytes()
        result = set_in_process(path, key, value)
        assert isinstance(result.exception, SystemExit) or result.exception is None, result.exception
        if result.exit_code == 0:
            after = load_config(path, plugin_sections={})  # validates, or raises
            assert len(result.output.strip().splitlines()) == 1
            # no accepted edit moves a gate, a live limit or the state location
            assert after.environment == DEFAULT_CONFIG.environment
            assert after.state == DEFAULT_CONFIG.state
            for limit in ("max_live_notional_per_order", "max_live_notional_total", "live_trade_min_size"):
                assert getattr(after.live_risk, limit) == getattr(DEFAULT_CONFIG.live_risk, limit)
        else:
            assert result.exit_code == 2, result.output
            # one line per mistake (one for a scalar; an array may have one per element)
            lines = result.output.strip().splitlines()
            assert lines and all(line.startswith(f"{path}: ") for line in lines), result.output
            assert path.read_bytes() == before
        assert sorted(os.listdir(tmp)) == ["config.toml"]  # no temp file left behind


def test_an_edit_made_by_someone_else_meanwhile_is_not_overwritten(config_file):
    # a person saves the file while config set validates its edit (here: from inside the
    # validation, so the interleaving is certain)
    def person_saves(*_args):
        if "edited by hand" not in config_file.read_text():
            config_file.write_text(config_file.read_text() + "# edited by hand\n")

    @attrs.frozen
    class Intruder:
        x: int = attrs.field(default=0, validator=person_saves)

    config_file.write_text(DEFAULT_TEXT + "\n[plugins.intruder]\nx = 1\n")
    from peaktrade_core.config import ConfigError, set_value

    with pytest.raises(ConfigError) as refused:
        set_value(config_file, "live_risk.max_order_notional", "10", plugin_sections={"intruder": Intruder})
    assert refused.value.lines == [f"{config_file}: changed while being edited; nothing written, run the command again"]
    assert config_file.read_text().endswith("# edited by hand\n")  # their edit survives
    assert "max_order_notional = 1000.0" in config_file.read_text()


def test_a_symlinked_config_stays_a_link_and_its_target_is_edited(tmp_path):
    real = tmp_path / "real.toml"
    real.write_text(DEFAULT_TEXT, encoding="utf-8")
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    result = set_in_process(link, "execution.batch_size", "7")
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert load_config(real, plugin_sections={}).execution.batch_size == 7
