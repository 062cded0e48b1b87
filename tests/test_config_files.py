"""Reading a config file: whatever the path points at, the answer is one line naming the
file and the problem, exit 2 — never a traceback, never a hang, never unbounded memory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import typing
from pathlib import Path

import attrs
import pytest

from peaktrade_core.config import ConfigError, PeakTradeConfig, structure_config

MAX_CONFIG_BYTES = 1 << 20  # the documented bound: 1 MiB


def validate(path: Path | str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "config", "validate", str(path)],
        capture_output=True, text=True, timeout=120, **kwargs,
    )


def assert_one_line(proc: subprocess.CompletedProcess[str], expected: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [expected]


def test_a_non_utf8_file_names_the_line(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'[environment]\nmode = "paper"\n# caf\xe9\n')
    assert_one_line(validate(path), f"{path}:3: not UTF-8 text (byte 0xe9); save the file as UTF-8")


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("[live_risk]\nmax_order_notional = 10.0\nmax_order_notional = 1e9\n", 3, "max_order_notional is defined twice"),
        ("[live_risk]\nenabled = true\n\n[live_risk]\nenabled = false\n", 4, "[live_risk] is defined twice"),
    ],
)
def test_a_duplicate_key_or_table_names_the_line_and_the_key(tmp_path, text, line, what):
    path = tmp_path / "config.toml"
    path.write_text(text)
    assert_one_line(validate(path), f"{path}:{line}: invalid TOML: {what}")


def test_flush_timeout_of_inf_is_refused(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[live_alerts]\nflush_timeout_seconds = inf\n")
    assert_one_line(validate(path), f"{path}: live_alerts.flush_timeout_seconds: expected a finite number, got inf")


def _float_fields() -> list[tuple[str, str]]:
    """Every float field of every config section, as (section, key)."""
    found = []
    for section, cls in typing.get_type_hints(PeakTradeConfig).items():
        if not attrs.has(cls):
            continue
        for name, hint in typing.get_type_hints(cls).items():
            if hint is float or set(typing.get_args(hint)) == {float, type(None)}:
                found.append((section, name))
    return found


FLOAT_FIELDS = _float_fields()


def test_the_float_fields_are_all_found():
    # a guard for the test below: it must cover every section, including the alert timeouts
    sections = {section for section, _ in FLOAT_FIELDS}
    assert {"environment", "live_risk", "live_alerts", "execution"} <= sections
    assert ("live_alerts", "flush_timeout_seconds") in FLOAT_FIELDS
    assert len(FLOAT_FIELDS) >= 25


@pytest.mark.parametrize(("section", "key"), FLOAT_FIELDS, ids=[f"{s}.{k}" for s, k in FLOAT_FIELDS])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")], ids=["inf", "-inf", "nan"])
def test_no_float_field_takes_inf_or_nan(section, key, value):
    with pytest.raises(ConfigError) as info:
        structure_config({section: {key: value}}, "config.toml", {})
    assert info.value.lines == [f"config.toml: {section}.{key}: expected a finite number, got {value!r}"]


def test_a_float_inside_a_table_takes_no_inf_either():
    with pytest.raises(ConfigError) as info:
        structure_config({"live_risk": {"max_order_quantity": {"*": float("inf")}}}, "config.toml", {})
    assert info.value.lines == ["config.toml: live_risk.max_order_quantity[*]: expected a finite number, got inf"]


def test_dev_zero_is_refused_at_once(tmp_path):
    # it used to be read without bound (memory grows until the machine gives up)
    assert_one_line(validate("/dev/zero"), "/dev/zero: not a regular file (a device, FIFO or socket); give a TOML file")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    assert_one_line(validate(fifo), f"{fifo}: not a regular file (a device, FIFO or socket); give a TOML file")


def test_the_global_config_option_refuses_a_device_the_same_way(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "--config", "/dev/zero", "config", "show"],
        capture_output=True, text=True, timeout=120,
    )
    assert_one_line(proc, "/dev/zero: not a regular file (a device, FIFO or socket); give a TOML file")


def test_a_directory_is_refused(tmp_path):
    assert_one_line(validate(tmp_path), f"{tmp_path}: is a directory, not a config file")


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "config.toml"
    line = b"# " + b"x" * 1022 + b"\n"
    path.write_bytes(b"[live_risk]\n" + line * (MAX_CONFIG_BYTES // len(line) + 1))
    assert_one_line(validate(path), f"{path}: larger than 1 MiB; not a config file")


def test_a_file_just_under_the_bound_is_read(tmp_path):
    path = tmp_path / "config.toml"
    body = b"[live_risk]\nenabled = true\n"
    path.write_bytes(body + b"#" * (MAX_CONFIG_BYTES - len(body) - 1) + b"\n")
    proc = validate(path)
    assert proc.returncode == 0, proc.stderr


def test_an_unreadable_file_is_one_line(unprivileged):
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        path = folder / "config.toml"
        path.write_text("[live_risk]\nenabled = true\n")
        path.chmod(0)
        assert_one_line(validate(path, **unprivileged), f"{path}: cannot read: Permission denied")
    finally:
        shutil.rmtree(folder)


def test_a_dangling_config_link_in_the_working_directory_is_refused_not_skipped(tmp_path):
    # silently falling back to the defaults would run with a config the operator did not mean
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").symlink_to(tmp_path / "gone.toml")
    proc = subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "config", "validate"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert_one_line(proc, "config/config.toml: file not found")


@pytest.mark.parametrize("depth", [40, 100_000], ids=["past-the-bound", "past-the-parser"])
def test_deeply_nested_arrays_are_one_line(tmp_path, depth):
    path = tmp_path / "config.toml"
    path.write_text("[plugins.x]\na = " + "[" * depth + "]" * depth + "\n")
    assert_one_line(validate(path), f"{path}: invalid TOML: arrays or tables nested deeper than 32 levels")


def test_nesting_within_the_bound_can_be_validated_and_shown(tmp_path):
    # [plugins.x] a = [[...]]: the document, plugins, x and 29 arrays are 32 levels
    path = tmp_path / "config.toml"
    path.write_text("[plugins.x]\na = " + "[" * 29 + "]" * 29 + "\n")
    assert validate(path).returncode == 0
    shown = subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "--config", str(path), "config", "show"],
        capture_output=True, text=True, timeout=120,
    )
    assert shown.returncode == 0, shown.stderr


def test_numbers_out_of_range_are_refused_not_crashed_on():
    huge = 10**400  # tomllib reads any integer; TOML allows 64 bits
    with pytest.raises(ConfigError) as info:
        structure_config({"live_risk": {"max_order_notional": huge, "max_open_positions": 2**63}}, "config.toml", {})
    assert sorted(info.value.lines) == [
        f"config.toml: live_risk.max_open_positions: expected a whole number within 64 bits, got {2**63}",
        f"config.toml: live_risk.max_order_notional: expected a finite number, got {huge}",
    ]
    config = structure_config({"live_risk": {"max_order_notional": 2**63 - 1, "max_open_positions": 2**63 - 1}}, "c", {})
    assert config.live_risk.max_open_positions == 2**63 - 1
