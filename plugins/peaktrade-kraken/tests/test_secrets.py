"""No API key, secret, nonce or signature in any error or log line — even when the venue
echoes the whole request back in its error."""

from __future__ import annotations

import uuid

import pytest
from peaktrade_kraken.plugin import KrakenSettings
from peaktrade_kraken.testing import loopback_settings

from peaktrade_core.plugin_api import ConfigError, ExchangeError, OrderRequest
from peaktrade_core.testing import captured, load_config


def leaked(kraken, text):
    """The secret things of every request the loopback received that appear in ``text``."""
    found = set()
    for request in kraken.received:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        things = {"api key": kraken.api_key, "secret": kraken.api_secret, "signature": headers.get("api-sign")}
        if "nonce=" in request["body"]:
            things["nonce"] = request["body"].split("nonce=", 1)[1].split("&", 1)[0]
            things["body"] = request["body"]
        found |= {name for name, value in things.items() if value and value in text}
    return found


@pytest.mark.parametrize(("fault", "endpoint"), [("echo", "Balance"), ("echo", "AddOrder"), ("5xx_before", "AddOrder"), ("5xx", "AddOrder")])
def test_an_echoed_request_is_scrubbed_from_errors_and_logs(kraken, make_client, fault, endpoint):
    client = make_client()
    kraken.fail_next(fault, endpoint)
    with captured("DEBUG") as lines, pytest.raises(ExchangeError) as failure:
        if endpoint == "Balance":
            client.fetch_balances()
        else:
            client.submit_order(OrderRequest("BTC/EUR", "buy", 0.01, client_order_id=uuid.uuid4().hex))
    echoed = kraken.received[-1]
    assert "api-sign" in {k.lower() for k in echoed["headers"]}  # the loopback did see them
    text = "\n".join([str(failure.value), repr(failure.value), *lines])
    assert leaked(kraken, text) == set(), text
    assert "***" in str(failure.value) or fault == "5xx"  # the echo was there, and is gone


def test_a_whole_client_life_logs_no_secret(kraken, make_client):
    with captured("DEBUG") as lines:
        client = make_client()
        client.ping()
        client.fetch_balances()
        order = OrderRequest("BTC/EUR", "buy", 0.01, "limit", limit_price=1000.0, client_order_id=uuid.uuid4().hex)
        client.submit_order(order)
        client.fetch_order(order.client_order_id, "BTC/EUR")
        client.arm_dead_man_switch(60)
        kraken.fail_next("invalid_nonce", "OpenOrders")
        client.fetch_open_orders()
        client.cancel_all()
        client.disarm_dead_man_switch()
    assert any("AddOrder" in line for line in lines)
    assert leaked(kraken, "\n".join(lines)) == set()


def test_settings_take_references_never_literal_secrets(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[plugins.kraken]\napi_key = "abc"\napi_secret = { env = "X" }\n')
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert any("plugins.kraken.api_key" in line for line in refused.value.lines)
    assert "abc" not in str(refused.value)
    path.write_text('[plugins.kraken]\nbase_url = "http://127.0.0.1:1"\napi_key = { env = "K" }\napi_secret = { env = "S" }\n')
    settings = load_config(path).plugins["kraken"]
    assert isinstance(settings, KrakenSettings) and settings.api_key.env == "K"
    assert "K" in repr(settings.api_key) and settings == loopback_settings("http://127.0.0.1:1", api_key=settings.api_key, api_secret=settings.api_secret, timeout_seconds=10.0, connect_timeout_seconds=5.0, status_check_seconds=15.0, rate_limit_max=15.0, rate_limit_decay_per_second=0.33)


@pytest.mark.parametrize("url", ["http://example.com", "https://user:pw@api.kraken.com", "ftp://x"])
def test_base_url_must_be_https_or_this_machine(tmp_path, url):
    path = tmp_path / "c.toml"
    path.write_text(f'[plugins.kraken]\nbase_url = "{url}"\n')
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    [line] = refused.value.lines
    assert line.startswith(f"{path}: plugins.kraken") and "base_url" in line


def test_the_config_in_the_operators_guide_loads(tmp_path, monkeypatch):
    """docs/kraken.md's config block is a valid config with this plugin."""
    from pathlib import Path

    guide = Path(__file__).resolve().parents[3] / "docs" / "kraken.md"
    if not guide.is_file():
        pytest.skip("not run from the repository")
    block = guide.read_text().split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "c.toml"
    path.write_text(block)
    config = load_config(path)
    assert config.environment.exchange == "kraken"
    assert isinstance(config.plugins["kraken"], KrakenSettings) and config.plugins["kraken"].api_key.env == "PEAK_TRADE_KRAKEN_API_KEY"
