"""Binance's request signature for ``SIGNED`` endpoints (HMAC keys).

Binance signs the *total params*: the query string followed directly by the request body,
both exactly as they are sent. The signature is the lowercase hex HMAC-SHA256 of that text
with the API secret as the key, and it is sent as one more parameter, ``signature``, at the
end of the query string or the body. Anything that changes the bytes after signing (another
encoder, re-ordered parameters) invalidates it, so :func:`encode` is the one place that
turns parameters into text, and the client sends exactly that text.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote


def encode(params: Mapping[str, object]) -> str:
    """``key=value&...`` in the given order, values percent-encoded (RFC 3986), ``None``
    values left out."""
    return "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items() if v is not None)


def signature(secret: str, query_string: str = "", body: str = "") -> str:
    """The ``signature`` for a request whose query string and body are these, as sent."""
    return hmac.new(secret.encode(), (query_string + body).encode(), hashlib.sha256).hexdigest()


def signed(secret: str, params: Mapping[str, object]) -> str:
    """``params`` encoded with their signature appended: a query string or form body."""
    text = encode(params)
    return f"{text}&signature={signature(secret, text)}"
