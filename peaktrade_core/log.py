"""Logging, set up in one place (loguru).

Code logs through ``logger``; safety-relevant lines carry a tag:
``logger.bind(tag=SAFETY).warning(...)`` renders as ``[SAFETY] ...``. Every secret the
process resolved (:mod:`peaktrade_core.secrets`) is replaced by ``***`` in every line the
sinks write, tracebacks and extra fields included.

loguru is imported on the first log call, not at import: a CLI command that logs nothing
(``peaktrade plugins list``) does not pay for it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

SAFETY = "SAFETY"
LIVE_DRY_RUN = "LIVE-DRY-RUN"

_settings: dict[str, Any] | None = None  # set by configure_logging (the application)
_logger: Any = None
_handler_ids: list[int] | None = None  # the handlers _apply installed (None: not yet applied)
_setup_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Every later log line has ``value`` (and its URL parts) replaced by ``***``."""
    from peaktrade_core.secrets import register_secret as register

    register(value)


def _redact(text: str) -> str:
    # nothing was ever registered while the secrets module is not even imported
    secrets = sys.modules.get("peaktrade_core.secrets")
    if secrets is None or not secrets.has_secrets():
        return text
    return secrets.redact(text)


def _patch(record: dict[str, Any]) -> None:
    tag = record["extra"].get("tag")
    message = _redact(record["message"])
    record["message"] = f"[{tag}] {message}" if tag else message


class _RedactedStderr:
    """The text sink: the whole formatted line (a traceback included) is redacted."""

    def write(self, text: str) -> None:
        sys.stderr.write(_redact(text))

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:  # colours on a terminal, unless NO_COLOR / --no-color (the CLI's rule)
        output = sys.modules.get("peaktrade_core.cli_output")
        return output.colour_enabled(sys.stderr) if output is not None else sys.stderr.isatty()


def _json_sink(message: Any) -> None:
    r = message.record
    line = {
        "time": r["time"].isoformat(),
        "level": r["level"].name,
        "message": r["message"],
        "module": r["name"],
        **{k: v for k, v in r["extra"].items() if isinstance(v, str | int | float | bool)},
    }
    if r["exception"] is not None:
        import traceback

        line["exception"] = "".join(traceback.format_exception(*r["exception"]))
    import json  # only for JSON lines: a command that logs nothing does not import it

    sys.stderr.write(_redact(json.dumps(line)) + "\n")


class _RedactedFile:
    """The ``--log-file`` sink: appended, line by line, redacted like stderr, no colour."""

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, text: str) -> None:
        with open(self.path, "a", encoding="utf-8") as out:  # opened per line: survives rotation by logrotate
            out.write(_redact(text))


def _apply(root: Any) -> None:
    """Install the configured handlers, then remove the ones they replace: a line another
    thread logs meanwhile reaches the old handlers or the new ones, never none."""
    global _handler_ids
    if _settings is None:
        return
    if _handler_ids is None:  # the first time: loguru's default handler and any other go
        root.remove()
        _handler_ids = []
    installed = []
    if _settings.get("log_file"):  # info and above whatever -q/-v say: the file is the record
        file_level = "DEBUG" if _settings["level"] == "DEBUG" else "INFO"
        installed.append(root.add(_RedactedFile(_settings["log_file"]), level=file_level, colorize=False, diagnose=False,
                                  format="{time:YYYY-MM-DDTHH:mm:ss.SSSZZ} {level: <7} {name}: {message}"))
    if _settings["json_lines"]:
        installed.append(root.add(_json_sink, level=_settings["level"]))
    else:
        # diagnose=False: a traceback never prints variable values (a URL, a key)
        installed.append(root.add(_RedactedStderr(), level=_settings["level"], format="{time:HH:mm:ss} {level: <7} {message}",
                                  diagnose=False))
    for handler_id in _handler_ids:
        with suppress(ValueError):  # already gone (the host application removed it)
            root.remove(handler_id)
    _handler_ids = installed


def _real_logger() -> Any:
    global _logger
    if _logger is None:
        with _setup_lock:  # the first log call may come from two threads at once (a session and its alert sinks)
            if _logger is None:
                from loguru import logger as root

                _apply(root)
                _logger = root.patch(_patch)
    return _logger


def configure_logging(verbosity: int = 0, json_lines: bool = False, log_file: str | None = None) -> None:
    """``verbosity``: -1 errors only, 0 warnings, 1 info, 2+ debug. ``log_file``: also
    append info and above there (``--log-file``). Called by the CLI; Python-API users call
    it to see peaktrade's log (it replaces loguru's handlers)."""
    global _settings
    level = {-1: "ERROR", 0: "WARNING", 1: "INFO"}.get(verbosity, "DEBUG" if verbosity > 1 else "ERROR")
    _settings = {"level": level, "json_lines": json_lines, "log_file": log_file}
    if _logger is not None:
        from loguru import logger as root

        with _setup_lock:
            _apply(root)


class _Silent:
    """What logging does before the application configured it: nothing. A library must
    not write to the host's stderr (plugins' per-order lines included)."""

    def __getattr__(self, name: str) -> Any:
        return self._ignore

    def _ignore(self, *args: Any, **kwargs: Any) -> _Silent:
        return self


_SILENT = _Silent()


class _LazyLogger:
    """Stands in for the patched loguru logger: silent until configure_logging() is
    called, then loguru, imported on first use."""

    def __getattr__(self, name: str) -> Any:
        if _settings is None:
            return getattr(_SILENT, name)
        return getattr(_real_logger(), name)


@contextmanager
def captured(level: str = "DEBUG") -> Iterator[list[str]]:
    """Collect peaktrade's log messages (tags and redaction applied) for the block; for
    tests and for tools that show the log themselves."""
    global _settings
    previous = _settings
    if _settings is None:
        _settings = {"level": "ERROR", "json_lines": False}
    _real_logger()
    from loguru import logger as root

    lines: list[str] = []
    sink = root.add(lambda m: lines.append(m.record["message"]), level=level)
    try:
        yield lines
    finally:
        root.remove(sink)
        _settings = previous


@contextmanager
def muted() -> Iterator[None]:
    """Silence peaktrade's log for the block (drills simulate incidents whose lines would
    read like real ones)."""
    global _settings
    previous, _settings = _settings, None
    try:
        yield
    finally:
        _settings = previous


#: The logger all peaktrade code (core and plugins) uses: tags and redaction applied.
logger: Any = _LazyLogger()

__all__ = ["LIVE_DRY_RUN", "SAFETY", "captured", "configure_logging", "logger", "muted", "register_secret"]
