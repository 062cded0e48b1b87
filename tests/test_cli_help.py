"""`peaktrade --help` lists every command with its help, without importing their modules."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import click
import pytest

from peaktrade_core.cli import LAZY_COMMANDS


def test_help_lists_every_command_without_importing_any_command_module():
    # cli_output is the shared output helper every command uses, not a command module
    probe = (
        "import sys, json\n"
        "from peaktrade_core.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('peaktrade_core.cli_') and m != 'peaktrade_core.cli_output')), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
    for name in LAZY_COMMANDS:
        assert f"  {name} " in done.stdout, name
    assert "Run orders through risk, gates and the configured executor." in done.stdout


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_the_help_listed_for_a_command_is_its_own(name):
    module, _, attr = LAZY_COMMANDS[name][0].partition(":")
    command = getattr(importlib.import_module(module), attr)
    for limit in (30, 45, 70, 200):
        assert click.Command(name, help=LAZY_COMMANDS[name][1]).get_short_help_str(limit) == command.get_short_help_str(limit)
