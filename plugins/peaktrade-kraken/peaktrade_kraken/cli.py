"""``peaktrade kraken …``: the loopback Kraken for offline rehearsals."""

from __future__ import annotations

import os
from typing import Any, NoReturn

import click

from peaktrade_core.plugin_api import json_option

KEY_ENV = "PEAK_TRADE_KRAKEN_API_KEY"
SECRET_ENV = "PEAK_TRADE_KRAKEN_API_SECRET"


def fail(line: str) -> NoReturn:
    """A user mistake: one line on stderr, exit code 2 (as the core's commands do)."""
    click.echo(line, err=True)
    raise SystemExit(2)


@click.group("kraken")
def kraken() -> None:
    """Kraken venue tools."""


@kraken.command("simulate")
@click.option("--port", type=int, default=8765, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--price", "prices", multiple=True, metavar="SYMBOL=PRICE", help="Last price of a pair, e.g. BTC/EUR=50000 (repeatable).")
@click.option("--status", type=click.Choice(["online", "maintenance", "cancel_only", "post_only"]), default="online", show_default=True)
@json_option
def simulate(port: int, prices: tuple[str, ...], status: str, as_json: bool) -> None:
    """Run a loopback Kraken on 127.0.0.1 until Ctrl-C.

    It takes the API key and secret from $PEAK_TRADE_KRAKEN_API_KEY and
    $PEAK_TRADE_KRAKEN_API_SECRET when set (so the config's references work unchanged in
    both terminals); otherwise it makes up a throw-away pair and prints the lines to export.
    With --json: one JSON object per line, one when it listens and one when it stops.
    """
    import threading

    from peaktrade_kraken.testing import PAIRS, LoopbackKraken, _symbol

    by_symbol = {_symbol(k): k for k in PAIRS}
    parsed: dict[str, float] = {}
    for item in prices:
        symbol, _, value = item.partition("=")
        try:
            parsed[by_symbol[symbol.strip()]] = float(value)
        except (KeyError, ValueError):
            fail(f"--price {item!r}: expected SYMBOL=PRICE with SYMBOL one of {', '.join(sorted(by_symbol))}")
    key, secret = os.environ.get(KEY_ENV), os.environ.get(SECRET_ENV)
    made_up = not (key and secret)
    try:
        server = LoopbackKraken(key if not made_up else None, secret if not made_up else None, port=port, prices=parsed).start()
    except OSError as exc:
        fail(f"--port {port}: cannot listen on 127.0.0.1:{port}: {exc.strerror}")
    server.status = status
    if as_json:
        _json_line({"event": "listening", "url": server.url, "status": status,
                    "credentials": "made up" if made_up else "environment",
                    "env": {KEY_ENV: server.api_key, SECRET_ENV: server.api_secret} if made_up else {}})
    else:
        _announce(server, status, made_up)
    stop = threading.Event()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if as_json:
            _json_line({"event": "stopped", "requests": server.requests, "orders": len(server.orders()), "validated": server.validated})
        else:
            click.echo(f"stopped after {server.requests} request(s); {len(server.orders())} order(s) placed, {server.validated} validated")


def _json_line(data: dict[str, Any]) -> None:
    """One JSON object on one line, flushed (a reader sees it while the simulator runs)."""
    import json  # imported when a line is written: registering the command needs none

    click.echo(json.dumps(data, allow_nan=False))


def _announce(server: Any, status: str, made_up: bool) -> None:
    click.echo(f"loopback Kraken listening on {server.url}  (status {status}; Ctrl-C stops it)")
    if made_up:
        click.echo("throw-away loopback credentials (valid for this simulator only); in the session's terminal:")
        click.echo(f"  export {KEY_ENV}={server.api_key}")
        click.echo(f"  export {SECRET_ENV}={server.api_secret}")
    else:
        click.echo(f"credentials: from ${KEY_ENV} / ${SECRET_ENV}")
    click.echo("config:  [plugins.kraken] base_url = \"" + server.url + "\"")


def register(cli: Any) -> None:
    cli.add_command(kraken)
