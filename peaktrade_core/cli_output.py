"""How every ``peaktrade`` command prints: JSON, colour, and the history options.

One place for the conventions of docs/cli.md, so the commands cannot drift apart:

- :func:`echo_json` — ``--json`` output (refuses NaN/Infinity rather than emit invalid JSON);
- :func:`json_option`, :func:`history_options` — the ``--json`` and ``--limit/--since/--run``
  options, with the same names, help and defaults on every command;
- :func:`parse_since` — ``--since`` as an ISO date/time (UTC if no zone) or a duration;
- :func:`echo` — text output with the state words (CLOSED, ENGAGED, BLOCKED, OK, FAIL …)
  coloured when colour is on: a terminal, no ``NO_COLOR``, no ``--no-color``
  (``FORCE_COLOR`` forces it on a pipe).

Import-light: only click (already loaded by the CLI) and re (click's too) at import time.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

EXIT_USER_ERROR = 2
_F = TypeVar("_F", bound=Callable[..., Any])


def fail(lines: str | list[str], code: int = EXIT_USER_ERROR) -> Any:
    """Each line on stderr, then exit ``code`` (2: the user's mistake). Never returns."""
    for line in [lines] if isinstance(lines, str) else lines:
        click.echo(line, err=True)
    sys.exit(code)


# -- JSON ---------------------------------------------------------------------------------


def echo_json(data: Any) -> None:
    import json

    try:  # NaN/Infinity are not JSON: refuse to print them rather than emit invalid output
        text = json.dumps(data, indent=2, sort_keys=False, default=str, allow_nan=False)
    except ValueError as exc:
        fail(f"error: refusing to print invalid JSON: {exc}", 1)
    click.echo(text)


def json_option(function: _F) -> _F:
    """``--json``: machine-readable output (stored as ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON).")(function)


# -- --since / --limit / --run ------------------------------------------------------------

_DURATION = r"^(\d+(?:\.\d+)?)([smhdw])$"  # compiled (and cached by re) on first use
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SINCE_HELP = "Only entries at or after WHEN: an ISO date/time (UTC if no zone) or a duration ago: 90s, 30m, 2h, 7d, 1w."
LIMIT_HELP = "At most N entries, newest first."


def parse_since(value: str, now: float | None = None) -> float:
    """``2h``, ``30m``, ``7d``, ``90s``, ``1w`` (that long ago) or an ISO date/time (UTC if
    no zone), as epoch seconds. ``ValueError`` with a one-line message otherwise."""
    text = value.strip()
    match = re.match(_DURATION, text)
    if match:
        return (time.time() if now is None else now) - float(match[1]) * _UNIT_SECONDS[match[2]]
    moment = timestamp_of(text)
    if moment is None:
        raise ValueError(f"expected an ISO date/time or a duration such as 30m, 1h, 2d; got {value!r}")
    return moment


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """``--since`` parsed: a bad value is one line naming the option, exit 2."""
    if value is None:
        return None
    try:
        return parse_since(value)
    except ValueError as exc:
        fail(f"--since: {exc}")


def history_options(*, limit: int | None = None, run: bool = False) -> Callable[[_F], _F]:
    """``--limit N`` (default ``limit``; None = all), ``--since WHEN`` (epoch seconds in the
    function, or None) and, with ``run``, ``--run RUN`` (a run id or unique prefix)."""

    def decorate(function: _F) -> _F:
        if run:
            function = click.option("--run", "run_filter", metavar="RUN", help="Only entries of this run (an id or a unique prefix).")(function)
        function = click.option("--since", callback=_since, metavar="WHEN", help=SINCE_HELP)(function)
        return click.option("--limit", type=click.IntRange(min=1), default=limit, show_default=limit is not None, metavar="N", help=LIMIT_HELP)(function)

    return decorate


def timestamp_of(value: Any) -> float | None:
    """Epoch seconds of a row's time (a number or an ISO string), None if there is none."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        from datetime import UTC, datetime

        try:
            moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        except ValueError:
            return None
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return None


def newest_first(rows: Iterable[dict[str, Any]], *, key: str = "at", since: float | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """The rows sorted newest first by ``row[key]``, those before ``since`` dropped (a row
    without a readable time is kept: better shown than hidden), at most ``limit``."""
    keyed = [(timestamp_of(r.get(key)), i, r) for i, r in enumerate(rows)]
    if since is not None:
        keyed = [k for k in keyed if k[0] is None or k[0] >= since]
    # equal times keep their recorded order reversed (the later-recorded first)
    keyed.sort(key=lambda k: (k[0] if k[0] is not None else float("-inf"), k[1]), reverse=True)
    out = [r for _t, _i, r in keyed]
    return out[:limit] if limit else out


# -- colour -------------------------------------------------------------------------------

#: set by the ``--no-color`` global option
_disabled_by_option = False

_STATE_COLOURS = {
    # what stops, refuses or failed: red
    "CLOSED": "red", "ENGAGED": "red", "BLOCKED": "red", "FAIL": "red", "FAILED": "red", "REFUSED": "red",
    "STOPPED": "red", "NOT ALLOWED": "red", "NOT HEALTHY": "red", "READ-ONLY NOT VERIFIED": "red",
    "[FAIL]": "red", "[fail]": "red",
    # what is fine: green
    "OK": "green", "PASSED": "green", "RELEASED": "green", "HEALTHY": "green", "[ ok ]": "green", "[met ]": "green",
    # worth a look: yellow
    "WARN": "yellow", "WARNING": "yellow", "[warn]": "yellow", "[OPEN]": "yellow",
}


@functools.cache
def _state_words() -> re.Pattern[str]:
    """Built when colour is first painted: every command imports this module."""
    return re.compile(
        "|".join(
            re.escape(w) if w.startswith("[") else rf"(?<![\w-]){re.escape(w)}(?![\w-])"
            for w in sorted(_STATE_COLOURS, key=len, reverse=True)  # NOT HEALTHY before HEALTHY
        )
    )


def disable_colour() -> None:
    global _disabled_by_option
    _disabled_by_option = True


def colour_enabled(stream: Any = None) -> bool:
    """``--no-color`` or a non-empty ``NO_COLOR`` turn colour off; else a non-empty
    ``FORCE_COLOR`` (not ``0``) turns it on; else colour only on a terminal."""
    if _disabled_by_option or os.environ.get("NO_COLOR"):
        return False
    force = os.environ.get("FORCE_COLOR")
    if force and force != "0":
        return True
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def paint(text: str, enabled: bool | None = None) -> str:
    """``text`` with every upper-case state word coloured (unchanged when colour is off)."""
    if not (colour_enabled() if enabled is None else enabled):
        return text
    return _state_words().sub(lambda m: click.style(m[0], fg=_STATE_COLOURS[m[0]], bold=True), text)


def echo(text: str = "", err: bool = False) -> None:
    """``click.echo`` with the state words coloured when colour is on for that stream."""
    on = colour_enabled(sys.stderr if err else sys.stdout)
    click.echo(paint(text, on), err=err, color=on)
