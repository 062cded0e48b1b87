"""Building a client: never touches the network, keeps testnet away from production hosts,
moves every API URL where the config says, and refuses what it cannot honour in one line."""

from __future__ import annotations

import pytest
from peaktrade_core.plugin_api import SecretRef, VenueError, redact

from peaktrade_ccxt.client import _hosts, build_client
from peaktrade_ccxt.settings import CcxtSettings


@pytest.mark.parametrize("sandbox_urls", ["https://api.binance.com", {"private": "https://api.binance.com/api/v3"}], ids=["url", "table"])
def test_a_sandbox_url_on_a_production_host_is_refused(sandbox_urls):
    """A testnet client would say "testnet" while placing real orders: fail closed."""
    with pytest.raises(VenueError, match="api.binance.com is a production host of binance: refused in testnet mode"):
        build_client("ccxt:binance", "testnet", CcxtSettings(sandbox_urls=sandbox_urls))


def test_one_url_moves_every_api_url_of_the_exchange_to_it():
    live = build_client("ccxt:binance", "live", CcxtSettings(urls="http://127.0.0.1:9"))
    assert _hosts(live.exchange.urls["api"]) == {"127.0.0.1:9"}  # spot, sapi, futures: all of them
    assert live.endpoint == "http://127.0.0.1:9/api/v3" and live.testnet is False

    sandbox = build_client("ccxt:binance", "testnet", CcxtSettings(urls="http://127.0.0.1:9", sandbox_urls="http://127.0.0.1:10"))
    assert _hosts(sandbox.exchange.urls["api"]) == {"127.0.0.1:10"} and sandbox.testnet is True
    assert build_client("ccxt:binance", "testnet", CcxtSettings()).endpoint == "https://testnet.binance.vision/api/v3"


def test_a_table_merges_key_by_key():
    client = build_client("ccxt:binance", "live", CcxtSettings(urls={"public": "http://127.0.0.1:9/api/v3"}))
    assert client.exchange.urls["api"]["public"] == "http://127.0.0.1:9/api/v3"
    assert client.exchange.urls["api"]["private"] == "https://api.binance.com/api/v3"


@pytest.mark.parametrize(("venue", "mode", "message"), [
    ("ccxt:nosuchexchange", "live", "knows no exchange 'nosuchexchange'"),
    ("ccxt:binance", "paper", "mode 'paper' never gets a venue client"),
    ("ccxt:bitstamp", "testnet", "ccxt has no sandbox for bitstamp: testnet mode is refused"),
])
def test_what_cannot_be_built_is_one_line(venue, mode, message):
    with pytest.raises(VenueError, match=message) as refused:
        build_client(venue, mode, CcxtSettings())
    assert "\n" not in str(refused.value)


def test_credentials_are_redacted_and_never_shown(monkeypatch):
    monkeypatch.setenv("PT_KEY", "k3y" * 20)
    monkeypatch.setenv("PT_SECRET", "s3cr3t" * 10)
    client = build_client("ccxt:binance", "live", CcxtSettings(api_key=SecretRef(env="PT_KEY"), api_secret=SecretRef(env="PT_SECRET")))
    assert "k3y" not in repr(client) and "s3cr3t" not in repr(client)
    assert "s3cr3t" not in redact(f"signed with {'s3cr3t' * 10}")  # registered for every log line


def test_a_bad_setting_is_one_line_naming_the_key(tmp_path):
    from peaktrade_core.plugin_api import ConfigError
    from peaktrade_core.testing import load_config

    (tmp_path / "config.toml").write_text('[plugins.ccxt]\ntimeout_seconds = 0\n')
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path / "config.toml", plugin_sections={"ccxt": CcxtSettings})
    [line] = refused.value.lines
    assert "plugins.ccxt" in line and "timeout_seconds: must be > 0" in line, line


@pytest.mark.parametrize(("value", "mode", "step"), [
    (0.01, "TICK_SIZE", 0.01),
    ("0.00001", "TICK_SIZE", 0.00001),
    (2, "DECIMAL_PLACES", 0.01),  # ccxt 4.2 describes binance's BTC/EUR tick this way
    (5.0, "DECIMAL_PLACES", 0.00001),
    (4, "SIGNIFICANT_DIGITS", None),  # no fixed grid: no rule rather than a wrong one
    (None, "TICK_SIZE", None),
])
def test_precision_becomes_a_step_in_every_precision_mode(value, mode, step):
    import ccxt

    from peaktrade_ccxt.client import _step

    assert _step(value, getattr(ccxt, mode)) == step
