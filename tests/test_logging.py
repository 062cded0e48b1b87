"""Logging: tags, redaction, JSON lines, quiet until configured."""

from __future__ import annotations

import json

import pytest

from peaktrade_core import log


@pytest.fixture(autouse=True)
def restore_logging():
    yield
    log._settings = None
    if log._logger is not None:
        from loguru import logger as root

        log._apply(root)


def test_tags_and_secret_redaction_in_text_lines(capsys):
    log.configure_logging(verbosity=1)
    log.register_secret("https://hooks.slack.invalid/T0/B0/secret-path")
    log.logger.bind(tag=log.SAFETY).warning("posting to {}", "https://hooks.slack.invalid/T0/B0/secret-path")
    err = capsys.readouterr().err
    assert "[SAFETY] posting to ***" in err
    assert "secret-path" not in err


def test_json_lines_carry_level_message_and_tag(capsys):
    log.configure_logging(verbosity=0, json_lines=True)
    log.logger.bind(tag=log.LIVE_DRY_RUN).warning("simulated {}", "order")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["level"] == "WARNING"
    assert line["message"] == "[LIVE-DRY-RUN] simulated order"
    assert line["tag"] == "LIVE-DRY-RUN"


def test_quiet_hides_warnings_and_verbose_shows_info(capsys):
    log.configure_logging(verbosity=-1)
    log.logger.warning("not shown")
    log.configure_logging(verbosity=1)
    log.logger.info("shown")
    err = capsys.readouterr().err
    assert "not shown" not in err and "shown" in err


RACE = """
import threading, time
import loguru
from peaktrade_core import log

slow_remove = loguru.logger.remove
def remove(*args):  # widen the window between removing the old handlers and adding the new
    slow_remove(*args)
    time.sleep(0.05)
loguru.logger.remove = remove

log.configure_logging(verbosity=0)
start = threading.Barrier(4)
def first_line(i):
    start.wait()
    log.logger.warning("line {}", i)
threads = [threading.Thread(target=first_line, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
log.configure_logging(verbosity=0)  # reconfigured while another thread logs
writer = threading.Thread(target=lambda: [log.logger.warning("later {}", i) for i in range(50)])
writer.start(); log.configure_logging(verbosity=0); writer.join()
"""


def test_the_first_lines_of_several_threads_and_a_reconfiguration_lose_no_line():
    # a session logs its first line while its alert sinks log theirs: each appears once
    import subprocess
    import sys

    err = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=60, check=True).stderr
    lines = [line.split(" ", 1)[1] for line in err.splitlines()]  # without the time
    assert sorted(lines) == sorted([f"WARNING line {i}" for i in range(4)] + [f"WARNING later {i}" for i in range(50)])
