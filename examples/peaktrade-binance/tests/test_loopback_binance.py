"""The loopback Binance speaks Binance's protocol: it accepts the signed requests of
Binance's own documentation and refuses what Binance refuses, with Binance's error codes."""

import hashlib
import hmac
import json
import urllib.error
import urllib.request

import pytest
from peaktrade_binance.testing import LoopbackBinance

# Binance's documented example (Spot API docs, "SIGNED endpoint examples for POST /api/v3/order")
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_TIMESTAMP = 1499827319559
LTCBTC = {"LTCBTC": ("LTC", "BTC", "0.10000000", "0.000001", "0.01", "0.01", "0.0001")}


def send(fake, method, path, query="", body="", key=None):
    """One raw HTTP request: ``(status, JSON answer, headers)``."""
    url = fake.url + path + ("?" + query if query else "")
    headers = {"X-MBX-APIKEY": fake.api_key if key is None else key}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=body.encode() or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read()), answer.headers
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, json.loads(body) if body.startswith(b"{") else body.decode(), exc.headers


def signed(fake, params, secret=None):
    query = "&".join(f"{k}={v}" for k, v in {**params, "timestamp": fake.server_time_ms()}.items())
    signature = hmac.new((secret or fake.api_secret).encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


@pytest.fixture
def doc_binance():
    """The fake with the documentation's key, its market, and its clock at the example's time."""
    at_the_example = (DOC_TIMESTAMP + 100) / 1000
    with LoopbackBinance(api_key=DOC_KEY, api_secret=DOC_SECRET, markets=LTCBTC, balances={"BTC": "10"}, clock=lambda: at_the_example) as fake:
        yield fake


@pytest.mark.parametrize(
    "query, body",
    [
        # example 1: everything in the query string
        ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
         "&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71", ""),
        # example 2: everything in the body
        ("", "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
         "&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"),
        # example 3: mixed; the signature covers query string + body, concatenated as sent
        ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
         "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
         "&signature=0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"),
    ],
    ids=["query", "body", "mixed"],
)
def test_accepts_binance_documented_signed_requests(doc_binance, query, body):
    status, answer, _ = send(doc_binance, "POST", "/api/v3/order", query, body)
    assert status == 200, answer
    assert answer["status"] == "FILLED" and answer["fills"][0]["qty"] == "1.00000000"
    assert doc_binance.calls[-1]["signature_valid"] is True
    assert len(doc_binance.orders()) == 1


def test_documented_request_with_one_byte_changed_is_refused(doc_binance):
    query = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=2&price=0.1&recvWindow=5000&timestamp=1499827319559"
             "&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
    status, answer, _ = send(doc_binance, "POST", "/api/v3/order", query)
    assert (status, answer["code"]) == (400, -1022)
    assert doc_binance.orders() == []


def test_documented_request_replayed_later_is_outside_the_recv_window(doc_binance):
    doc_binance.clock_offset += 6.0  # the same request, six seconds later
    query = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
             "&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
    status, answer, _ = send(doc_binance, "POST", "/api/v3/order", query)
    assert (status, answer["code"]) == (400, -1021)
    assert doc_binance.orders() == []


def test_key_signature_and_client_order_id_checks():
    with LoopbackBinance() as fake:
        assert send(fake, "GET", "/api/v3/account", signed(fake, {}), key="nope")[1]["code"] == -2015
        assert send(fake, "GET", "/api/v3/account", signed(fake, {}, secret="wrong"))[1]["code"] == -1022
        status, account, headers = send(fake, "GET", "/api/v3/account", signed(fake, {}))
        assert status == 200 and {b["asset"] for b in account["balances"]} == {"BTC", "ETH", "EUR"}
        assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= 20

        order = {"symbol": "BTCEUR", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
                 "price": "1000.00", "newClientOrderId": "0123456789abcdef0123456789abcdef"}
        assert send(fake, "POST", "/api/v3/order", body=signed(fake, order))[0] == 200
        status, answer, _ = send(fake, "POST", "/api/v3/order", body=signed(fake, order))
        assert (status, answer["code"], answer["msg"]) == (400, -2010, "Duplicate order sent.")
        assert [o["status"] for o in fake.orders()] == ["open"]


def test_order_test_validates_against_the_filters_and_places_nothing():
    with LoopbackBinance() as fake:
        good = {"symbol": "BTCEUR", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "1000.00"}
        assert send(fake, "POST", "/api/v3/order/test", body=signed(fake, good))[:2] == (200, {})
        for bad, failed in [({"price": "1000.005"}, "PRICE_FILTER"), ({"quantity": "0.000015"}, "LOT_SIZE"),
                            ({"quantity": "0.001", "price": "1.00"}, "NOTIONAL")]:
            status, answer, _ = send(fake, "POST", "/api/v3/order/test", body=signed(fake, {**good, **bad}))
            assert (status, answer["code"], answer["msg"]) == (400, -1013, f"Filter failure: {failed}")
        assert fake.orders() == []


def test_exchange_info_has_full_symbol_entries():
    with LoopbackBinance() as fake:
        status, info, _ = send(fake, "GET", "/api/v3/exchangeInfo", "symbol=BTCEUR")
        [entry] = info["symbols"]
        assert (entry["status"], entry["baseAsset"], entry["quoteAsset"], entry["permissions"]) == ("TRADING", "BTC", "EUR", ["SPOT"])
        filters = {f["filterType"]: f for f in entry["filters"]}
        assert filters["PRICE_FILTER"]["tickSize"] == "0.01" and filters["LOT_SIZE"]["stepSize"] == "0.00001"
        assert filters["NOTIONAL"]["minNotional"] == "5.00"
        assert send(fake, "GET", "/api/v3/exchangeInfo", "symbol=NOPE")[1]["code"] == -1121


@pytest.mark.parametrize("kind, status", [("rate_limit", 429), ("ip_ban", 418), ("5xx_not_placed", 502)])
def test_faults_that_place_nothing(kind, status):
    with LoopbackBinance(retry_after_seconds=7) as fake:
        fake.fail_next(kind)
        order = {"symbol": "BTCEUR", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
        answer_status, answer, headers = send(fake, "POST", "/api/v3/order", body=signed(fake, order))
        assert answer_status == status and fake.orders() == []
        if status == 502:
            assert "Bad Gateway" in answer  # from a gateway, not JSON
        else:
            assert answer["code"] == -1003 and headers["Retry-After"] == "7"
        assert send(fake, "POST", "/api/v3/order", body=signed(fake, order))[0] == 200  # one fault only


def test_5xx_after_placing_is_an_unknown_status_the_order_stands():
    with LoopbackBinance() as fake:
        fake.fail_next("5xx")
        order = {"symbol": "BTCEUR", "side": "BUY", "type": "MARKET", "quantity": "0.01", "newClientOrderId": "x1"}
        status, answer, _ = send(fake, "POST", "/api/v3/order", body=signed(fake, order))
        assert (status, answer["code"]) == (503, -1007)  # "execution status unknown"
        assert [(o["client_order_id"], o["status"]) for o in fake.orders()] == [("x1", "filled")]


def test_request_weight_limit_is_enforced():
    with LoopbackBinance(weight_limit=45, clock=lambda: 1_700_000_010.0) as fake:  # one minute throughout
        weights = [int(send(fake, "GET", "/api/v3/exchangeInfo")[2]["X-MBX-USED-WEIGHT-1M"]) for _ in range(2)]
        assert weights == [20, 40]
        status, answer, headers = send(fake, "GET", "/api/v3/exchangeInfo")
        assert (status, answer["code"]) == (429, -1003) and int(headers["Retry-After"]) > 0
