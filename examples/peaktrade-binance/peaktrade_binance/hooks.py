"""The plugin the entry point names (``binance = peaktrade_binance.hooks:BinancePlugin``).

Imported at every ``peaktrade`` start, so it imports nothing but the hook marker: the
settings class, httpx and the client are imported when a hook first needs them.
"""

from __future__ import annotations

from typing import Any

from peaktrade_core.plugin_api import hookimpl

VENUE = "binance"


class BinancePlugin:
    """Serves the venue ``binance``: ``[environment] exchange = "binance"``."""

    @hookimpl
    def config_sections(self) -> dict[str, type]:
        from peaktrade_binance.settings import BinanceSettings

        return {VENUE: BinanceSettings}

    @hookimpl
    def exchange_venues(self) -> list[str]:
        return [VENUE]

    @hookimpl
    def create_exchange_client(self, venue: str, mode: Any, settings: Any) -> Any:
        """The client for ``mode``: live -> production keys and URL; testnet -> the test
        network's keys and URL, orders placed there, or only validated with
        ``validate_only = true``. Builds, never connects: the core builds clients for
        ``status`` and ``kill`` too."""
        if venue != VENUE:
            return None
        from peaktrade_binance.client import BinanceClient
        from peaktrade_binance.settings import BinanceSettings
        from peaktrade_core.plugin_api import TradingMode, register_secret

        settings = settings if isinstance(settings, BinanceSettings) else BinanceSettings()
        testnet = TradingMode(mode) is TradingMode.TESTNET
        key_ref, secret_ref = (
            (settings.testnet_api_key, settings.testnet_api_secret) if testnet else (settings.api_key, settings.api_secret)
        )
        key, secret = key_ref.resolve(), secret_ref.resolve()
        for value in (key, secret):
            register_secret(value)  # redacted from every log line from now on
        return BinanceClient(
            settings.testnet_base_url if testnet else settings.base_url,
            key,
            secret,
            testnet=testnet,
            validate_only=testnet and settings.validate_only,
            recv_window_ms=settings.recv_window_ms,
            timeout_seconds=settings.timeout_seconds,
            connect_timeout_seconds=settings.connect_timeout_seconds,
            weight_limit=settings.weight_limit_per_minute,
            slow_down_at=settings.slow_down_at,
            max_wait_seconds=settings.max_wait_seconds,
            quote_asset=settings.quote_asset,
        )

    @hookimpl
    def open_market_feed(self, venue: str, symbols: Any, settings: Any) -> Any:
        """The public book ticker of ``symbols`` from the production API, polled: no key,
        nothing signed, nothing sent."""
        if venue != VENUE:
            return None
        from peaktrade_binance.client import BinanceClient
        from peaktrade_binance.settings import BinanceSettings
        from peaktrade_core.plugin_api import PollingFeed

        settings = settings if isinstance(settings, BinanceSettings) else BinanceSettings()
        client = BinanceClient(
            settings.base_url, "", "", timeout_seconds=settings.timeout_seconds,
            connect_timeout_seconds=settings.connect_timeout_seconds, quote_asset=settings.quote_asset,
        )
        return PollingFeed(f"{VENUE}:bookTicker", client.quotes, symbols, interval=settings.feed_interval_seconds,
                           on_close=client.close)

    @hookimpl
    def register_commands(self, cli: Any) -> None:
        """``peaktrade binance simulate``: the loopback Binance for rehearsals."""
        import click

        from peaktrade_core.plugin_api import json_option

        @cli.group("binance")
        def binance() -> None:
            """The Binance Spot adapter's tools."""

        @binance.command("simulate")
        @click.option("--port", type=int, default=8790, show_default=True, help="Port on 127.0.0.1 (0: any free one).")
        @json_option
        def simulate(port: int, as_json: bool) -> None:
            """Run a loopback Binance on 127.0.0.1 until Ctrl-C: point [plugins.binance] at it
            and rehearse testnet sessions, `peaktrade exchange ...` and the kill switch offline.
            Its keys are made up for this run; it never reaches Binance. With --json: one
            JSON object per line, one when it listens and one when it stops."""
            import contextlib
            import json
            import signal
            import threading

            from peaktrade_binance.testing import LoopbackBinance

            signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly either way
            with LoopbackBinance(port=port) as fake:
                if as_json:  # one object per line, flushed: readable while it runs
                    keys = {f"{p}_{k}": v for p in ("BINANCE", "BINANCE_TESTNET") for k, v in (("API_KEY", fake.api_key), ("API_SECRET", fake.api_secret))}
                    click.echo(json.dumps({"event": "listening", "url": fake.url, "env": keys}))
                else:
                    click.echo(f"loopback Binance on {fake.url} (Ctrl-C stops it); in your config:\n")
                    click.echo(f'[plugins.binance]\nbase_url = "{fake.url}"\ntestnet_base_url = "{fake.url}"\n')
                    click.echo("and in the environment of peaktrade (keys of this run only):\n")
                    for prefix in ("BINANCE", "BINANCE_TESTNET"):
                        click.echo(f"export {prefix}_API_KEY={fake.api_key} {prefix}_API_SECRET={fake.api_secret}")
                    click.echo("", nl=True)
                with contextlib.suppress(KeyboardInterrupt):
                    threading.Event().wait()
            held = fake.orders()
            if as_json:
                click.echo(json.dumps({"event": "stopped", "requests": fake.requests, "orders": len(held),
                                       "open": sum(o["status"] == "open" for o in held)}))
                return
            click.echo(f"stopped: {fake.requests} request(s), {len(held)} order(s) held, "
                       f"{sum(o['status'] == 'open' for o in held)} open")

