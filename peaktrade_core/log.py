"""Logging, set up in one place (loguru).

Code logs through ``logger``; safety-relevant lines carry a tag:
``logger.bind(tag=SAFETY).warning(...)`` renders as ``[SAFETY] ...``. Secret values
registered with :func:`register_secret` are replaced by ``***`` in every line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from loguru import logger as _root_logger

from peaktrade_core.secrets import redact

SAFETY = "SAFETY"
LIVE_DRY_RUN = "LIVE-DRY-RUN"

_secrets: list[str] = []

# A library stays quiet until the application (the CLI) calls configure_logging().
_root_logger.disable("peaktrade_core")


def register_secret(value: str) -> None:
    """Every later log line has ``value`` replaced by ``***``."""
    if value and value not in _secrets:
        _secrets.append(value)


def _patch(record: dict[str, Any]) -> None:
    tag = record["extra"].get("tag")
    message = redact(record["message"], _secrets) if _secrets else record["message"]
    record["message"] = f"[{tag}] {message}" if tag else message


def _json_sink(message: Any) -> None:
    r = message.record
    line = {
        "time": r["time"].isoformat(),
        "level": r["level"].name,
        "message": r["message"],
        "module": r["name"],
        **{k: v for k, v in r["extra"].items() if isinstance(v, str | int | float | bool)},
    }
    sys.stderr.write(json.dumps(line) + "\n")


def configure_logging(verbosity: int = 0, json_lines: bool = False) -> None:
    """``verbosity``: -1 errors only, 0 warnings, 1 info, 2 debug."""
    level = {-1: "ERROR", 0: "WARNING", 1: "INFO"}.get(verbosity, "DEBUG" if verbosity > 1 else "ERROR")
    _root_logger.remove()
    _root_logger.enable("peaktrade_core")
    if json_lines:
        _root_logger.add(_json_sink, level=level)
    else:
        _root_logger.add(sys.stderr, level=level, format="{time:HH:mm:ss} {level: <7} {message}")


#: The logger all peaktrade code (core and plugins) uses: tags and redaction applied.
logger = _root_logger.patch(_patch)

__all__ = ["LIVE_DRY_RUN", "SAFETY", "configure_logging", "logger", "register_secret"]
