"""The signature is Binance's, proven on the worked examples of Binance's API documentation
("SIGNED endpoint examples for POST /api/v3/order", HMAC keys)."""

from hypothesis import given
from hypothesis import strategies as st
from peaktrade_binance.signing import encode, signature, signed

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
EXAMPLE = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"


def test_all_parameters_in_the_query_string_or_in_the_body():
    assert signature(SECRET, EXAMPLE) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    assert signature(SECRET, body=EXAMPLE) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_mixed_query_string_and_body_are_signed_as_one_text():
    query, body = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC", "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    assert signature(SECRET, query, body) == "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"


def test_encoding_the_documented_parameters_gives_the_documented_text_and_signature():
    params = {"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
              "price": "0.1", "recvWindow": 5000, "timestamp": 1499827319559}
    assert encode(params) == EXAMPLE
    assert signed(SECRET, params) == EXAMPLE + "&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


@given(st.dictionaries(st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=12), st.text(max_size=20), max_size=6))
def test_any_change_to_what_is_sent_changes_the_signature(params):
    text = encode({**params, "timestamp": 1})
    changed = encode({**params, "timestamp": 2})
    assert "&" not in "".join(v for k, v in (p.split("=", 1) for p in text.split("&")))  # values cannot forge a parameter
    assert signature(SECRET, text) != signature(SECRET, changed)
